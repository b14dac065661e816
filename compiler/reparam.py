"""Reparametrisation clauses (2-cells of Para): how ``with …`` rewires parameter slots.

``layer with clause`` leaves the op alone and changes where its parameters come
from. A clause either edits slots in place (``freeze``, ``tie``) or introduces
new root slots and a *derived* slot computed from them (``lora``): the node
then reads the derived slot, and the backend computes it once per step from
the roots (see ``backends/jax/derive.py``). The original slot keeps its path,
so weights trained without the clause still load.
"""

from __future__ import annotations

from collections.abc import Callable

from ..errors import Span, SpecError, did_you_mean
from .ir import Derivation, ParamSlot, ParamTable
from .ops.registry import OpDef
from .values import ReparamSpec

Rule = Callable[..., dict[str, str]]
RULES: dict[str, Rule] = {}


def rule(name: str):
    def deco(fn):
        RULES[name] = fn
        return fn

    return deco


def _bind(spec: ReparamSpec, names: list[str], defaults: dict) -> dict:
    """Positional and keyword arguments of a clause, with defaults and did-you-mean."""
    if len(spec.args) > len(names):
        raise SpecError(
            f"`{spec.name}` takes at most {len(names)} argument(s), got {len(spec.args)}",
            spec.span,
        )
    out = dict(defaults)
    out.update(zip(names, spec.args))
    for key, value in spec.kwargs.items():
        if key not in names:
            raise SpecError(
                f"`{spec.name}` has no argument `{key}`", spec.span, did_you_mean(key, names)
            )
        out[key] = value
    missing = [n for n in names if n not in out]
    if missing:
        raise SpecError(f"`{spec.name}` is missing its argument `{missing[0]}`", spec.span)
    return out


def _target(spec: ReparamSpec, op: OpDef, slots: dict[str, str], param) -> str:
    name = param if param is not None else op.main_param
    if name not in slots:
        raise SpecError(
            f"`{op.surface}` has no parameter `{name}` for `{spec.name}`",
            spec.span,
            did_you_mean(str(name), slots) or f"its parameters are {', '.join(slots)}",
        )
    return name


@rule("freeze")
def _freeze(table, op, instance, slots, spec, instances, reuse):
    args = _bind(spec, ["param"], {"param": None})
    names = list(slots) if args["param"] is None else [_target(spec, op, slots, args["param"])]
    for name in names:
        for root in _roots(table, slots[name]):
            table[root].trainable = False
    return slots


@rule("tie")
def _tie(table, op, instance, slots, spec, instances, reuse):
    args = _bind(spec, ["name"], {})
    other = str(args["name"])
    candidates = [p for p in instances if p == other or p.endswith("/" + other)]
    if not candidates:
        raise SpecError(
            f"`tie`: no earlier layer is named `{other}`",
            spec.span,
            did_you_mean(other, [p.rsplit("/", 1)[-1] for p in instances])
            or "name the layer to share with `as`, before this one: `dense(64) as enc`",
        )
    target = candidates[-1]
    theirs = {p.rsplit("/", 1)[-1]: p for p in instances[target]}
    out = {}
    for name, path in slots.items():
        if name not in theirs or table[theirs[name]].shape != table[path].shape:
            raise SpecError(
                f"`tie`: `{instance}` cannot share `{name}` with `{target}` "
                f"(shapes {table[path].shape} and "
                f"{table[theirs[name]].shape if name in theirs else 'missing'})",
                spec.span,
            )
        _drop_chain(table, path, instance)
        out[name] = theirs[name]
    return out


