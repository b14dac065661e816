"""Test configuration: strict dtype promotion (no silent float64 or mixed-precision upcasts)."""

from __future__ import annotations

from pathlib import Path

import jax
import pytest

jax.config.update("jax_numpy_dtype_promotion", "strict")

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"


@pytest.fixture
def specs_dir() -> Path:
    return SPECS


def max_rel_err(a, b) -> float:
    """max |a - b| / max |b|: the relative error the issues quote (float32 target 1e-5)."""
    import numpy as np

    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))
