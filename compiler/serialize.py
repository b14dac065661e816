"""The IR as JSON: ``to_json(graph) -> dict`` and ``from_json(data) -> Graph``, lossless.

    {"format": "catspec-ir", "version": 1,
     "graph": {"name": ..., "inputs": [ids], "output": id, "declared_outputs": [types],
               "spec_params": {...},
               "nodes": [{"id", "op", "name", "attrs", "out_types", "inputs": [[id, port]],
                          "params", "span", "meta", "region"}]},
     "params": [{"path", "shape", "dtype", "init", "init_args", "trainable", "derive"}],
     "layout": {"original": [slots as in "params"], "stacks": [[new, [old, …]]]}}

``layout`` is there for graphs that went through passes (``graph.params.layout``): the
table as the spec wrote it and each stacking, so ``Model.init``/``import_params`` of the
read graph behave as on the original.

Types are written in the text form (``f32[N,64]``, ``f32{x:N,c:2}``) and read
back with ``ir_text.parse_type``. JSON arrays read back as tuples (the IR keeps
list-valued attributes as tuples). Node ids are kept, so a round trip gives a
graph whose ``to_json`` is equal. Regions nest as ``"region": {graph}`` and
share the one top-level parameter table.
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import IRVerifyError, Span
from .ir import Derivation, Graph, Node, ParamSlot, ParamTable
from .ir_text import parse_type

FORMAT, VERSION = "catspec-ir", 1


def _plain(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise IRVerifyError(f"cannot write {type(value).__name__} value {value!r} to JSON")


def _tuples(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    if isinstance(value, dict):
        return {k: _tuples(v) for k, v in value.items()}
    return value


def _span(span: Span | None):
    if span is None:
        return None
    return {"file": span.file, "line": span.line, "col": span.col,
            "end_line": span.end_line, "end_col": span.end_col}


def _graph(graph: Graph) -> dict:
    nodes = []
    for node_id in sorted(graph.g.nodes):
        n: Node = graph.node(node_id)
        nodes.append({
            "id": n.id, "op": n.op, "name": n.name, "attrs": _plain(n.attrs),
            "out_types": [str(t) for t in n.out_types],
            "inputs": [[src, port] for src, port in graph.inputs_of(n.id)],
            "params": dict(n.params), "span": _span(n.span), "meta": _plain(n.meta),
            "region": _graph(n.region) if n.region is not None else None,
        })
    return {
        "name": graph.name, "inputs": list(graph.inputs), "output": graph.output,
        "declared_outputs": None if graph.declared_outputs is None
        else [str(t) for t in graph.declared_outputs],
        "spec_params": _plain(graph.spec_params), "next_id": graph._next_id, "nodes": nodes,
    }


def _slot_json(s: ParamSlot) -> dict:
    return {
        "path": s.path, "shape": list(s.shape), "dtype": s.dtype, "init": s.init,
        "init_args": _plain(s.init_args), "trainable": s.trainable,
        "derive": None if s.derive is None else {
            "kind": s.derive.kind, "inputs": dict(s.derive.inputs),
            "attrs": _plain(s.derive.attrs)},
    }


def to_json(graph: Graph) -> dict:
    """A JSON-ready dict holding everything in ``graph`` (see the module docstring)."""
    out = {"format": FORMAT, "version": VERSION, "graph": _graph(graph),
           "params": [_slot_json(s) for s in graph.params]}
    layout = getattr(graph.params, "layout", None)
    if layout is not None:  # set by passes: the table as written and the stackings
        out["layout"] = {"original": [_slot_json(s) for s in layout.original],
                         "stacks": [[new, list(olds)] for new, olds in layout.stacks]}
    return out


def dumps(graph: Graph, indent: int | None = 1) -> str:
    """``to_json`` as text."""
    return json.dumps(to_json(graph), indent=indent)


def _read_graph(data: dict, table: ParamTable) -> Graph:
    graph = Graph(data["name"], table)
    by_id = {}
    for nd in data["nodes"]:
        span = None if nd.get("span") is None else Span(**nd["span"])
        node = Node(nd["id"], nd["op"], _tuples(nd.get("attrs", {})),
                    tuple(parse_type(t) for t in nd["out_types"]), dict(nd.get("params", {})),
                    nd.get("name", ""), span, None, _tuples(nd.get("meta", {})))
        if nd.get("region") is not None:
            node.region = _read_graph(nd["region"], table)
            node.region.parent = graph
        graph.g.add_node(node.id, node=node)
        by_id[node.id] = nd
    for nid, nd in by_id.items():
        for port, (src, sport) in enumerate(nd.get("inputs", [])):
            if src not in graph.g:
                raise IRVerifyError(f"JSON IR: node {nid} reads node {src}, which does not exist")
            graph.connect((src, sport), nid, port)
    graph.inputs = list(data["inputs"])
    graph.output = data["output"]
    if data.get("declared_outputs") is not None:
        graph.declared_outputs = [parse_type(t) for t in data["declared_outputs"]]
    graph.spec_params = _tuples(data.get("spec_params", {}))
    graph._next_id = data.get("next_id", max(by_id, default=-1) + 1)
    return graph


def _read_table(rows: list[dict]) -> ParamTable:
    table = ParamTable()
    for p in rows:
        d = p.get("derive")
        table.add(ParamSlot(
            p["path"], tuple(p["shape"]), p.get("dtype", "f32"), p.get("init", "lecun_normal"),
            _tuples(p.get("init_args", {})), p.get("trainable", True),
            None if d is None else Derivation(d["kind"], dict(d["inputs"]),
                                              _tuples(d.get("attrs", {}))),
        ))
    return table


def from_json(data: dict | str, verify: bool = True) -> Graph:
    """Rebuild a graph from ``to_json`` output (a dict or JSON text); verified by default."""
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as err:
            raise IRVerifyError(f"JSON IR: not valid JSON: {err}") from None
    if not isinstance(data, dict):
        raise IRVerifyError(f"JSON IR: expected an object with \"format\": \"{FORMAT}\", got "
                            f"{type(data).__name__}")
    try:
        graph = _from_dict(data)
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        what = f"missing key {err}" if isinstance(err, KeyError) else str(err)
        raise IRVerifyError(f"JSON IR: malformed ({what})") from None
    check_attributes(graph)
    if verify:
        graph.verify()
    return graph


def check_attributes(graph: Graph) -> None:
    """``read_attributes`` for every node of ``graph``, regions included (the JSON reader)."""
    for node in graph.nodes():
        read_attributes(node)
        if node.region is not None:
            check_attributes(node.region)


# Control ops are not in OPS and keep open attribute sets; these are the keys their
# verifiers (compiler/ops/control.py, recursion.py) and lowerings read without a default.
CONTROL_KEYS = {
    "ctl.scan": ("length", "stacked"),
    "ctl.batched": ("op", "k", "shared"),
    "ctl.fold": ("state", "init", "reverse"),
    "ctl.map": ("axis",),
    "ctl.const": ("value",),
}


def read_attributes(node: Node, where: str | None = None) -> None:
    """Check the attributes of a node read from IR text or JSON (which have not been through
    the elaborator) and fill in the defaults of those left out, as the elaborator would.

    A registered op's attributes are bound like the spec's arguments: an unknown name (with
    a did-you-mean), a value of the wrong kind or a missing required attribute is an
    ``IRVerifyError`` naming the node (id, op, name, spec location and ``where``: the
    reader's own location, e.g. an IR text line) and the attribute. The result is in
    declaration order. Control ops (``ctl.*``) keep their open attribute sets; the keys in
    ``CONTROL_KEYS`` must be there, and a ``ctl.batched`` node's attributes of the op it
    batches are bound like that op's.
    """
    try:
        if not isinstance(node.attrs, dict):
            raise IRVerifyError(f"attributes must be a mapping of names to values, got "
                                f"{type(node.attrs).__name__}")
        node.attrs = _bound_attributes(node.op, node.attrs)
    except IRVerifyError as err:
        from .verify import location

        # as every other IR error names a node: `node 3 (nn.dense `dense_0`, mlp.cat:4:6)`
        parts = [p for p in (location(node), where) if p]
        name = f" `{node.name}`" if node.name else ""
        raise IRVerifyError(f"node {node.id} ({node.op}{name}"
                            f"{', ' + '; '.join(parts) if parts else ''}): {err}") from None


def _bound_attributes(op_name: str, attrs: dict) -> dict:
    from ..errors import did_you_mean
    from .ops.control import BATCHED_KEYS, inner_attrs
    from .ops.registry import OPS

    op = OPS.get(op_name)
    if op is not None:
        return _bind(op, attrs)
    keys = CONTROL_KEYS.get(op_name)
    if keys is None:  # io.* and unknown ops: the verifier's business
        return attrs
    for key in keys:
        if key not in attrs:
            close = [k for k in attrs if did_you_mean(k, [key])]
            hint = f" (found `{close[0]}`: did you mean `{key}`?)" if close else ""
            raise IRVerifyError(f"`{op_name}` is missing its attribute `{key}`{hint}")
    if op_name != "ctl.batched" or not isinstance(attrs["op"], str) or \
            attrs["op"] not in OPS:  # an unknown batched op: the verifier names it
        return attrs
    inner = OPS[attrs["op"]]
    own = {k: v for k, v in attrs.items() if k in BATCHED_KEYS}
    return {**own, **_bind(inner, inner_attrs(attrs))}


def _bind(op, attrs: dict) -> dict:
    """``attrs`` checked against ``op``'s arguments, defaults filled in, declaration order."""
    from .evaluate import KIND_TEXT
    from .ops.registry import REQUIRED
    from .rewrite import bind_attrs

    defaults = {a.name: a.default for a in op.args}
    # `none` is how the IR spells an optional argument left out
    given = {k: v for k, v in attrs.items() if not (v is None and defaults.get(k, 0) is None)}
    if all(k in defaults for k in given):  # else bind_attrs names the unknown one first
        for a in op.args:
            if a.default is REQUIRED and a.name not in given:
                want = KIND_TEXT.get(a.kind, a.kind)
                raise IRVerifyError(f"`{op.surface}` is missing its argument `{a.name}` "
                                    f"({want}, with no default)")
    bind_attrs(op, given)  # unknown names and kinds of values, as the spec checker says them
    # the values as given (bind_attrs would turn `any` tuples into lists, ints into floats)
    return {a.name: attrs.get(a.name, a.default) for a in op.args}


def _from_dict(data: dict) -> Graph:
    if data.get("format") != FORMAT:
        raise IRVerifyError(f"not catspec IR JSON: format is {data.get('format')!r}, "
                            f"expected {FORMAT!r}")
    if data.get("version") != VERSION:
        raise IRVerifyError(f"catspec IR JSON version {data.get('version')!r} is not supported "
                            f"(this catspec reads version {VERSION})")
    table = _read_table(data["params"])
    if data.get("layout") is not None:
        from .passes.layout import ParamLayout

        lay = data["layout"]
        table.layout = ParamLayout(_read_table(lay["original"]),
                                   [(new, tuple(olds)) for new, olds in lay["stacks"]])
    return _read_graph(data["graph"], table)
