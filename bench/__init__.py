"""Benchmarks (`make bench`): figures, not tests. Each bench/b_*.py exposes run() -> dict of figures."""
