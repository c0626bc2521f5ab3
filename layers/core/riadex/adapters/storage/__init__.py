"""The object store (S3) for what is too large for an event."""
