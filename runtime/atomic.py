"""Atomic file writes: a reader (or a crash) sees the old file or the whole new one.

Everything catspec writes for keeps (checkpoints, data sets, formatted specs,
metrics) goes through here: write to a temp file in the target's directory
(same file system), flush and fsync, then ``os.replace`` it over the target.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def atomic_write(path: str | os.PathLike[str], write: Callable[[Any], None],
                 mode: str = "wb") -> Path:
    """Call ``write(file)`` on a temp file next to ``path``, then rename it over ``path``."""
    path = Path(path)
    if path.is_dir():
        from ..errors import UsageError

        raise UsageError(f"`{path}` is a directory; give a file name")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as err:  # a parent that is a file, a read-only or special directory
        from ..errors import UsageError

        blocker = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
        why = f"`{blocker}` is a file, not a directory" if blocker else (err.strerror or err)
        raise UsageError(f"cannot write `{path}`: {why}") from None
    # mkstemp makes the file private (0600); give it the mode a plain open() would, or
    # keep the mode of the file it replaces.
    try:
        mode_bits = path.stat().st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        mode_bits = 0o666 & ~umask
    os.chmod(tmp, mode_bits)
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """``atomic_write`` of a UTF-8 text."""
    return atomic_write(path, lambda fh: fh.write(text), mode="w")
