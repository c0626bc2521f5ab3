"""Use cases and the ports they need. Free of FastAPI, boto3 and pynamodb: adapters plug in from outside."""
