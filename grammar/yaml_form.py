"""The YAML surface syntax: load it to the AST (with line/column) and print the AST as YAML.

A YAML spec is a list of items::

    - model: mlp
      params: {width: {type: int, default: 128}}
      type: Tensor[784] -> Tensor[10]
      body:
        seq: [dense(width), relu, {dense: [10]}]

Expressions: a YAML string is an expression of the text language (``dense(64)``,
``4 * d``); numbers and booleans are literals; a list is a list literal;
mappings spell the structure: ``seq``/``par``/``sum`` (lists of 2+ terms),
``{repeat: f, times: n}``, ``{if: c, then: a, else: b}``, ``{layer: f, with: r}``,
``{layer: f, as: name}``, ``{call: f, args: […], kwargs: {…}}`` and the short
call forms ``{dense: [64]}`` / ``{dense: {out: 64}}`` / ``{dense: 64}``. Named-wire
bodies are ``block:`` lists of ``{name: expr}`` and a final ``{return: …}``.

Loading uses ``yaml.compose`` with the safe loader: it builds plain nodes with
positions and never constructs Python objects.
"""

from __future__ import annotations

import yaml

from ..errors import Span, SpecError, did_you_mean, remember_source
from ..limits import MAX_INT_DIGITS, MAX_YAML_NODES
from . import ast as A
from .formatter import expr as format_expr
from .formatter import reparam as format_reparam
from .formatter import signature as format_signature
from .parser import PARAM_TYPES, check_nesting, parse_expr, parse_signature

STRUCTURAL = ("seq", "par", "sum")
_CHAIN_OP = {"seq": ">>", "par": "@", "sum": "+"}
_ITEM_KEYS = {
    "import": ("import", "as"),
    "def": ("def", "params", "type", "body", "block"),
    "model": ("model", "params", "type", "body", "block", "train"),
}
_T = "tag:yaml.org,2002:"


