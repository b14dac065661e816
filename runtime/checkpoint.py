"""Atomic checkpoints of a training run: one ``.npz`` holding everything a resume needs.

Contents: the parameters (``params/<path>``), the optimizer state leaves
(``opt/<i>``, restored into the structure of a freshly initialised state), the
last finished epoch, the RNG key data, the normaliser statistics and, as JSON
text, the metrics history and the run's configuration. Values round-trip bit
for bit, which is what makes a resumed run identical to an uninterrupted one.

Writes go to a temporary file in the same directory, are flushed and fsync'ed,
then renamed over the target with ``os.replace``: a reader (or a crash) sees
the old checkpoint or the new one, never a partial file.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Mapping
from pathlib import Path

import jax
import numpy as np

from ..backends.jax.params import flatten, nest
from ..errors import InputError
from .atomic import atomic_write, atomic_write_text  # noqa: F401  (re-exported)

CHECKPOINT = "checkpoint.npz"


def _text(obj) -> np.ndarray:
    return np.frombuffer(json.dumps(obj).encode("utf-8"), dtype=np.uint8)


def _untext(arr: np.ndarray):
    return json.loads(arr.tobytes().decode("utf-8"))


def save(path: Path, *, params: dict, opt_state, epoch: int, key: jax.Array,
         history: list[dict], meta: dict, norm: Mapping[str, np.ndarray]) -> None:
    """Write a checkpoint atomically (see the module docstring for the layout)."""
    arrays: dict[str, np.ndarray] = {}
    for p, v in flatten(params).items():
        arrays[f"params/{p}"] = np.asarray(v)
    for i, leaf in enumerate(jax.tree_util.tree_leaves(opt_state)):
        arrays[f"opt/{i}"] = np.asarray(leaf)
    arrays["epoch"] = np.asarray(epoch, np.int64)
    arrays["key"] = np.asarray(jax.random.key_data(key))
    for k, v in norm.items():
        arrays[f"norm/{k}"] = np.asarray(v)
    arrays["history"] = _text(history)
    arrays["meta"] = _text(meta)
    atomic_write(path, lambda fh: np.savez(fh, **arrays))


def load(path: Path, params_like: dict, opt_state_like) -> dict:
    """Read a checkpoint into the structures of ``params_like`` and ``opt_state_like``.

    Returns a dict with ``params``, ``opt_state``, ``epoch``, ``key``, ``history``,
    ``meta`` and ``norm``. Raises ``InputError`` if the file does not fit the model.
    """
    arrays = _read(path, "no checkpoint `{path}` to resume from")
    got = _params_fitting(path, arrays, params_like)
    leaves, treedef = jax.tree_util.tree_flatten(opt_state_like)
    opt_leaves = [arrays.get(f"opt/{i}") for i in range(len(leaves))]
    if any(leaf is None for leaf in opt_leaves) or f"opt/{len(leaves)}" in arrays:
        raise InputError(f"checkpoint `{path}` holds a different optimizer state")
    return {
        "params": got,
        "opt_state": jax.tree_util.tree_unflatten(
            treedef, [jax.numpy.asarray(v) for v in opt_leaves]),
        "epoch": int(arrays["epoch"]),
        "key": jax.random.wrap_key_data(arrays["key"]),
        "history": _untext(arrays["history"]),
        "meta": _untext(arrays["meta"]),
        "norm": {k[len("norm/"):]: v for k, v in arrays.items() if k.startswith("norm/")},
    }


def read_trained(path: Path, params_like: dict) -> dict:
    """The trained part of a checkpoint: ``params`` (in the structure of ``params_like``, the
    layout of the spec as written), ``norm``, ``meta`` and ``epoch``; the optimizer state is
    not read."""
    arrays = _read(path, "no checkpoint `{path}`")
    return {"params": _params_fitting(path, arrays, params_like),
            "epoch": int(arrays["epoch"]) if "epoch" in arrays else 0,
            "norm": {k[len("norm/"):]: v for k, v in arrays.items() if k.startswith("norm/")},
            "meta": _untext(arrays["meta"]) if "meta" in arrays else {}}


def read_meta(path: Path, missing: str = "no checkpoint `{path}`") -> dict:
    """The run's metadata (model, spec, spec parameters, train config) from a checkpoint."""
    arrays = _read(path, missing, ("meta",))
    if "meta" not in arrays:
        raise InputError(f"checkpoint `{path}` has no run metadata")
    return _untext(arrays["meta"])


def read_epoch(path: Path) -> int:
    """The last finished epoch of a checkpoint (reads that entry alone)."""
    arrays = _read(path, "no checkpoint `{path}`", ("epoch",))
    if "epoch" not in arrays:
        raise InputError(f"checkpoint `{path}` has no epoch count")
    return int(arrays["epoch"])


def _read(path: Path, missing: str, keys: tuple[str, ...] | None = None
          ) -> dict[str, np.ndarray]:
    """The archive's arrays (only ``keys`` of them, those present, when given)."""
    try:
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.ndarray):  # a .npy array, not a checkpoint archive
            raise InputError(f"`{path}` holds one array, not a checkpoint: give a run "
                             "directory or its checkpoint.npz")
        with loaded as f:
            return {k: f[k] for k in f.files if keys is None or k in keys}
    except FileNotFoundError:
        raise InputError(missing.format(path=path)) from None
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
        # a truncated archive (a copy cut short) fails inside zipfile
        why = ("it is not a .npz archive" if "pickled" in str(err) else
               f"the archive is damaged or cut short ({err})"
               if isinstance(err, (zipfile.BadZipFile, EOFError)) else str(err))
        raise InputError(f"cannot read checkpoint `{path}`: {why}") from None


def _params_fitting(path: Path, arrays: dict[str, np.ndarray], params_like: dict) -> dict:
    """The checkpoint's parameters, checked slot by slot against ``params_like``."""
    want = flatten(params_like)
    got = {k[len("params/"):]: v for k, v in arrays.items() if k.startswith("params/")}
    if set(want) != set(got):
        missing = sorted(set(want) - set(got))
        extra = sorted(set(got) - set(want))
        def some(paths: list[str]) -> str:
            if not paths:
                return "nothing"
            more = f" and {len(paths) - 3} more" if len(paths) > 3 else ""
            return ", ".join(f"@{p}" for p in paths[:3]) + more

        raise InputError(f"checkpoint `{path}` does not fit this model (missing {some(missing)};"
                         f" unexpected {some(extra)})")
    for k, v in want.items():
        if tuple(np.shape(v)) != got[k].shape:
            raise InputError(f"checkpoint `{path}`: @{k} has shape {got[k].shape}, the model "
                             f"wants {tuple(np.shape(v))}")
    return nest({k: jax.numpy.asarray(v) for k, v in got.items()})
