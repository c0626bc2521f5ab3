"""The local stack: moto for the AWS APIs, the same app under uvicorn, data kept across restarts."""