class _Loader:
    def __init__(self, file: str):
        self.file = file
        self.expanded = 0  # expression nodes read, aliases counted each time they are used

    # -- helpers ------------------------------------------------------------
    def span(self, node) -> Span:
        s, e = node.start_mark, node.end_mark
        return Span(self.file, s.line + 1, s.column + 1, e.line + 1, e.column + 1)

    def fail(self, node, message, hint=None):
        raise SpecError(message, self.span(node), hint)

    def mapping(self, node, what: str) -> dict[str, tuple]:
        if not isinstance(node, yaml.MappingNode):
            self.fail(node, f"{what} must be a mapping")
        out: dict[str, tuple] = {}
        for k, v in node.value:
            if not isinstance(k, yaml.ScalarNode):
                self.fail(k, f"keys of {what} must be names")
            if k.value in out:
                self.fail(k, f"key `{k.value}` appears twice in {what}")
            out[k.value] = (k, v)
        return out

    def name(self, node, what: str) -> str:
        if not isinstance(node, yaml.ScalarNode) or node.tag != _T + "str":
            self.fail(node, f"{what} must be a name")
        return node.value

    # -- module ------------------------------------------------------------------
    def module(self, root) -> A.Module:
        if root is None:
            return A.Module(items=[], file=self.file)
        if not isinstance(root, yaml.SequenceNode):
            self.fail(root, "a YAML spec is a list of items", "start each item with `- model: name`, "
                      "`- def: name` or `- import: path`")
        return A.Module(items=[self.item(n) for n in root.value], file=self.file,
                        span=self.span(root))

    def item(self, node):
        entries = self.mapping(node, "an item")
        kinds = [k for k in _ITEM_KEYS if k in entries]
        if len(kinds) != 1:
            hint = None
            if not kinds:  # a misspelt `model:` is the usual cause
                hint = next((did_you_mean(k, _ITEM_KEYS) for k in entries
                             if did_you_mean(k, _ITEM_KEYS)), None)
            self.fail(node, "an item needs exactly one of `model:`, `def:` or `import:`", hint)
        kind = kinds[0]
        for key, (knode, _) in entries.items():
            if key not in _ITEM_KEYS[kind]:
                self.fail(knode, f"unknown key `{key}` in a {kind}",
                          did_you_mean(key, _ITEM_KEYS[kind]))
        span = self.span(node)
        if kind == "import":
            if "as" not in entries:
                self.fail(node, "an import needs `as: name`")
            return A.Import(path=self.name(entries["import"][1], "the import path"),
                            alias=self.name(entries["as"][1], "`as`"), span=span)
        name = self.name(entries[kind][1], f"the {kind} name")
        params = self.params(entries["params"][1]) if "params" in entries else []
        sig = self.signature(entries["type"][1]) if "type" in entries else None
        if ("body" in entries) == ("block" in entries):
            self.fail(node, f"a {kind} needs exactly one of `body:` (an expression) or "
                      "`block:` (named-wire statements)")
        body = (self.expr(entries["body"][1]) if "body" in entries
                else self.block(entries["block"][1]))
        if kind == "def":
            return A.Def(name=name, params=params, signature=sig, body=body, span=span)
        if sig is None:
            self.fail(node, "a model needs `type: A -> B`")
        train = self.train(entries["train"][1]) if "train" in entries else None
        return A.Model(name=name, params=params, signature=sig, body=body, train=train,
                       span=span)

    def params(self, node) -> list[A.Param]:
        out = []
        for key, (knode, vnode) in self.mapping(node, "`params`").items():
            default = None
            if isinstance(vnode, yaml.MappingNode):
                fields = self.mapping(vnode, f"parameter `{key}`")
                for f, (fnode, _) in fields.items():
                    if f not in ("type", "default"):
                        self.fail(fnode, f"unknown key `{f}` in parameter `{key}`",
                                  did_you_mean(f, ("type", "default")))
                if "type" not in fields:
                    self.fail(vnode, f"parameter `{key}` needs a `type`")
                tnode = fields["type"][1]
                if "default" in fields:
                    default = self.expr(fields["default"][1])
            else:
                tnode = vnode
            ptype = self.name(tnode, f"the type of `{key}`")
            if ptype not in PARAM_TYPES:
                self.fail(tnode, f"unknown parameter type `{ptype}`",
                          did_you_mean(ptype, PARAM_TYPES) or "parameter types are int, float, "
                          "bool and str")
            out.append(A.Param(name=key, type=ptype, default=default, span=self.span(knode)))
        return out

    def _text(self, node, what):
        if not isinstance(node, yaml.ScalarNode) or node.tag != _T + "str":
            self.fail(node, f"{what} must be written as text")
        quoted = 1 if node.style in ("'", '"') else 0
        return node.value, node.start_mark.line + 1, node.start_mark.column + 1 + quoted

    def signature(self, node) -> A.Signature:
        text, line, col = self._text(node, "`type`")
        return parse_signature(text, self.file, line, col)

    def block(self, node) -> A.Block:
        if not isinstance(node, yaml.SequenceNode):
            self.fail(node, "`block` is a list of `- name: expr` and a final `- return: …`")
        stmts, returns, rspan = [], None, None
        for s in node.value:
            entries = self.mapping(s, "a statement")
            if len(entries) != 1:
                self.fail(s, "a statement is one `name: expr` (or `a, b: expr`)")
            (key, (knode, vnode)), = entries.items()
            if returns is not None:
                self.fail(s, "statement after `return`", "`return` must be the last statement")
            if key == "return":
                values = vnode.value if isinstance(vnode, yaml.SequenceNode) else [vnode]
                returns, rspan = [self.expr(v) for v in values], self.span(s)
                continue
            targets = [t.strip() for t in key.split(",")]
            if not all(t.isidentifier() for t in targets):
                self.fail(knode, f"`{key}` is not a name (or comma-separated names)")
            stmts.append(A.Assign(targets=targets, value=self.expr(vnode), span=self.span(s)))
        if returns is None:
            self.fail(node, "block has no `return`", "end the block with `- return: wire`")
        return A.Block(stmts=stmts, returns=returns, return_span=rspan, span=self.span(node))

    def train(self, node) -> list[A.TrainEntry]:
        return [A.TrainEntry(key=k, value=self.expr(v), span=self.span(kn))
                for k, (kn, v) in self.mapping(node, "`train`").items()]

    # -- expressions -----------------------------------------------------------------
    def expr(self, node) -> A.Expr:
        span = self.span(node)
        self.expanded += 1
        if self.expanded > MAX_YAML_NODES:
            self.fail(node, f"the spec expands to more than {MAX_YAML_NODES:,} expression "
                      "nodes", "an alias (`*name`) repeats everything its anchor names; "
                      "aliases of aliases multiply: use `repeat:`/`times:` or a `def`")
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node, span)
        if isinstance(node, yaml.SequenceNode):
            return A.ListExpr(items=[self.expr(n) for n in node.value], span=span)
        entries = self.mapping(node, "an expression")
        keys = set(entries)
        if len(keys) == 1 and keys <= set(STRUCTURAL):
            (key, (_, vnode)), = entries.items()
            if not isinstance(vnode, yaml.SequenceNode) or len(vnode.value) < 2:
                self.fail(vnode, f"`{key}` takes a list of at least two terms")
            terms = [self.expr(n) for n in vnode.value]
            out = terms[0]
            for t in terms[1:]:
                out = A.BinOp(op=_CHAIN_OP[key], left=out, right=t, span=span)
            return out
        if keys == {"repeat", "times"}:
            return A.BinOp(op="^", left=self.expr(entries["repeat"][1]),
                           right=self.expr(entries["times"][1]), span=span)
        if keys == {"if", "then", "else"}:
            return A.IfExpr(cond=self.expr(entries["if"][1]), then=self.expr(entries["then"][1]),
                            orelse=self.expr(entries["else"][1]), span=span)
        if keys == {"layer", "with"}:
            return A.With(expr=self.expr(entries["layer"][1]),
                          reparam=self.reparam(entries["with"][1]), span=span)
        if keys == {"layer", "as"}:
            return A.As(expr=self.expr(entries["layer"][1]),
                        name=self.name(entries["as"][1], "`as`"), span=span)
        if "call" in keys and keys <= {"call", "args", "kwargs"}:
            args = entries.get("args")
            kwargs = entries.get("kwargs")
            return A.Call(func=self.expr(entries["call"][1]),
                          args=self.args(args[1]) if args else [],
                          kwargs=self.kwargs(kwargs[1]) if kwargs else [], span=span)
        if len(keys) == 1:
            (key, (knode, vnode)), = entries.items()
            if not key.isidentifier():
                self.fail(knode, f"`{key}` is not a layer name")
            func = A.Name(id=key, span=self.span(knode))
            if isinstance(vnode, yaml.SequenceNode):
                return A.Call(func=func, args=self.args(vnode), span=span)
            if isinstance(vnode, yaml.MappingNode):
                return A.Call(func=func, kwargs=self.kwargs(vnode), span=span)
            return A.Call(func=func, args=[self.expr(vnode)], span=span)
        known = ["seq", "par", "sum", "repeat/times", "if/then/else", "layer/with", "layer/as",
                 "call/args/kwargs", "<layer name>"]
        self.fail(node, f"cannot read an expression with keys {', '.join(sorted(keys))}",
                  f"expression mappings are: {', '.join(known)}")

    def args(self, node) -> list[A.Expr]:
        if not isinstance(node, yaml.SequenceNode):
            self.fail(node, "positional arguments must be a list")
        return [self.expr(n) for n in node.value]

    def kwargs(self, node) -> list[A.Kwarg]:
        return [A.Kwarg(name=k, value=self.expr(v), span=self.span(kn))
                for k, (kn, v) in self.mapping(node, "keyword arguments").items()]

    def reparam(self, node) -> A.Reparam:
        text, line, col = self._text(node, "`with`")
        e = parse_expr(text, self.file, line, col)
        if isinstance(e, A.Name):
            return A.Reparam(name=e.id, span=e.span)
        if isinstance(e, A.Call) and isinstance(e.func, A.Name):
            return A.Reparam(name=e.func.id, args=e.args, kwargs=e.kwargs, called=True,
                             span=e.span)
        self.fail(node, "`with` takes a reparametrisation like `lora(rank=4)` or `freeze`")

    def scalar(self, node, span) -> A.Expr:
        tag = node.tag
        if tag == _T + "str":
            text, line, col = self._text(node, "an expression")
            return parse_expr(text, self.file, line, col)
        value = node.value
        kind = tag.removeprefix(_T)
        try:
            if tag == _T + "int":
                digits = value.lstrip("+-").replace("_", "")
                if len(digits) > MAX_INT_DIGITS:
                    self.fail(node, f"an integer of {len(digits)} digits is too long",
                              f"integers have at most {MAX_INT_DIGITS} digits")
                return _signed(A.Int, int(_SCALARS.construct_yaml_int(node)), span)
            if tag == _T + "float":
                v = float(_SCALARS.construct_yaml_float(node))
                if v != v or v in (float("inf"), float("-inf")):
                    self.fail(node, f"`{value}` is not a finite number")
                return _signed(A.Float, v, span)
            if tag == _T + "bool":
                return A.Bool(value=_SCALARS.construct_yaml_bool(node), span=span)
        except (ValueError, KeyError, TypeError):
            # an explicit tag on a value that is not of its kind: `!!float abc`, `!!bool maybe`
            self.fail(node, f"`{value}` is not a YAML {kind}",
                      f"drop the `!!{kind}` tag, or write {'an' if kind == 'int' else 'a'} {kind}")
        if tag == _T + "null":
            self.fail(node, "empty value where an expression is expected")
        self.fail(node, f"unsupported YAML value `{value}` ({tag})")


