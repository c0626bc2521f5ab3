"""Riadex: a serverless backend for AI agents."""

__version__ = "0.1.0"
