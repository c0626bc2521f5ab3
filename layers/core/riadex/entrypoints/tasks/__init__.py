"""Step Functions task handlers: each a thin call into the run use cases (functions/<name>/ wrap them)."""