# Only its scalar constructors are used (ints, floats, bools): no object construction.
_SCALARS = yaml.SafeLoader("")


def _signed(cls, v, span):
    # The text form has no negative literals: `-3` is negation of 3. Match it.
    if v < 0:
        return A.UnaryOp(op="-", operand=cls(value=-v, span=span), span=span)
    return cls(value=v, span=span)


def _refuse_collection_tags(root, file: str) -> None:
    """A tag on a list or mapping (`!!python/object/apply:… […]`) is refused, as on a
    scalar: nothing in a spec is constructed from a tag, and a silently ignored one would
    read as something it is not. Each node is visited once (aliases share nodes)."""
    loader = _Loader(file)
    seen: set[int] = set()
    stack = [root] if root is not None else []
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            if node.tag != _T + "seq":
                loader.fail(node, f"unsupported YAML tag `{node.tag}` on a list")
            stack.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            if node.tag != _T + "map":
                loader.fail(node, f"unsupported YAML tag `{node.tag}` on a mapping")
            stack.extend(v for pair in node.value for v in pair)


def parse_yaml(text: str, file: str = "<yaml>") -> A.Module:
    """Parse the YAML form into the same AST the text form gives."""
    remember_source(file, text)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except RecursionError:
        raise SpecError("expression nested too deeply", Span(file, 1, 1)) from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        span = Span(file, mark.line + 1, mark.column + 1) if mark else None
        raise SpecError(f"invalid YAML: {err.problem or err.context}", span) from None
    except yaml.YAMLError as err:
        raise SpecError(f"invalid YAML: {err}", Span(file, 1, 1)) from None
    _refuse_collection_tags(root, file)
    try:
        module = _Loader(file).module(root)
    except RecursionError:
        raise SpecError("expression nested too deeply", Span(file, 1, 1)) from None
    check_nesting(module, file)
    return module


