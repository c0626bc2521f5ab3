"""The object store (S3; moto locally)."""
