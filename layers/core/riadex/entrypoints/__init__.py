"""Entrypoints: the HTTP apps, the Lambda task handlers and the local stack."""