# ---- AST -> YAML ----------------------------------------------------------------------


def _structural(e: A.Expr) -> bool:
    """Whether an expression is printed as YAML structure rather than one string."""
    if isinstance(e, A.BinOp):
        return e.op in (">>", "@", "^") or (
            e.op == "+" and any(_structural(t) for t in e.chain())
        )
    return isinstance(e, (A.IfExpr, A.With, A.As, A.Call))


def _chain(e: A.BinOp) -> list[A.Expr]:
    return e.chain()


def to_data(e: A.Expr):
    """Plain Python data (dicts, lists, scalars) for an expression."""
    if isinstance(e, (A.Int, A.Float, A.Bool)):
        return e.value
    if isinstance(e, A.ListExpr):
        return [to_data(x) for x in e.items]
    if not _structural(e):
        return format_expr(e)
    if isinstance(e, A.BinOp):
        if e.op == "^":
            return {"repeat": to_data(e.left), "times": to_data(e.right)}
        key = {">>": "seq", "@": "par", "+": "sum"}[e.op]
        return {key: [to_data(t) for t in _chain(e)]}
    if isinstance(e, A.IfExpr):
        return {"if": to_data(e.cond), "then": to_data(e.then), "else": to_data(e.orelse)}
    if isinstance(e, A.With):
        return {"layer": to_data(e.expr), "with": format_reparam(e.reparam)}
    if isinstance(e, A.As):
        return {"layer": to_data(e.expr), "as": e.name}
    assert isinstance(e, A.Call)
    short = (isinstance(e.func, A.Name) and e.func.id not in STRUCTURAL + ("call", "layer",
             "repeat", "if") and not (e.args and e.kwargs))
    if short and e.kwargs:
        return {e.func.id: {k.name: to_data(k.value) for k in e.kwargs}}
    if short:
        args = [to_data(a) for a in e.args]
        if len(args) == 1 and not isinstance(args[0], (dict, list)):
            return {e.func.id: args[0]}
        return {e.func.id: args}
    out: dict = {"call": to_data(e.func)}
    if e.args:
        out["args"] = [to_data(a) for a in e.args]
    if e.kwargs:
        out["kwargs"] = {k.name: to_data(k.value) for k in e.kwargs}
    return out


