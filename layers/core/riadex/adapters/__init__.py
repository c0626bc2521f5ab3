"""Adapters: the ports of riadex.application implemented against real services."""
