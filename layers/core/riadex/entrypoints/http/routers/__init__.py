"""One router per resource, each a thin call into a use case."""
