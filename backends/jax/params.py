"""Parameters as a pytree: initialisation, path <-> nested-dict mapping, derived slots.

The pytree is a nested dict keyed by the spec's instance names
(``{"block_0": {"dense_0": {"w": …, "b": …}}}``), holding only *root* slots.
Derived slots (reparametrisations) are computed from the roots inside the
traced step by ``resolve`` and never stored, so optax and checkpoints see
exactly the tensors that are trained or frozen.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from ...compiler.ir import ParamTable
from ...compiler.types import NUMPY_DTYPE
from ...errors import LoweringError

_INITS: dict[str, Callable] = {
    "lecun_normal": lambda args: jax.nn.initializers.lecun_normal(),
    "glorot_uniform": lambda args: jax.nn.initializers.glorot_uniform(),
    "glorot_normal": lambda args: jax.nn.initializers.glorot_normal(),
    "he_normal": lambda args: jax.nn.initializers.he_normal(),
    "zeros": lambda args: jax.nn.initializers.zeros,
    "ones": lambda args: jax.nn.initializers.ones,
    "normal": lambda args: jax.nn.initializers.normal(args.get("stddev", 1e-2)),
    "uniform": lambda args: _uniform(args.get("low", -1.0), args.get("high", 1.0)),
}


def _uniform(low: float, high: float):
    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, low, high)

    return init


def register_init(name: str, factory: Callable) -> None:
    """Add an initializer: ``factory(init_args) -> fn(key, shape, dtype)``."""
    _INITS[name] = factory


def nest(flat: dict[str, object]) -> dict:
    """``{"a/b/w": x}`` -> ``{"a": {"b": {"w": x}}}``."""
    tree: dict = {}
    for path, value in flat.items():
        node = tree
        *parents, leaf = path.split("/")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return tree


def flatten(tree: dict, prefix: str = "", what: str = "the parameters") -> dict[str, object]:
    """Inverse of ``nest``."""
    if not isinstance(tree, dict):
        raise LoweringError(f"{what} are a nested dict keyed by instance names (what init "
                            f"returns), got {type(tree).__name__}")
    out = {}
    for k, v in tree.items():
        path = f"{prefix}/{k}" if prefix else k
        if isinstance(v, dict):
            out.update(flatten(v, path))
        else:
            out[path] = v
    return out


def init_params(table: ParamTable, key: jax.Array) -> dict:
    """Fresh root parameters; slot i draws from ``fold_in(key, i)`` (stable under edits elsewhere)."""
    flat = {}
    for i, slot in enumerate(table.roots()):
        try:
            init = _INITS[slot.init](slot.init_args)
        except KeyError:
            raise LoweringError(f"@{slot.path}: unknown initializer `{slot.init}`") from None
        dtype = jnp.dtype(NUMPY_DTYPE[slot.dtype])
        flat[slot.path] = init(jax.random.fold_in(key, i), slot.shape, dtype)
    return nest(flat)


# -- derived slots -------------------------------------------------------------------

DERIVE: dict[str, Callable] = {}


def derive_rule(name: str):
    def deco(fn):
        DERIVE[name] = fn
        return fn

    return deco


@derive_rule("lora")
def _lora(inputs: dict, attrs: dict, shape):
    w0, a, b = inputs["w0"], inputs["a"], inputs["b"]
    return w0 + attrs["scale"] * (a @ b).reshape(shape)


def _as_matrix(w):
    return w.reshape(-1, w.shape[-1])


@derive_rule("weight_norm")
def _weight_norm(inputs: dict, attrs: dict, shape):
    v = _as_matrix(inputs["v"])
    w = v * (inputs["g"] / jnp.sqrt(jnp.sum(jnp.square(v), axis=0)))[None, :]
    return w.reshape(shape)


@derive_rule("spectral_norm")
def _spectral_norm(inputs: dict, attrs: dict, shape):
    w = _as_matrix(inputs["w"])
    if attrs["iters"] == 0:
        sigma = jnp.linalg.norm(w, ord=2)  # exact: the largest singular value (an SVD)
    else:
        # Power iteration from a fixed unit vector: deterministic, no state, jit-friendly.
        u = jnp.full((w.shape[1],), 1.0 / jnp.sqrt(jnp.float32(w.shape[1])), w.dtype)

        def step(u, _):
            v = w @ u
            v = v / jnp.linalg.norm(v)
            u = w.T @ v
            return u / jnp.linalg.norm(u), None

        u, _ = jax.lax.scan(step, u, None, length=attrs["iters"])
        sigma = jnp.linalg.norm(w @ u)
    return (w / sigma).reshape(shape)


@derive_rule("orthogonal")
def _orthogonal(inputs: dict, attrs: dict, shape):
    vs = inputs["v"]  # [k, n]
    n = vs.shape[1]

    def reflect(q, v):
        # q · (I - 2 v vᵀ / vᵀv): apply the next Householder reflection on the right.
        return q - (2.0 / jnp.dot(v, v)) * jnp.outer(q @ v, v), None

    q, _ = jax.lax.scan(reflect, jnp.eye(n, dtype=vs.dtype), vs)
    return q[: attrs["rows"], : attrs["cols"]].reshape(shape)


@derive_rule("phm")
def _phm(inputs: dict, attrs: dict, shape):
    a, s = inputs["a"], inputs["s"]  # [n, n, n], [n, p, q]
    n, p, q = s.shape
    # Σᵢ kron(Aᵢ, Sᵢ)[a·p + c, b·q + d] = Σᵢ Aᵢ[a, b] Sᵢ[c, d]
    w = jnp.einsum("iab,icd->acbd", a, s).reshape(n * p, n * q)
    return w.reshape(shape)


def check_shape(slot, value, owner: str = "") -> None:
    """A given parameter value must have its slot's shape (``LoweringError`` otherwise)."""
    if isinstance(value, (list, tuple, dict)) or value is None:
        raise LoweringError(f"parameter @{slot.path}{owner} is a {type(value).__name__} in the "
                            "given parameters; give an array")
    shape = tuple(jnp.shape(value))
    if shape != tuple(slot.shape):
        raise LoweringError(f"parameter @{slot.path}{owner} has shape {shape} in the given "
                            f"parameters; the model needs {tuple(slot.shape)}")


