"""Name -> generator registry for the built-in data sets, and atomic ``.npz`` saving."""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from ..atomic import atomic_write

from .antiderivative import antiderivative
from .burgers import burgers
from .darcy import darcy

DataGenerator = Callable[..., dict[str, np.ndarray]]

GENERATORS: dict[str, DataGenerator] = {
    "burgers": burgers,
    "darcy": darcy,
    "antiderivative": antiderivative,
}


def generate(name: str, **kwargs: object) -> dict[str, np.ndarray]:
    """Run the generator registered as ``name`` with ``kwargs``.

    Raises:
        ValueError: unknown ``name``; the message lists the known names and, when one is
            close, suggests it.
    """
    try:
        fn = GENERATORS[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(GENERATORS), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        known = ", ".join(sorted(GENERATORS))
        raise ValueError(f"unknown data generator {name!r}.{hint} Known: {known}.") from None
    return fn(**kwargs)


def save_npz(path: str | os.PathLike[str], data: Mapping[str, np.ndarray]) -> Path:
    """Write ``data`` to ``path`` as an uncompressed ``.npz``, atomically.

    The arrays go to a temporary file in the destination directory (same file system), which
    is flushed, fsync'ed and then renamed over ``path`` with ``os.replace``: readers see either
    the old file or the complete new one, never a partial write.
    """
    # A file object (not a name) stops numpy from appending ".npz" to the temp name.
    arrays = {key: np.asarray(value) for key, value in data.items()}
    return atomic_write(path, lambda fh: np.savez(fh, **arrays))


def load_npz(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Read a file written by ``save_npz`` back into a dict of arrays."""
    with np.load(path, allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files}
