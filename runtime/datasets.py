"""Training data: from built-in generators or ``.npz`` files, split, shaped and normalised.

A ``Dataset`` holds the model inputs (one array per model input) and the target
for a train and a test split, as float32 numpy arrays with a leading sample
axis. An input without the sample axis (DeepONet's shared trunk points) is
*shared*: it is broadcast to every batch.

Generator data (``data = burgers(n_train=1000, n_test=200, resolution=128)``)
is drawn in two independent streams: train from seed ``2*s`` and test from
seed ``2*s + 1``, so the test set can be regenerated alone at another
resolution (``--eval-resolution``) and train/test never share samples.

The normaliser is resolution-independent: one mean/std per input (``scalar``)
or per channel of a field (``channel``; plain tensors fall back to scalar),
computed on the train split; never pointwise.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..compiler.types import TensorType
from ..errors import InputError, Span, SpecError, did_you_mean
from .config import Record

# Which generator outputs feed the model, in input order (the target is always "y").
INPUT_KEYS = {"burgers": ("x",), "darcy": ("x",), "antiderivative": ("branch", "trunk")}
# The argument that sets the grid size of a generator (what --eval-resolution changes).
RESOLUTION_ARG = {"antiderivative": "n_points"}
# The grids of the field generators: points j/n on [0, 1) or linspace(0, 1, n).
GRID_KIND = {"burgers": "periodic", "darcy": "vertex"}
TEST_FRACTION = 0.2  # for files holding one unsplit set (`catspec data` output)


@dataclass
class Dataset:
    x_train: list[np.ndarray]
    y_train: np.ndarray
    x_test: list[np.ndarray]
    y_test: np.ndarray
    source: str = ""
    shared: list[bool] = field(default_factory=list)  # per input: no sample axis

    @property
    def n_train(self) -> int:
        return int(self.y_train.shape[0])

    @property
    def n_test(self) -> int:
        return int(self.y_test.shape[0])


# -- generators --------------------------------------------------------------------------


def generator_call(rec: Record, span: Span | None, seed: int, resolution: int | None = None,
                   n_override: dict | None = None) -> tuple[dict, dict]:
    """Run a generator record; returns (train dict, test dict) of raw generator outputs.

    ``resolution`` replaces the generator's grid size (for evaluation at another grid).
    """
    from .data.registry import GENERATORS

    if rec.name not in GENERATORS:
        raise SpecError(f"unknown data generator `{rec.name}`", rec.where(None, span),
                        did_you_mean(rec.name, GENERATORS) or
                        f"generators: {', '.join(sorted(GENERATORS))}")
    fn = GENERATORS[rec.name]
    if rec.args:
        raise SpecError(f"give the arguments of `{rec.name}` by name, like "
                        f"`{rec.name}(n_train=1000, n_test=200)`", rec.span or span)
    kwargs = dict(rec.kwargs)
    n_train = kwargs.pop("n_train", 1000)
    n_test = kwargs.pop("n_test", 200)
    seed = kwargs.pop("seed", seed)
    for what, v in (("n_train", n_train), ("n_test", n_test), ("seed", seed)):
        if not isinstance(v, int) or isinstance(v, bool) or v < (0 if what == "seed" else 1):
            raise SpecError(f"`{rec.name}`: `{what}` must be a "
                            f"{'non-negative' if what == 'seed' else 'positive'} int, got {v!r}",
                            rec.where(what, span))
    sig = inspect.signature(fn)
    names = [p for p in sig.parameters if p not in ("n", "seed", "workers")]
    for key in kwargs:
        if key not in names:
            raise SpecError(f"`{rec.name}` has no argument `{key}`", rec.where(key, span),
                            did_you_mean(key, names + ["n_train", "n_test", "seed"]) or
                            f"its arguments are n_train, n_test, seed, {', '.join(names)}")
    if resolution is not None:
        kwargs[RESOLUTION_ARG.get(rec.name, "resolution")] = resolution
    if n_override:
        n_train, n_test = n_override.get("n_train", n_train), n_override.get("n_test", n_test)
    try:
        train = fn(n=n_train, seed=2 * seed, **kwargs) if n_train else None
        test = fn(n=n_test, seed=2 * seed + 1, **kwargs)
    except (ValueError, TypeError) as err:
        raise SpecError(f"data generator `{rec.name}` refused its arguments: {err}",
                        rec.span or span) from None
    return train, test


def _split_generated(name: str, raw: dict) -> tuple[list[np.ndarray], np.ndarray]:
    keys = INPUT_KEYS.get(name) or tuple(k for k in raw if k not in ("y", "grid"))
    return [np.asarray(raw[k], np.float32) for k in keys], np.asarray(raw["y"], np.float32)


def from_generator(rec: Record, span: Span | None, seed: int,
                   resolution: int | None = None, test_only: bool = False) -> Dataset:
    train, test = generator_call(rec, span, seed, resolution,
                                 {"n_train": 0} if test_only else None)
    xs_te, y_te = _split_generated(rec.name, test)
    xs_tr, y_tr = _split_generated(rec.name, train) if train is not None else (
        [x[:0] for x in xs_te], y_te[:0])
    return Dataset(xs_tr, y_tr, xs_te, y_te, source=str(rec))


# -- files ---------------------------------------------------------------------------------


def from_file(path: Path) -> Dataset:
    """An .npz with ``x_train, y_train, x_test, y_test`` (or ``x0_train, x1_train, …`` for
    several inputs), or an unsplit set ``x, y`` whose last 20 % becomes the test split."""
    try:
        loaded = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise InputError(f"no such data file `{path}`") from None
    except (ValueError, OSError) as err:
        raise InputError(f"cannot read `{path}` as an .npz file: {err}") from None
    if isinstance(loaded, np.ndarray):
        raise InputError(f"`{path}` is a single array (.npy); training needs an .npz with "
                         "x_train, y_train, x_test, y_test (or x, y)")
    with loaded as f:
        arrays = {k: f[k] for k in f.files}

    def inputs(suffix: str) -> list[np.ndarray] | None:
        if f"x{suffix}" in arrays:
            return [arrays[f"x{suffix}"]]
        out, i = [], 0
        while f"x{i}{suffix}" in arrays:
            out.append(arrays[f"x{i}{suffix}"])
            i += 1
        return out or None

    xs_tr, xs_te = inputs("_train"), inputs("_test")
    if xs_tr and xs_te and "y_train" in arrays and "y_test" in arrays:
        y_tr, y_te = arrays["y_train"], arrays["y_test"]
    else:
        xs = inputs("")
        layout_shared = None
        if xs is None and "branch" in arrays and "trunk" in arrays:
            # `catspec data antiderivative`: one trunk (query points) for every sample
            xs, layout_shared = [arrays["branch"], arrays["trunk"]], [False, True]
        if xs is None or "y" not in arrays:
            raise InputError(f"`{path}` holds {', '.join(sorted(arrays)) or 'nothing'}; "
                             "expected x_train, y_train, x_test, y_test (or x, y)")
        y = arrays["y"]
        n = y.shape[0]
        n_test = max(1, round(n * TEST_FRACTION))
        if n - n_test < 1:
            raise InputError(f"`{path}` has {n} sample(s): too few to split into train and test")
        cut = n - n_test
        shared = layout_shared or [x.ndim < y.ndim and x.shape[0] != n for x in xs]
        for i, (x, sh) in enumerate(zip(xs, shared)):
            if not sh and (x.ndim == 0 or x.shape[0] != n):
                raise InputError(f"`{path}`: input {i} has {x.shape[0] if x.ndim else 0} "
                                 f"sample(s) (shape {x.shape}) but y has {n}")
        xs_tr = [x if s else x[:cut] for x, s in zip(xs, shared)]
        xs_te = [x if s else x[cut:] for x, s in zip(xs, shared)]
        y_tr, y_te = y[:cut], y[cut:]
    for split, xs_s, y_s in (("train", xs_tr, y_tr), ("test", xs_te, y_te)):
        for i, x in enumerate(xs_s):
            # one array for every sample (a DeepONet trunk) has the same shape in both splits
            same = xs_tr[i].shape == xs_te[i].shape and y_tr.shape[0] != y_te.shape[0]
            if not same and x.ndim >= y_s.ndim and x.shape[0] != y_s.shape[0]:
                raise InputError(f"`{path}`: input {i} of the {split} split has {x.shape[0]} "
                                 f"sample(s) but its target has {y_s.shape[0]}")
    as32 = [_float32(a, path) for a in (*xs_tr, y_tr, *xs_te, y_te)]
    k = len(xs_tr)
    return Dataset(as32[:k], as32[k], as32[k + 1:-1], as32[-1], source=str(path))


def _float32(a: np.ndarray, path) -> np.ndarray:
    if not np.issubdtype(a.dtype, np.floating):
        raise InputError(f"`{path}`: arrays must be floating point, got {a.dtype}")
    if not np.all(np.isfinite(a)):
        raise InputError(f"`{path}`: an array of shape {a.shape} holds NaN or infinite values")
    return a.astype(np.float32)


# -- fitting the data to the model ---------------------------------------------------------


def fit_to_model(ds: Dataset, in_types: list[TensorType], out_type: TensorType) -> Dataset:
    """Check ranks against the model's per-example types; mark shared inputs; add a trailing
    channel axis of size 1 when the data leaves it out."""
    if len(ds.x_train) != len(in_types):
        raise InputError(f"the data has {len(ds.x_train)} input array(s) but the model takes "
                         f"{len(in_types)}")

    def fit(a: np.ndarray, t: TensorType, what: str, n: int) -> tuple[np.ndarray, bool]:
        if a.ndim == t.rank + 1 and a.shape[0] == n:
            return a, False
        if a.ndim == t.rank and t.shape[-1] == 1 and a.shape[0] == n:
            return a[..., None], False
        if a.ndim == t.rank:
            return a, True  # no sample axis: the same array for every example
        raise InputError(f"{what} has shape {a.shape}, which does not fit the model's type {t} "
                         f"(expected [{n}, …] with rank {t.rank + 1})")

    shared = []
    for i, t in enumerate(in_types):
        ds.x_train[i], s1 = fit(ds.x_train[i], t, f"training input {i}", ds.n_train)
        ds.x_test[i], s2 = fit(ds.x_test[i], t, f"test input {i}", ds.n_test)
        if s1 != s2:
            raise InputError(f"input {i} is shared in one split and per-sample in the other")
        shared.append(s1)
    ds.shared = shared
    ds.y_train, _ = fit(ds.y_train, out_type, "the training target", ds.n_train)
    ds.y_test, _ = fit(ds.y_test, out_type, "the test target", ds.n_test)
    for split, xs, y in (("training", ds.x_train, ds.y_train), ("test", ds.x_test, ds.y_test)):
        _check_output_shape(split, xs, shared, y, in_types, out_type)
    return ds


def _check_output_shape(split, xs, shared, y, in_types, out_type) -> None:
    """The target must have the shape the model gives for these inputs (a field sampled at
    32 points cannot be trained against one at 16)."""
    from ..compiler.dims import bind, evaluate

    env: dict[str, int] = {}
    for x, s, t in zip(xs, shared, in_types):
        shape = x.shape if s else x.shape[1:]
        for size, actual in zip(t.shape, shape):
            if not bind(size, actual, env):
                raise InputError(f"{split} inputs do not fit the model's input type {t}: "
                                 f"shape {shape} per sample")
    try:
        want = tuple(evaluate(d, env) for d in out_type.shape)
    except KeyError:
        return  # an output size the inputs do not fix: nothing to compare against
    if tuple(y.shape[1:]) != want:
        sizes = ", ".join(f"{k}={v}" for k, v in sorted(env.items()))
        raise InputError(f"the {split} target has shape {tuple(y.shape[1:])} per sample, but "
                         f"the model gives {want} for these inputs"
                         + (f" ({sizes})" if sizes else ""))


@dataclass
class Normalizer:
    """Per input and for the target: ``(a - mean) / std`` with broadcastable stats."""

    x_stats: list[tuple[np.ndarray, np.ndarray]]
    y_stats: tuple[np.ndarray, np.ndarray]

    def arrays(self) -> dict[str, np.ndarray]:
        out = {}
        for i, (m, s) in enumerate(self.x_stats):
            out[f"x{i}_mean"], out[f"x{i}_std"] = m, s
        out["y_mean"], out["y_std"] = self.y_stats
        return out


def _stats(a: np.ndarray, t: TensorType, mode: str, shared: bool):
    rank = t.rank
    if mode == "none":
        one = np.ones((1,) * rank, np.float32)
        return one * 0.0, one
    if mode == "channel" and t.field:
        axes = tuple(range(a.ndim - 1))
        mean = a.mean(axis=axes, dtype=np.float64)
        std = a.std(axis=axes, dtype=np.float64)
        shape = (1,) * (rank - 1) + (a.shape[-1],)
    else:  # scalar (plain tensors under "channel" too: their axes are not channels of a grid)
        mean, std = a.mean(dtype=np.float64), a.std(dtype=np.float64)
        shape = (1,) * rank
    std = np.where(std > 1e-12, std, 1.0)
    return (np.asarray(mean, np.float32).reshape(shape),
            np.asarray(std, np.float32).reshape(shape))


def fit_normalizer(ds: Dataset, in_types: list[TensorType], out_type: TensorType,
                   mode: str) -> Normalizer:
    xs = [_stats(x, t, mode, s) for x, t, s in zip(ds.x_train, in_types, ds.shared)]
    return Normalizer(xs, _stats(ds.y_train, out_type, mode, False))