def module_to_data(m: A.Module) -> list:
    items = []
    for it in m.items:
        if isinstance(it, A.Import):
            items.append({"import": it.path, "as": it.alias})
            continue
        d: dict = {"model" if isinstance(it, A.Model) else "def": it.name}
        if it.params:
            d["params"] = {
                p.name: ({"type": p.type, "default": to_data(p.default)}
                         if p.default is not None else p.type)
                for p in it.params
            }
        if it.signature is not None:
            d["type"] = format_signature(it.signature)
        if isinstance(it.body, A.Block):
            block = [{", ".join(s.targets): to_data(s.value)} for s in it.body.stmts]
            rets = [to_data(r) for r in it.body.returns]
            # One returned list literal stays wrapped: `return: [[a]]`, not `return: [a]`.
            single = len(rets) == 1 and not isinstance(rets[0], list)
            block.append({"return": rets[0] if single else rets})
            d["block"] = block
        else:
            d["body"] = to_data(it.body)
        if isinstance(it, A.Model) and it.train is not None:
            d["train"] = {t.key: to_data(t.value) for t in it.train}
        items.append(d)
    return items


class _Dumper(yaml.SafeDumper):
    pass


def _str_presenter(dumper, data):
    return dumper.represent_scalar(_T + "str", data)


_Dumper.add_representer(str, _str_presenter)


def to_yaml(m: A.Module) -> str:
    """The YAML form of a module (block style, keys in a fixed order)."""
    return yaml.dump(module_to_data(m), Dumper=_Dumper, sort_keys=False, width=88,
                     default_flow_style=False, allow_unicode=True)
