"""Runtime: training loop, checkpoints and built-in data generators."""