@rule("lora")
def _lora(table, op, instance, slots, spec, instances, reuse):
    args = _bind(spec, ["rank", "alpha", "param"], {"alpha": None, "param": None})
    name = _target(spec, op, slots, args["param"])
    base = table[slots[name]]
    rank = args["rank"]
    if not isinstance(rank, int) or rank < 1:
        raise SpecError(f"`lora`: rank must be a positive integer, got {rank!r}", spec.span)
    _matrix_dims(spec, name, base.shape, op)
    owner = base.path.rsplit("/", 1)[0]
    if base.trainable and owner != instance and not reuse:
        # tied to another layer: freezing the shared weight would stop training it there too
        raise SpecError(
            f"`lora` freezes the weight it adapts, @{base.path}, which `{owner}` also reads "
            f"(tied): `{owner}` would stop training too", spec.span,
            f"freeze `{owner}` as well if that is meant (`… as {owner.rsplit('/', 1)[-1]} with "
            "freeze`), or leave out the tie")
    alpha = float(args["alpha"]) if args["alpha"] is not None else float(rank)
    rows = 1
    for s in base.shape[:-1]:
        rows *= s
    a_path, b_path = f"{instance}/{name}_lora_a", f"{instance}/{name}_lora_b"
    derived = f"{instance}/{name}~lora"
    if not (reuse and derived in table):
        base.trainable = False
        table.add(ParamSlot(a_path, (rows, rank), init="normal", init_args={"stddev": 1 / rank}))
        table.add(ParamSlot(b_path, (rank, base.shape[-1]), init="zeros"))
        table.add(ParamSlot(
            derived, base.shape, derive=Derivation(
                "lora", {"w0": base.path, "a": a_path, "b": b_path}, {"scale": alpha / rank}
            ),
        ))
    return {**slots, name: derived}


def _matrix_dims(spec: ReparamSpec, name: str, shape: tuple[int, ...],
                 op: OpDef | None = None) -> tuple[int, int]:
    """A weight as a matrix: all leading axes are rows, the last axis is columns (outputs)."""
    if op is not None and "complex_pairs" in op.traits and name == op.main_param:
        raise SpecError(
            f"`{spec.name}` needs a real matrix whose last axis is the output; `{op.surface}` "
            f"keeps complex weights as (re, im) pairs in the last axis of `{name}` "
            f"{tuple(shape)}", spec.span, "use it on dense or conv layers around the "
            "operator (`freeze` and `tie` work on any parameter)")
    if len(shape) < 2:
        raise SpecError(f"`{spec.name}` needs a matrix parameter; `{name}` has shape {shape}",
                        spec.span)
    rows = 1
    for s in shape[:-1]:
        rows *= s
    return rows, shape[-1]


def _derived(table, base: ParamSlot, kind: str, inputs: dict, attrs: dict, reuse: bool) -> str:
    """Add (once, even for tied copies) a slot derived from ``inputs``; return its path."""
    path = f"{base.path}~{kind}"
    if not (reuse and path in table):
        table.add(ParamSlot(path, base.shape, base.dtype,
                            derive=Derivation(kind, inputs, attrs)))
    return path


@rule("weight_norm")
def _weight_norm(table, op, instance, slots, spec, instances, reuse):
    """w = g · v / ‖v‖ per output column; ``v`` keeps the original path, ``g`` starts at 1."""
    args = _bind(spec, ["param"], {"param": None})
    name = _target(spec, op, slots, args["param"])
    base = table[slots[name]]
    _, cols = _matrix_dims(spec, name, base.shape, op)
    g_path = f"{instance}/{name}_g"
    if not (reuse and g_path in table):
        table.add(ParamSlot(g_path, (cols,), base.dtype, init="ones"))
    return {**slots, name: _derived(table, base, "weight_norm", {"v": base.path, "g": g_path},
                                    {}, reuse)}


@rule("spectral_norm")
def _spectral_norm(table, op, instance, slots, spec, instances, reuse):
    """w / σ_max(w): exact (``iters=0``, the default) or by ``iters`` power-iteration steps."""
    args = _bind(spec, ["iters", "param"], {"iters": 0, "param": None})
    name = _target(spec, op, slots, args["param"])
    base = table[slots[name]]
    _matrix_dims(spec, name, base.shape, op)
    iters = args["iters"]
    if not isinstance(iters, int) or isinstance(iters, bool) or iters < 0:
        raise SpecError(f"`spectral_norm`: iters must be a non-negative int, got {iters!r}",
                        spec.span, "0 computes σ exactly; a few steps (e.g. 5) estimate it")
    return {**slots, name: _derived(table, base, "spectral_norm", {"w": base.path},
                                    {"iters": iters}, reuse)}


