"""Rewrite passes over the graph IR, one per file, and the pass manager."""
