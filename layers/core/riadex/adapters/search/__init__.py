"""Web search adapters, one module per API, all over httpx."""
