"""``fold-constants``: evaluate, at compile time, pure parameter-free ops whose inputs are
all constants, and replace them by a ``ctl.const`` holding the result.

    before                                     after
    %1: f32[3] = ctl.const[value=[-1.0, 0.0, 2.0]]()
    %2: f32[3] = act.relu(%1)                  %2: f32[3] = ctl.const[value=[0.0, 0.0, 2.0]]()
    %3: f32[3] = struct.add[n=2](%0, %2)       %3: f32[3] = struct.add[n=2](%0, %2)

Honest scope: the spec language has no literal tensors, so a graph elaborated
from a spec contains no constants and this pass changes nothing on the shipped
specs. Constants appear when a graph is built or edited from Python (or by
future passes); then any chain of pure, parameter-free ops over them folds.
Results larger than ``max_elements`` (default 4096) are not folded, so the IR
text and the compiled program do not balloon. Shapes must be concrete.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..ir import Graph, Node
from ..ops.registry import OPS
from .manager import Pass, register_pass
from .wiring import replace_uses

MAX_ELEMENTS = 4096


def _foldable(graph: Graph, node: Node, limit: int) -> bool:
    op = OPS.get(node.op)
    if op is None or "pure" not in op.traits or node.params or node.region is not None:
        return False
    ins = graph.inputs_of(node.id)
    if not ins or any(graph.node(s).op != "ctl.const" for s, _ in ins):
        return False
    for t in node.out_types:
        if t.symbols:
            return False
        size = 1
        for s in t.shape:
            size *= s
        if size > limit:
            return False
    return True


def fold_graph(graph: Graph, limit: int = MAX_ELEMENTS) -> bool:
    changed = False
    for node in graph.topological():
        if node.id not in graph or not _foldable(graph, node, limit):
            continue
        values = _evaluate(graph, node)
        sources = {src for src, _ in graph.inputs_of(node.id)}
        for k, (t, v) in enumerate(zip(node.out_types, values)):
            const = graph.add_node("ctl.const", [], (t,), {"value": v},
                                   name=(f"{node.name}~const{k}" if k else f"{node.name}~const")
                                   if node.name else "",
                                   span=node.span)
            replace_uses(graph, (node.id, k), (const.id, 0))
        graph.remove_node(node.id)
        # The constants it read and nothing else reads are dead now: remove them here, so
        # the pipelines need no `dce` after this pass.
        for src in sources:
            if graph.g.out_degree(src) == 0:
                graph.remove_node(src)
        changed = True
    return changed


def _evaluate(graph: Graph, node: Node) -> list[tuple]:
    """Run the node's JAX lowering rule on its constant inputs (outside any trace)."""
    import numpy as np

    from ...backends.jax.rules import RULES, LowerCtx

    ins = [const_array(graph.node(s)) for s, _ in graph.inputs_of(node.id)]
    outs = RULES[node.op](node, ins, {}, LowerCtx())
    return [tuple(np.asarray(o).reshape(-1).tolist()) for o in outs]


def const_array(node: Node):
    """The value of a ``ctl.const`` node as a JAX array of its type."""
    import jax.numpy as jnp

    from ..types import NUMPY_DTYPE

    t = node.out_types[0]
    return jnp.asarray(node.attrs["value"], dtype=NUMPY_DTYPE[t.dtype]).reshape(t.shape)


@register_pass
@dataclass(frozen=True)
class FoldConstants(Pass):
    """Evaluate constant subexpressions (see module doc)."""

    name = "fold-constants"
    max_elements: int = MAX_ELEMENTS

    def apply(self, graph: Graph) -> bool:
        return fold_graph(graph, self.max_elements)
