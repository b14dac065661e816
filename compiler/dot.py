"""Graphviz DOT text of a graph: one box per op, wires labelled with their types.

``dot -Tsvg`` renders it (``catspec show --format svg`` does that when the
``dot`` binary is installed). Boundary inputs and the output are ellipses;
a node's region is drawn as a cluster inside the node's own subgraph.
"""

from __future__ import annotations

from .ir import Graph, Node
from .printer import format_attrs, location


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _label(node: Node) -> str:
    if node.op == "io.input":
        return f"{node.name or 'input'}\n{node.out_types[0]}"
    if node.op == "io.output":
        return "output"
    lines = [node.op + format_attrs(node.attrs)]
    if node.name:
        lines.append(node.name)
    loc = location(node)
    if loc:
        lines.append(loc)
    return "\n".join(lines)


def _body(graph: Graph, prefix: str, lines: list[str], indent: str) -> None:
    for node in graph.topological():
        key = f"{prefix}n{node.id}"
        shape = "ellipse" if node.op in ("io.input", "io.output") else "box"
        lines.append(f"{indent}{key} [label={_q(_label(node))}, shape={shape}];")
        if node.region is not None:
            sub = f"{key}_"
            lines.append(f"{indent}subgraph cluster_{sub} {{")
            lines.append(f"{indent}  label={_q(node.name + ' region')};")
            _body(node.region, sub, lines, indent + "  ")
            lines.append(f"{indent}}}")
    for src, dst, data in sorted(graph.g.edges(data=True),
                                 key=lambda e: (e[1], e[2]["dst_port"])):
        label = str(data["type"])
        n_in = graph.g.in_degree(dst)
        if n_in > 1:
            label = f"{label} → {data['dst_port']}"
        lines.append(f"{indent}{prefix}n{src} -> {prefix}n{dst} [label={_q(label)}];")


def to_dot(graph: Graph) -> str:
    """The DOT text of ``graph`` (deterministic: nodes in topological order)."""
    lines = [f"digraph {_q(graph.name)} {{", "  rankdir=TB;",
             '  node [fontname="monospace", fontsize=10];',
             '  edge [fontname="monospace", fontsize=9];']
    _body(graph, "", lines, "  ")
    lines.append("}")
    return "\n".join(lines) + "\n"
