"""Back ends: lowering the graph IR to executable code (JAX today)."""
