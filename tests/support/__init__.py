"""Test servers and helpers shared by the suites (fake provider APIs speaking the real wire formats)."""
