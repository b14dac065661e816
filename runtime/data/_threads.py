"""Thread-count default shared by the generators (their heavy numpy/scipy calls release the GIL)."""

from __future__ import annotations

import os


def default_workers(workers: int | None) -> int:
    """Thread count: ``workers`` if given, else ``min(4, os.cpu_count())``."""
    if workers is not None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        return workers
    return max(1, min(4, os.cpu_count() or 1))
