"""Parsing the IR's text form (``printer.py``) back into a ``Graph``.

    graph mlp(%0: f32[784]) -> f32[10] {
      %1: f32[16] = nn.dense[out=16, bias=true](%0) {w=@dense_0/w, b=@dense_0/b}  # dense_0  mlp.cat:4:6
      %2: f32[16] = act.relu(%1)                                                  # relu_0  mlp.cat:4:22
      return %2
    }

    parameters:
    @dense_0/w  f32[784,16]  trained  init=lecun_normal  dense_0

The text printed by ``print_ir`` (or by ``catspec show``) parses back to a
graph that prints identically and computes the same function: value names
become wires, the comment gives the instance name and source location, the
optional ``parameters:`` section gives each slot's shape, initializer,
trainability and derivation (without it, slots come from the ops' parameter
rules: default initializer, trained); a trailing ``^r.c`` in the comment is the node's repetition tag (``meta["repeat"]``,
what ``repeat-to-scan`` reads). Input names are not in the text; JSON keeps everything.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import IRVerifyError, Span
from .dims import Dim
from .ir import Derivation, Graph, ParamSlot
from .ops.registry import OPS
from .types import TensorType

_TOKEN = re.compile(r"""
    (?P<ws>[ \t]+)
  | (?P<comment>\#.*)
  | (?P<value>%\d+)
  | (?P<slot>@[^\s,(){}\[\]=]+)
  | (?P<str>"(?:[^"\\]|\\.)*")
  | (?P<num>(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?)
  | (?P<name>[A-Za-z_][\w.]*)
  | (?P<op>//|->|[-+*/()\[\]{}=,:])
""", re.VERBOSE)


class _Tokens:
    """A line's tokens with one-token lookahead; errors name the line."""

    def __init__(self, text: str, lineno: int):
        self.text, self.lineno, self.items, pos = text, lineno, [], 0
        self.comment = ""
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if m is None:
                self.fail(f"unexpected character `{text[pos]}`")
            pos = m.end()
            kind = m.lastgroup
            if kind == "comment":
                self.comment = m.group()[1:].strip()
            elif kind != "ws":
                self.items.append((kind, m.group()))
        self.i = 0

    def fail(self, message: str):
        raise IRVerifyError(f"IR text line {self.lineno}: {message}: {self.text.strip()}")

    def peek(self) -> str | None:
        return self.items[self.i][1] if self.i < len(self.items) else None

    def kind(self) -> str | None:
        return self.items[self.i][0] if self.i < len(self.items) else None

    def next(self) -> str:
        if self.i >= len(self.items):
            self.fail("unexpected end of line")
        self.i += 1
        return self.items[self.i - 1][1]

    def expect(self, text: str) -> None:
        got = self.next()
        if got != text:
            self.fail(f"expected `{text}`, found `{got}`")

    def accept(self, text: str) -> bool:
        if self.peek() == text:
            self.i += 1
            return True
        return False

    def done(self) -> bool:
        return self.i >= len(self.items)


# -- types and dims -------------------------------------------------------------------
def _dim_atom(t: _Tokens):
    if t.accept("("):
        d = _dim_sum(t)
        t.expect(")")
        return d
    if t.accept("-"):
        return -_dim_atom(t)
    kind, tok = t.kind(), t.next()
    if kind == "num":
        return int(tok)
    if kind == "name":
        return Dim.symbol(tok)
    t.fail(f"expected a size, found `{tok}`")


def _dim_prod(t: _Tokens):
    d = _dim_atom(t)
    while t.peek() in ("*", "//"):
        op = t.next()
        rhs = _dim_atom(t)
        d = d * rhs if op == "*" else d // rhs
    return d


def _dim_sum(t: _Tokens):
    d = _dim_prod(t)
    while t.peek() in ("+", "-"):
        op = t.next()
        rhs = _dim_prod(t)
        d = d + rhs if op == "+" else d - rhs
    return d


def _type(t: _Tokens) -> TensorType:
    from .types import NUMPY_DTYPE

    dtype = t.next()
    if dtype not in NUMPY_DTYPE:
        t.fail(f"unknown dtype `{dtype}` (dtypes: {', '.join(sorted(NUMPY_DTYPE))})")
    opener = t.next()
    if opener not in ("[", "{"):
        t.fail(f"expected `[` or `{{` after the dtype, found `{opener}`")
    closer = "]" if opener == "[" else "}"
    shape, axes = [], []
    while not t.accept(closer):
        if shape:
            t.expect(",")
        if t.kind() == "name" and t.items[t.i + 1][1] == ":":
            axes.append(t.next())
            t.next()
        shape.append(_dim_sum(t))
    if axes and len(axes) != len(shape):
        t.fail("name every axis of a type or none")
    return TensorType(tuple(shape), dtype, tuple(axes) if axes else None, opener == "{")


def parse_type(text: str) -> TensorType:
    """``"f32[N,64]"``, ``"f32[t:T,d:64]"`` or ``"f32{x:N,c:2}"`` -> ``TensorType``."""
    t = _Tokens(text, 1)
    out = _type(t)
    if not t.done():
        t.fail("trailing text after a type")
    return out


# -- attribute values ------------------------------------------------------------------
def _value(t: _Tokens) -> Any:
    if t.accept("["):
        items = []
        while not t.accept("]"):
            if items:
                t.expect(",")
            items.append(_value(t))
        return tuple(items)
    if t.accept("{"):
        return _entries(t, "}")
    neg = t.accept("-")
    kind, tok = t.kind(), t.next()
    if kind == "num":
        v = float(tok) if any(c in tok for c in ".eE") else int(tok)
        return -v if neg else v
    if kind == "str":
        return re.sub(r"\\(.)", r"\1", tok[1:-1])
    consts = {"true": True, "false": False, "none": None, "inf": float("inf"),
              "nan": float("nan")}
    if kind == "name" and tok in consts:
        v = consts[tok]
        return -v if neg else v
    t.fail(f"expected a value, found `{tok}`")


def _entries(t: _Tokens, close: str) -> dict[str, Any]:
    """``key=value, …`` up to ``close`` (the opener already read)."""
    out: dict[str, Any] = {}
    while not t.accept(close):
        if out:
            t.expect(",")
        key = t.next()
        t.expect("=")
        out[key] = _value(t)
    return out


def _attrs(t: _Tokens) -> dict[str, Any]:
    return _entries(t, "]") if t.accept("[") else {}


def _slot_map(t: _Tokens, open_: str, close: str) -> dict[str, str]:
    out: dict[str, str] = {}
    t.expect(open_)
    while not t.accept(close):
        if out:
            t.expect(",")
        key = t.next()
        t.expect("=")
        if t.kind() != "slot":
            t.fail("expected a slot `@path`")
        out[key] = t.next()[1:]
    return out


_STACKING = ("ctl.scan", "ctl.batched")  # ops whose slots a pass stacked
_LOC = re.compile(r"^(.*):(\d+):(\d+)$")
_REPEAT = re.compile(r"^\^(\d+\.\d+(?:/\d+\.\d+)*)$")


def _comment(text: str) -> tuple[str, Span | None, dict]:
    """``"dense_0  mlp.cat:4:6  ^0.1"`` -> name, span and meta (each may be missing)."""
    parts = text.split()
    span, meta = None, {}
    if parts and (m := _REPEAT.match(parts[-1])):
        meta["repeat"] = tuple(tuple(int(v) for v in rc.split("."))
                               for rc in m.group(1).split("/"))
        parts = parts[:-1]
    if parts and (m := _LOC.match(parts[-1])):
        span = Span(m.group(1), int(m.group(2)), int(m.group(3)))
        parts = parts[:-1]
    return (parts[0] if parts else ""), span, meta


# -- graphs ----------------------------------------------------------------------------
class _Parser:
    def __init__(self, text: str):
        self.lines = text.splitlines()
        self.i = 0
        self.values: dict[str, tuple[Graph, tuple[int, int]]] = {}
        self.pending: list[tuple[Graph, Any, dict[str, str]]] = []

    def parse(self) -> Graph:
        self._skip_blank()
        graph = self._graph(None)
        self._skip_blank()
        slots = self._params() if self.i < len(self.lines) else None
        self._fill_params(graph, slots)
        if self.i < len(self.lines):
            self._layout(graph)
        return graph

    def _skip_blank(self):
        while self.i < len(self.lines) and not self.lines[self.i].strip():
            self.i += 1

    def _line(self) -> _Tokens:
        if self.i >= len(self.lines):
            raise IRVerifyError("IR text ends inside a graph (missing `}`)")
        self.i += 1
        return _Tokens(self.lines[self.i - 1], self.i)

    def _graph(self, table) -> Graph:
        t = self._line()
        if t.next() != "graph":
            t.fail("expected `graph name(...) -> ... {`")
        name = t.next()
        while t.accept("/"):  # a region is named after its owner: `deep/scan`
            name += "/" + t.next()
        graph = Graph(name, table)
        t.expect("(")
        inputs = []
        while not t.accept(")"):
            if inputs:
                t.expect(",")
            inputs.append(t.next())
            t.expect(":")
            ty = _type(t)
            wire = graph.add_input(ty, "x")
            self._define(t, inputs[-1], graph, wire)
        if len(inputs) > 1:
            for k, i in enumerate(graph.inputs):
                graph.node(i).name = f"x{k}"
        t.expect("->")
        self._bundle(t)
        t.expect("{")
        last = None
        while True:
            t = self._line()
            head = t.peek()
            if head == "}":
                raise IRVerifyError(f"IR text line {t.lineno}: graph `{graph.name}` has no "
                                    f"`return`")
            if head == "graph":
                if last is None:
                    t.fail("a region must follow the node that owns it")
                self.i -= 1
                last.region = self._graph(graph.params)
                last.region.parent = graph
                continue
            if head == "return":
                t.next()
                outs = []
                while not t.done():
                    if outs:
                        t.expect(",")
                    outs.append(self._use(t, graph))
                graph.set_outputs(outs)
                graph.declared_outputs = list(graph.output_types)
                if self._line().peek() != "}":
                    raise IRVerifyError(f"IR text line {self.i}: expected `}}` after `return`")
                return graph
            last = self._node(t, graph)

    def _bundle(self, t: _Tokens) -> list[TensorType]:
        if t.accept("("):
            out = []
            while not t.accept(")"):
                if out:
                    t.expect(",")
                out.append(_type(t))
            return out
        return [_type(t)]

    def _define(self, t: _Tokens, name: str, graph: Graph, wire) -> None:
        if name in self.values:
            t.fail(f"value {name} is defined twice")
        self.values[name] = (graph, wire)

    def _use(self, t: _Tokens, graph: Graph):
        name = t.next()
        if name not in self.values:
            t.fail(f"value {name} is used before it is defined")
        owner, wire = self.values[name]
        if owner is not graph:
            t.fail(f"value {name} belongs to another graph")
        return wire

    def _node(self, t: _Tokens, graph: Graph):
        outs: list[tuple[str, TensorType]] = []
        if t.accept("("):
            t.expect(")")
        else:
            while True:
                name = t.next()
                t.expect(":")
                outs.append((name, _type(t)))
                if not t.accept(","):
                    break
        t.expect("=")
        op = t.next()
        attrs = _attrs(t)
        t.expect("(")
        ins = []
        while not t.accept(")"):
            if ins:
                t.expect(",")
            ins.append(self._use(t, graph))
        params = _slot_map(t, "{", "}") if t.peek() == "{" else {}
        if not t.done():
            t.fail(f"unexpected `{t.peek()}`")
        name, span, meta = _comment(t.comment)
        node = graph.add_node(op, ins, tuple(ty for _, ty in outs), attrs, params=params,
                              name=name, span=span, meta=meta)
        from .serialize import read_attributes  # serialize imports this module

        # checked and completed with the op's defaults before anything reads them
        read_attributes(node, f"IR text line {t.lineno}")
        for k, (value, _) in enumerate(outs):
            self._define(t, value, graph, (node.id, k))
        self.pending.append((graph, node, params))
        return node

    def _params(self) -> dict[str, ParamSlot]:
        t = self._line()
        if t.peek() != "parameters":
            t.fail("expected `parameters:` or the end of the text")
        return self._slot_rows()

    def _slot_rows(self) -> dict[str, ParamSlot]:
        """Slot rows up to the end of the text or the `layout:` line."""
        slots: dict[str, ParamSlot] = {}
        while self.i < len(self.lines):
            text = self.lines[self.i]
            if text.strip() in ("layout:",) or text.startswith("stack "):
                break
            self.i += 1
            if not text.strip() or text.startswith("total:"):
                continue
            fields = [f for f in text.split("  ") if f.strip()]
            if len(fields) < 3:
                _Tokens(text, self.i).fail("expected `@path  dtype[shape]  trained|frozen  "
                                           "init=…` or `@path  dtype[shape]  = kind(…)`")
            t = _Tokens(fields[0] + " " + fields[1], self.i)
            path = t.next()[1:]
            shape = _type(t)
            if any(not isinstance(s, int) for s in shape.shape):
                t.fail("a parameter needs a concrete shape")
            slot = ParamSlot(path, tuple(shape.shape), shape.dtype)
            kind = fields[2]
            if kind.startswith("="):
                k = _Tokens(kind[1:], self.i)
                name = k.next()
                attrs = _attrs(k)
                slot.derive = Derivation(name, _slot_map(k, "(", ")"), attrs)
            else:
                slot.trainable = kind == "trained"
                k = _Tokens(fields[3].removeprefix("init="), self.i)
                slot.init = k.next()
                if k.accept("("):
                    slot.init_args = _entries(k, ")")
            slots[path] = slot
        return slots

    def _layout(self, graph: Graph) -> None:
        """``layout:``: the table as written, then ``stack @new = [@old, …]`` lines."""
        from .ir import ParamTable
        from .passes.layout import ParamLayout

        self._skip_blank()
        t = self._line()
        if t.peek() != "layout":
            t.fail("expected `layout:` or the end of the text")
        original = ParamTable()
        for slot in self._slot_rows().values():
            original.add(slot)
        stacks = []
        while self.i < len(self.lines):
            text = self.lines[self.i]
            self.i += 1
            if not text.strip():
                continue
            t = _Tokens(text, self.i)
            if t.next() != "stack" or t.kind() != "slot":
                t.fail("expected `stack @path = [@path, …]`")
            new = t.next()[1:]
            t.expect("=")
            t.expect("[")
            olds = []
            while not t.accept("]"):
                if olds:
                    t.expect(",")
                if t.kind() != "slot":
                    t.fail("expected a slot `@path`")
                olds.append(t.next()[1:])
            stacks.append((new, tuple(olds)))
        graph.params.layout = ParamLayout(original, stacks)

    def _fill_params(self, graph: Graph, slots: dict[str, ParamSlot] | None) -> None:
        table = graph.params
        if slots is not None:
            for slot in slots.values():
                table.add(slot)
            return
        for _, node, params in self.pending:
            derived = [p for p in params.values() if "~" in p]
            if derived:
                raise IRVerifyError(
                    f"IR text: `{node.name}` reads @{derived[0]}, a slot derived by a "
                    "reparametrisation, which only a parameter table can describe; parse the "
                    "output of `print_ir`, which has the `parameters:` table")
            if node.op in _STACKING:
                raise IRVerifyError(
                    f"IR text: `{node.name}` ({node.op}) reads stacked parameter slots, which "
                    "only a parameter table can describe; parse the output of `print_ir`, "
                    "which has the `parameters:` table")
        for g, node, params in self.pending:
            op = OPS.get(node.op)
            if op is None or not params:
                continue
            specs = op.params(node.attrs, [g.type_of(w) for w in g.inputs_of(node.id)])
            for pname, path in params.items():
                spec = specs.get(pname)
                if path not in table and spec is not None:
                    table.add(ParamSlot(path, spec.shape, spec.dtype, spec.init,
                                        dict(spec.init_args)))
        for _, node, params in self.pending:
            for path in params.values():
                if path not in table:
                    raise IRVerifyError(
                        f"IR text: slot @{path} of `{node.name}` is not in a parameter table "
                        "and its op cannot infer it (a stacked or derived slot, made by a pass "
                        "or a reparametrisation); parse the output of `print_ir`, which has "
                        "the `parameters:` table")


def parse_ir(text: str, verify: bool = True) -> Graph:
    """Parse the text form back into a ``Graph`` (verified unless ``verify=False``).

    Accepts ``print_ir`` output, ``print_graph`` output alone, and ``catspec show`` output.
    """
    graph = _Parser(text).parse()
    if verify:
        graph.verify()
    return graph
