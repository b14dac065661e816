"""Built-in data generators (no downloads)."""
