"""Riadex and LangGraph's API server, measured side by side (`make bench-peers`; see __main__.py)."""
