"""Entities, statuses and rules. No I/O and no framework imports (an import-linter contract checks)."""
