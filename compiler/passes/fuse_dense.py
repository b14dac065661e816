"""``fuse-dense`` (inference): ``dense >> dense`` with nothing between becomes one dense.

    before                                             after
    %1 = nn.dense[out=64](%0) {w=@d_0/w, b=@d_0/b}     %2 = nn.dense[out=8, bias=true](%0)
    %2 = nn.dense[out=8](%1)  {w=@d_1/w, b=@d_1/b}         {w=@d_1/w~fused, b=@d_1/b~fused}

(x·W₁ + b₁)·W₂ + b₂ = x·(W₁W₂) + (b₁W₂ + b₂). The fused weights are *derived*
slots (``fuse_dense_w``/``fuse_dense_b``, computed from the original ones in
the step), so the parameter pytree and checkpoints are unchanged; only the
graph is. The function and its gradients with respect to the original weights
are the same, but every training step would pay for the d×m×o product, so it
belongs in inference pipelines (``--passes inference``); training accepts it
and gains nothing. It fuses only when the first dense's output has no other
reader, and, by default, only when it saves multiply-adds
(``d·o < d·m + m·o``); ``always=True`` fuses regardless. It runs to a fixed
point: fusing one pair can make an earlier pair profitable
(``64→8→64→4``: ``8→64→4`` first, then ``64→8→4``).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..ir import Derivation, Graph, ParamSlot
from .manager import Pass, register_pass
from .wiring import set_inputs, single_reader


def _fresh(graph: Graph, path: str) -> str:
    k, out = 0, path
    while out in graph.params:
        k += 1
        out = f"{path}{k}"
    return out


def fuse_graph(graph: Graph, always: bool = False) -> bool:
    changed = False
    for second in graph.topological():
        if second.op != "nn.dense" or second.id not in graph:
            continue
        (src,) = graph.inputs_of(second.id)
        first = graph.node(src[0])
        if first.op != "nn.dense" or single_reader(graph, src) != second.id:
            continue
        w1, w2 = graph.params[first.params["w"]], graph.params[second.params["w"]]
        if len(w1.shape) != 2 or len(w2.shape) != 2:
            continue
        d, m, o = w1.shape[0], w1.shape[1], w2.shape[1]
        if not always and d * o >= d * m + m * o:
            continue
        w = _fresh(graph, f"{second.name}/w~fused")
        graph.params.add(ParamSlot(w, (d, o), w2.dtype, derive=Derivation(
            "fuse_dense_w", {"w1": w1.path, "w2": w2.path})))
        params = {"w": w}
        inputs = {k: first.params[k2] for k, k2 in (("b1", "b"),) if k2 in first.params}
        inputs.update({k: second.params[k2] for k, k2 in (("b2", "b"),) if k2 in second.params})
        if inputs:
            b = _fresh(graph, f"{second.name}/b~fused")
            graph.params.add(ParamSlot(b, (o,), w2.dtype, derive=Derivation(
                "fuse_dense_b", {**inputs, "w2": w2.path})))
            params["b"] = b
        set_inputs(graph, second.id, graph.inputs_of(first.id))
        second.attrs = {**second.attrs, "bias": bool(inputs)}
        second.params = params
        graph.remove_node(first.id)
        changed = True
    for i in list(graph.g.nodes):
        if graph.node(i).region is not None:
            changed |= fuse_graph(graph.node(i).region, always)
    return changed


@register_pass
@dataclass(frozen=True)
class FuseDense(Pass):
    """Fold chains of dense layers into one (see module doc). Inference only."""

    name = "fuse-dense"
    always: bool = False

    def apply(self, graph: Graph) -> bool:
        changed = False
        while fuse_graph(graph, self.always):
            changed = True
        return changed
