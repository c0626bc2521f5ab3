"""Clients of the sandbox tool server (shell, file, browser) and the schemas handed to the LLM."""
