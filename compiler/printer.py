"""The IR's text form: one node per line, typed, with its parameter slots, instance name
and source location; then (``print_ir``) the parameter table.

    graph mlp(%0: f32[784]) -> f32[10] {
      %1: f32[16] = nn.dense[out=16, bias=true](%0) {w=@dense_0/w, b=@dense_0/b}  # dense_0  mlp.cat:4:6
      %2: f32[16] = act.relu(%1)                                                  # relu_0   mlp.cat:4:22
      ...
      return %5
    }

Values are numbered when printing (as in a jaxpr), so the text is deterministic
and independent of node ids. ``compiler/ir_text.py`` parses it back.
"""

from __future__ import annotations

from pathlib import PurePath

from .ir import Graph, Node
from .types import bundle_str


def format_attr(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(format_attr(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={format_attr(v)}" for k, v in value.items()) + "}"
    if value is None:
        return "none"
    return repr(value)


def format_attrs(attrs: dict) -> str:
    if not attrs:
        return ""
    return "[" + ", ".join(f"{k}={format_attr(v)}" for k, v in attrs.items()) + "]"


def location(node: Node) -> str:
    if node.span is None:
        return ""
    return f"{PurePath(node.span.file).name}:{node.span.line}:{node.span.col}"


def repeat_tag(node: Node) -> str:
    """``^0.1/2.0`` for ``meta["repeat"] == ((0, 1), (2, 0))``: which copy of which ``f ^ n``
    (outermost first) the node was unrolled from; ``repeat-to-scan`` reads it."""
    rep = node.meta.get("repeat", ())
    return "^" + "/".join(f"{r}.{c}" for r, c in rep) if rep else ""


ALIGN_LIMIT = 120


def print_graph(graph: Graph, indent: str = "", names: dict | None = None) -> str:
    """The text form of ``graph`` (regions are printed nested, indented)."""
    names = {} if names is None else names
    counter = [len(names)]

    def name_of(wire) -> str:
        # Keyed by graph too: a region's node ids may repeat its parent's.
        key = (id(graph), wire)
        if key not in names:
            names[key] = f"%{counter[0]}"
            counter[0] += 1
        return names[key]

    ins = ", ".join(f"{name_of((i, 0))}: {graph.node(i).out_types[0]}" for i in graph.inputs)
    lines = [f"{indent}graph {graph.name}({ins}) -> {bundle_str(graph.output_types)} {{"]
    body = []
    for node in graph.topological():
        if node.op in ("io.input", "io.output"):
            continue
        args = ", ".join(name_of(w) for w in graph.inputs_of(node.id))
        outs = [f"{name_of((node.id, k))}: {t}" for k, t in enumerate(node.out_types)]
        lhs = ", ".join(outs) if outs else "()"
        text = f"{lhs} = {node.op}{format_attrs(node.attrs)}({args})"
        if node.params:
            text += " {" + ", ".join(f"{k}=@{v}" for k, v in node.params.items()) + "}"
        body.append((text, (node.name, location(node), repeat_tag(node))))
        if node.region is not None:
            region = print_graph(node.region, indent + "    ", names)
            counter[0] = len(names)  # the region numbered its values from the shared table
            body.append((region, None))
    # The comment names the instance and its source location, so the text parses back.
    # Comments line up after the ops, except after lines longer than ALIGN_LIMIT (a
    # `ctl.scan` with its stacked slots): those would push every comment far right.
    width = max((len(t) for t, c in body if c is not None and any(c) and len(t) <= ALIGN_LIMIT),
                default=0)
    name_width = max((len(c[0]) for t, c in body if c is not None and c[1]), default=0)
    loc_width = max((len(c[1]) for t, c in body if c is not None and c[2]), default=0)
    for text, c in body:
        if c is None:
            lines.append(text)
        elif any(c):
            comment = f"{c[0].ljust(name_width)}  {c[1]}".strip() if c[1] else c[0]
            if c[2]:
                comment = f"{c[0].ljust(name_width)}  {c[1].ljust(loc_width)}  {c[2]}"
            lines.append(f"{indent}  {text.ljust(width)}  # {comment}")
        else:
            lines.append(f"{indent}  {text}")
    outs = ", ".join(name_of(w) for w in graph.output_wires)
    lines.append(f"{indent}  return {outs}")
    lines.append(f"{indent}}}")
    return "\n".join(lines)


def _slot_kind(slot) -> str:
    if slot.derive is not None:
        return f"= {slot.derive.kind}{format_attrs(slot.derive.attrs)}(" + ", ".join(
            f"{k}=@{v}" for k, v in slot.derive.inputs.items()) + ")"
    kind = ("trained" if slot.trainable else "frozen") + f"  init={slot.init}"
    if slot.init_args:
        kind += "(" + ", ".join(f"{k}={format_attr(v)}" for k, v in slot.init_args.items()) + ")"
    return kind


def _slot_row(slot) -> tuple[str, str, str]:
    return f"@{slot.path}", f"{slot.dtype}[" + ",".join(str(s) for s in slot.shape) + "]", \
        _slot_kind(slot)


def print_layout(graph: Graph) -> str:
    """The ``layout:`` section: the parameter table as the spec wrote it, and each stacking a
    pass made (empty when the parameters are still as written)."""
    layout = getattr(graph.params, "layout", None)
    if layout is None:
        return ""
    if not layout.stacks and [s.path for s in layout.original] == [s.path for s in graph.params]:
        return ""
    rows = ["  ".join(_slot_row(s)) for s in layout.original]
    rows += [f"stack @{new} = [" + ", ".join(f"@{o}" for o in olds) + "]"
             for new, olds in layout.stacks]
    return "\n".join(rows)


def print_params(graph: Graph) -> str:
    """A table of parameter slots: root slots with shape, init and whether trained."""
    rows = []
    used = graph.slots_used()
    for slot in graph.params:
        readers = used.get(slot.path, []) if slot.derive is None else graph.slot_readers(slot.path)
        users = sorted({n.name for n in readers if n.name})
        rows.append((*_slot_row(slot), ", ".join(users)))
    return "\n".join("  ".join(r).rstrip() for r in rows)


def print_ir(graph: Graph) -> str:
    """The full text form: the graph, then its parameter table (what ``parse_ir`` reads)."""
    text = print_graph(graph) + "\n\nparameters:\n" + print_params(graph) + "\n"
    layout = print_layout(graph)
    return text + ("\nlayout:\n" + layout + "\n" if layout else "")
