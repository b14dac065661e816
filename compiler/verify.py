"""IR invariants: every edit and every pass leaves a graph that passes ``verify_graph``."""

from __future__ import annotations

import re

import networkx as nx

from ..errors import IRVerifyError
from .ir import Graph, Node
from .ops.registry import OPS, OpTypeError
from .printer import location
from .types import size_problem

IO_OPS = ("io.input", "io.output")


def _where(node: Node) -> str:
    loc = location(node)
    name = f" `{node.name}`" if node.name else ""
    return f"node {node.id} ({node.op}{name}{', ' + loc if loc else ''})"


# Instance names are paths of identifiers (`block_0/dense_1`): the text form, parameter
# paths and `node_by_name` rely on it. (They are not unique: the copies in `tie(f ^ n)` share
# one name, as they share their slots.)
NAME = re.compile(r"^[A-Za-z_][\w~]*(/[A-Za-z_][\w~]*)*$")  # `~`: made by passes (r~const)


def _check_names(graph: Graph) -> None:
    for node_id in graph.g.nodes:
        node = graph.node(node_id)
        if node.name and not NAME.match(node.name):
            raise IRVerifyError(f"{_where(node)}: instance name `{node.name}` is not a path of "
                                "identifiers like `block_0/dense_1`")


def check_sizes(node: Node, types) -> None:
    """Refuse a size below 1 (``dense(0)``, or ``out=-1`` set from Python) or absurdly large."""
    for t in types:
        problem = size_problem(t.shape)
        if problem:
            raise IRVerifyError(f"{_where(node)}: output type {t}: {problem}")


def verify_graph(graph: Graph) -> None:
    """Raise ``IRVerifyError`` naming the first node that breaks an invariant."""
    g = graph.g
    if not nx.is_directed_acyclic_graph(g):
        cycle = nx.find_cycle(g)
        raise IRVerifyError(f"the graph has a cycle through node {cycle[0][0]}")
    if graph.output is None or graph.output not in g:
        raise IRVerifyError("the graph has no output node")
    _check_names(graph)
    for node_id in g.nodes:
        node = graph.node(node_id)
        ins = graph.inputs_of(node_id)
        ports = [d["dst_port"] for _, _, d in g.in_edges(node_id, data=True)]
        if sorted(ports) != list(range(len(ports))):
            raise IRVerifyError(f"{_where(node)}: input ports {sorted(ports)} are not 0..n-1")
        for (src, sport), (_, _, data) in zip(ins, sorted(g.in_edges(node_id, data=True),
                                                         key=lambda e: e[2]["dst_port"])):
            producer = graph.node(src)
            if sport >= len(producer.out_types):
                raise IRVerifyError(f"{_where(node)} reads output {sport} of {_where(producer)}, "
                                    f"which has {len(producer.out_types)} outputs")
            if data["type"] != producer.out_types[sport]:
                raise IRVerifyError(f"{_where(node)}: wire type {data['type']} differs from its "
                                    f"producer's {producer.out_types[sport]}")
        check_sizes(node, node.out_types)
        if node.op in IO_OPS:
            continue
        op = OPS.get(node.op)
        if op is None:
            if node.op.startswith("ctl."):
                # control ops check their regions in their own verifiers
                from .ops.recursion import VERIFIERS

                check = VERIFIERS.get(node.op)
                if check is not None:
                    check(graph, node)
                continue
            from ..errors import did_you_mean
            from .ops.recursion import VERIFIERS

            hint = did_you_mean(node.op, [*OPS, *VERIFIERS])
            raise IRVerifyError(f"{_where(node)}: unknown op `{node.op}`"
                                + (f" ({hint})" if hint else ""))
        n_in, n_out = op.arity(node.attrs)
        if len(ins) != n_in:
            raise IRVerifyError(f"{_where(node)}: expected {n_in} inputs, got {len(ins)}")
        in_types = [graph.type_of(w) for w in ins]
        try:
            out_types = op.infer(node.attrs, in_types)
            specs = op.params(node.attrs, in_types)
        except OpTypeError as err:
            raise IRVerifyError(f"{_where(node)}: {err.message}") from None
        if len(out_types) != n_out or any(
            not a.same_as(b) for a, b in zip(out_types, node.out_types)
        ):
            raise IRVerifyError(
                f"{_where(node)}: its inputs give outputs "
                f"{', '.join(map(str, out_types))}, but it is typed "
                f"{', '.join(map(str, node.out_types))}"
            )
        if set(specs) != set(node.params):
            raise IRVerifyError(f"{_where(node)}: parameters {sorted(node.params)}, expected "
                                f"{sorted(specs)}")
        for pname, path in node.params.items():
            if path not in graph.params:
                raise IRVerifyError(f"{_where(node)}: parameter slot @{path} does not exist")
            if graph.params[path].shape != specs[pname].shape:
                raise IRVerifyError(
                    f"{_where(node)}: @{path} has shape {graph.params[path].shape}, "
                    f"`{pname}` needs {specs[pname].shape}"
                )
