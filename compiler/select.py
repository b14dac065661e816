"""Queries on a graph: selecting nodes, finding them by name, and reading the parameter table.

    graph.select(op="dense")                       # every nn.dense, topological order
    graph.select(op="act.*", name="block_*/*")     # globs on op and instance names
    graph.select(op="dense", out=64)               # attribute values
    graph.select(where=lambda n: n.out_types[0].rank == 2)
    graph.node_by_name("dense_0").params           # {"w": "dense_0/w", "b": "dense_0/b"}
    graph.params_of("dense_0")["w"].shape          # (784, 64)

Op names match in full (``nn.dense``) or by the part after the namespace
(``dense``); both sides may be ``fnmatch`` globs.
"""

from __future__ import annotations

from collections.abc import Callable
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

from ..errors import IRVerifyError, did_you_mean

if TYPE_CHECKING:
    from .ir import Graph, Node, ParamSlot


def op_matches(op: str, pattern: str) -> bool:
    """True when IR op name ``op`` matches ``pattern`` in full or by its short name."""
    return fnmatchcase(op, pattern) or fnmatchcase(op.split(".", 1)[-1], pattern)


# Spec combinators that are not ops: what a user who writes one in a pattern means.
_COMBINATORS = {
    "fold": "the node it becomes has op `ctl.fold`; its cell is that node's region",
    "map": "the node it becomes has op `ctl.map`; its body is that node's region",
    "scan": "the node repeat-to-scan makes has op `ctl.scan`; its body is that node's region",
    "tie": "it makes layers share parameter slots; match the ops themselves (and compare "
           "node.params), or tie with Rewriter.tie",
}


def not_an_op(name: str) -> None:
    """Refuse a spec combinator where an op is expected, saying what it elaborates to."""
    if name in _COMBINATORS:
        raise IRVerifyError(f"`{name}` is a spec combinator, not an op: {_COMBINATORS[name]}")


def check_op_pattern(pattern: str) -> None:
    """Refuse an op name or glob that no op can match: a typo should not read as "no such
    nodes here"."""
    from .ops import control  # noqa: F401  (registers the ctl.* verifiers)
    from .ops.recursion import VERIFIERS
    from .ops.registry import OPS

    if pattern == "_":
        return
    known = [*OPS, *VERIFIERS, "io.input", "io.output"]
    if any(op_matches(op, pattern) for op in known):
        return
    not_an_op(pattern)
    short = sorted({op.split(".", 1)[-1] for op in known})
    hint = did_you_mean(pattern, short + known)
    raise IRVerifyError(f"unknown op `{pattern}`" + (f" ({hint})" if hint else "")
                        if not any(c in pattern for c in "*?[")
                        else f"`{pattern}` matches no op")


def select(
    graph: Graph,
    op: str | None = None,
    name: str | None = None,
    where: Callable[[Node], bool] | None = None,
    recursive: bool = False,
    **attrs: Any,
) -> list[Node]:
    """Nodes of ``graph`` in topological order that match every given criterion.

    Args:
        op: op name or glob (``"dense"``, ``"nn.*"``).
        name: instance-name glob (``"block_*"``, ``"*/dense_0"``).
        where: a predicate on the ``Node``.
        recursive: also look inside regions (after their owner).
        **attrs: attribute values the node must have (``out=64``).
    """
    if op is not None:
        check_op_pattern(op)
    if attrs:
        check_attr_names(graph, op, attrs)
    out: list[Node] = []
    for n in graph.topological():
        if _matches(n, op, name, where, attrs):
            out.append(n)
        if recursive and n.region is not None:
            out.extend(select(n.region, op, name, where, True, **attrs))
    return out


def check_attr_names(graph: Graph, op: str | None, attrs: dict) -> None:
    """Refuse an attribute no op matching ``op`` declares and no such node here carries:
    ``select(op="dense", outt=16)`` is a typo, not an empty answer."""
    from .ops.registry import OPS

    known = {a.name for name, d in OPS.items() if op is None or op_matches(name, op)
             for a in d.args}
    if any(key not in known for key in attrs):  # control ops' attributes: ask the nodes
        known |= {k for n in select(graph, op=op, recursive=True) for k in n.attrs}
    for key in attrs:
        if key not in known:
            hint = did_you_mean(key, sorted(known))
            what = "no op" if op is None else f"no op matching `{op}`"
            raise IRVerifyError(f"{what} has an attribute `{key}`"
                                + (f" ({hint})" if hint else ""))


def _matches(n: Node, op, name, where, attrs) -> bool:
    if op is not None and not op_matches(n.op, op):
        return False
    if name is not None and not fnmatchcase(n.name, name):
        return False
    for key, value in attrs.items():
        if key not in n.attrs or not _attr_eq(n.attrs[key], value):
            return False
    return where is None or bool(where(n))


def _attr_eq(a, b) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return list(a) == list(b)
    return a == b and isinstance(a, bool) == isinstance(b, bool)


def node_by_name(graph: Graph, name: str) -> Node:
    """The node named ``name`` (regions included); ``IRVerifyError`` with a hint if none,
    or if several nodes carry the name (the copies of a tied repetition share theirs)."""
    found = _find(graph, name)
    if not found:
        names = [n.name for n in select(graph, recursive=True) if n.name]
        if name in names:  # only a region's own boundary node carries it
            raise IRVerifyError(
                f"`{name}` is a boundary node of a region inside graph `{graph.name}`; look it "
                f"up in that region's graph (graph.node_by_name(<control node>).region"
                f".node_by_name({name!r}))")
        hint = did_you_mean(name, names)
        raise IRVerifyError(f"no node named `{name}` in graph `{graph.name}`"
                            + (f"; {hint}" if hint else ""))
    if len(found) > 1:
        ids = ", ".join(str(n.id) for n in found)
        raise IRVerifyError(
            f"`{name}` names {len(found)} nodes (ids {ids}; the copies of a tied repetition "
            f"share their names); pass a node id, or a Node from graph.select(name={name!r})")
    return found[0]


def _find(graph: Graph, name: str, inside: bool = False) -> list[Node]:
    """Nodes named ``name`` in ``graph`` and its regions; a region's own boundary nodes
    (``in0``, ``output``) are found only from the region's graph itself."""
    out = []
    for i in graph.g.nodes:
        n = graph.node(i)
        if n.name == name and not (inside and n.op in ("io.input", "io.output")):
            out.append(n)
        if n.region is not None:
            out.extend(_find(n.region, name, inside=True))
    return out


def param(graph: Graph, path: str) -> ParamSlot:
    """The slot at ``path`` (``"dense_0/w"`` or ``"@dense_0/w"``)."""
    path = path.removeprefix("@")
    if path not in graph.params:
        hint = did_you_mean(path, list(graph.params.slots))
        raise IRVerifyError(f"no parameter slot `@{path}`" + (f"; {hint}" if hint else ""))
    return graph.params[path]


def params_of(graph: Graph, node) -> dict[str, ParamSlot]:
    """Local parameter name -> slot of a node (a ``Node``, id or name)."""
    from .ir import Node

    if isinstance(node, str):
        node = node_by_name(graph, node)
    elif not isinstance(node, Node):
        node = graph.node(node)
    return {k: graph.params[v] for k, v in node.params.items()}


def users_of_param(graph: Graph, path: str) -> list[Node]:
    """Nodes that read slot ``path``, directly or through a derived slot built from it."""
    path = param(graph, path).path
    return graph.slots_used().get(path, []) if graph.params[path].is_root else \
        graph.slot_readers(path)
