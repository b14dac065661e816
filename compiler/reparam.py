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
        del table.slots[path]
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
    if len(base.shape) < 2:
        raise SpecError(f"`lora` needs a matrix parameter; `{name}` has shape {base.shape}",
                        spec.span)
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