@rule("orthogonal")
def _orthogonal(table, op, instance, slots, spec, instances, reuse):
    """Q = H₁⋯H_k from k Householder vectors (k = n by default, n = max(rows, cols));
    the weight is the leading rows × cols block, so its columns (or rows) are orthonormal."""
    args = _bind(spec, ["reflections", "param"], {"reflections": None, "param": None})
    name = _target(spec, op, slots, args["param"])
    base = table[slots[name]]
    rows, cols = _matrix_dims(spec, name, base.shape, op)
    n = max(rows, cols)
    k = args["reflections"] if args["reflections"] is not None else n
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= n:
        raise SpecError(f"`orthogonal`: reflections must be an int in 1..{n}, got {k!r}",
                        spec.span)
    v_path = f"{instance}/{name}_householder"
    if not (reuse and v_path in table):
        table.add(ParamSlot(v_path, (k, n), base.dtype, init="normal",
                            init_args={"stddev": 1.0}))
    # The weight is now entirely derived (tied copies re-create it; drop it again).
    table.slots.pop(base.path, None)
    derived = f"{base.path}~orthogonal"
    if not (reuse and derived in table):
        table.add(ParamSlot(derived, base.shape, base.dtype, derive=Derivation(
            "orthogonal", {"v": v_path}, {"rows": rows, "cols": cols})))
    return {**slots, name: derived}


@rule("phm")
def _phm(table, op, instance, slots, spec, instances, reuse):
    """W = Σᵢ Aᵢ ⊗ Sᵢ with Aᵢ [n, n], Sᵢ [rows/n, cols/n] (parameterized hypercomplex)."""
    args = _bind(spec, ["n", "param"], {"param": None})
    name = _target(spec, op, slots, args["param"])
    base = table[slots[name]]
    rows, cols = _matrix_dims(spec, name, base.shape, op)
    n = args["n"]
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise SpecError(f"`phm`: n must be a positive int, got {n!r}", spec.span)
    if rows % n or cols % n:
        raise SpecError(
            f"`phm({n})` needs both sizes of `{name}` divisible by {n}, got {rows} x {cols}",
            spec.span,
            f"pick n among the common divisors of {rows} and {cols}",
        )
    a_path, s_path = f"{instance}/{name}_phm_a", f"{instance}/{name}_phm_s"
    if not (reuse and a_path in table):
        table.add(ParamSlot(a_path, (n, n, n), base.dtype, init="normal",
                            init_args={"stddev": 1.0 / n}))
        table.add(ParamSlot(s_path, (n, rows // n, cols // n), base.dtype, init="normal",
                            init_args={"stddev": (1.0 / rows) ** 0.5}))
    # The weight is now entirely derived (tied copies re-create it; drop it again).
    table.slots.pop(base.path, None)
    derived = f"{base.path}~phm"
    if not (reuse and derived in table):
        table.add(ParamSlot(derived, base.shape, base.dtype, derive=Derivation(
            "phm", {"a": a_path, "s": s_path}, {"n": n})))
    return {**slots, name: derived}


def _drop_chain(table: ParamTable, path: str, instance: str) -> None:
    """Remove ``path`` and the slots of ``instance`` it was derived from (an inner clause
    such as ``lora`` made them), so a tied layer leaves no orphan parameters behind."""
    slot = table.slots.pop(path, None)
    if slot is None or slot.derive is None:
        return
    for inner in slot.derive.inputs.values():
        if inner.startswith(instance + "/"):
            _drop_chain(table, inner, instance)


def _roots(table: ParamTable, path: str) -> list[str]:
    slot = table[path]
    if slot.derive is None:
        return [path]
    return [r for p in slot.derive.inputs.values() for r in _roots(table, p)]


def apply_reparams(
    table: ParamTable,
    op: OpDef,
    instance: str,
    slots: dict[str, str],
    specs: list[ReparamSpec],
    instances: dict[str, list[str]],
    span: Span | None,
    reuse: bool = False,
) -> dict[str, str]:
    """Apply clauses innermost first; returns the op's new local-name -> slot map."""
    for spec in reversed(specs):
        fn = RULES.get(spec.name)
        if fn is None:
            raise SpecError(
                f"unknown reparametrisation `{spec.name}`",
                spec.span,
                did_you_mean(spec.name, RULES) or f"known: {', '.join(sorted(RULES))}",
            )
        slots = fn(table, op, instance, slots, spec, instances, reuse)
    return slots
