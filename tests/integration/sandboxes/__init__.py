"""Sandbox backends, lifecycle, views and uploads against the real tool server."""
