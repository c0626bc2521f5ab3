"""Chat model adapters: each SDK is imported only by the module that speaks to it."""