_KINDS = (("bool", jnp.bool_), ("integer", jnp.integer), ("floating-point", jnp.floating),
          ("complex", jnp.complexfloating))


def dtype_kind(dtype) -> str | None:
    """``bool``, ``integer`` (signed or unsigned), ``floating-point`` or ``complex``."""
    for kind, cls in _KINDS:
        if jnp.issubdtype(dtype, cls):
            return kind
    return None


def _of_slot_dtype(slot, value):
    """A parameter at its slot's dtype: cast within a kind of number (a float64 checkpoint
    under jax_enable_x64), refused across kinds (integer weights for a float slot)."""
    want = jnp.dtype(NUMPY_DTYPE[slot.dtype])
    dtype = jnp.result_type(value)
    if dtype == want:
        return value
    if dtype_kind(dtype) != dtype_kind(want):
        raise LoweringError(f"parameter @{slot.path} has dtype {dtype} in the given parameters; "
                            f"the model needs {want}")
    return jnp.asarray(value).astype(want)


def resolve(table: ParamTable, tree: dict) -> dict[str, jax.Array]:
    """Every slot's value by path: roots from ``tree`` (frozen ones gradient-stopped), then
    derived slots computed from them, in creation order (a derivation only reads earlier slots)."""
    flat = flatten(tree)
    out: dict[str, jax.Array] = {}
    for slot in table:
        if slot.derive is None:
            try:
                value = flat[slot.path]
            except KeyError:
                raise LoweringError(
                    f"parameter @{slot.path} is missing from the given parameters"
                ) from None
            check_shape(slot, value)
            value = _of_slot_dtype(slot, value)
            out[slot.path] = value if slot.trainable else jax.lax.stop_gradient(value)
        else:
            d = slot.derive
            out[slot.path] = DERIVE[d.kind]({k: out[v] for k, v in d.inputs.items()}, d.attrs,
                                            slot.shape)
    return out
