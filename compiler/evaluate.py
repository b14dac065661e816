"""Evaluation of spec expressions to values (scalars, constructors, morphisms, wires).

The evaluator gives each operator its meaning from the values it combines:
``4 * d`` is arithmetic, ``f >> g`` composition, ``x + a`` on wires an ``add``
node. Calls build morphisms (``dense(64)``) or, inside a named-wire block,
apply them to wires (``layer_norm(x)``, ``dense(64)(h)``). Every failure is a
``SpecError`` at the span of the offending sub-expression.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import Any

from ..errors import Span, SpecError, did_you_mean
from ..grammar import ast as A
from .ops.registry import REQUIRED, SURFACE, Arg, OpDef
from .values import (
    BlockM,
    BuiltinCtor,
    DefCtor,
    FoldM,
    IdM,
    MapM,
    ModuleVal,
    Morphism,
    OpCtor,
    OpM,
    ParM,
    RepeatM,
    ReparamSpec,
    ScopeM,
    SeqM,
    SumM,
    WireTuple,
    WireVal,
    WithM,
    check_composable,
)

MAX_DEPTH = 64  # nested definition calls: bounds structural recursion
# Total definition calls per elaboration: a definition that calls itself twice
# per level (FractalNet) grows as 2^depth, which MAX_DEPTH alone does not bound.
MAX_CALLS = 20_000
MAX_REPEAT = 100_000
BUILTINS = ("residual", "tie", "fold", "map")


@dataclass
class Env:
    """Lexical scope: local names, then the parent's."""

    vars: dict[str, Any] = field(default_factory=dict)
    parent: Env | None = None

    def lookup(self, name: str):
        env = self
        while env is not None:
            if name in env.vars:
                return env.vars[name]
            env = env.parent
        raise KeyError(name)

    def names(self) -> set[str]:
        out: set[str] = set()
        env = self
        while env is not None:
            out |= set(env.vars)
            env = env.parent
        return out

    def child(self, **vars) -> Env:
        return Env(dict(vars), self)


def kind_of(value) -> str:
    """A short description of a value's kind, for error messages."""
    if isinstance(value, bool):
        return "a bool"
    if isinstance(value, int):
        return "an int"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, (WireVal, WireTuple)):
        return "a wire"
    if isinstance(value, Morphism):
        return "a morphism"
    if isinstance(value, (OpCtor, DefCtor, BuiltinCtor)):
        return "a layer"
    if isinstance(value, ModuleVal):
        return "a module"
    return type(value).__name__


_ARITH = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
    "//": operator.floordiv, "%": operator.mod, "==": operator.eq, "!=": operator.ne,
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}  # fmt: skip


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


class Evaluator:
    """Evaluates expressions; ``builder`` is set while a named-wire block is emitted."""

    def __init__(self):
        self.builder = None
        self.depth = 0
        self.calls = 0

    # -- entry points -------------------------------------------------------------
    def eval(self, e: A.Expr, env: Env):
        method = getattr(self, "eval_" + type(e).__name__)
        return method(e, env)

    def morphism(self, e: A.Expr, env: Env) -> Morphism:
        """Evaluate ``e`` and insist on a morphism (a bare layer name means its defaults)."""
        return self.as_morphism(self.eval(e, env), e.span)

    def as_morphism(self, value, span: Span | None) -> Morphism:
        if isinstance(value, Morphism):
            return value
        if isinstance(value, (OpCtor, DefCtor)):
            return self.construct(value, [], {}, span)
        if isinstance(value, BuiltinCtor):
            raise SpecError(f"`{value.name}` needs arguments", span,
                            f"e.g. `{value.name}(dense(64))`")
        raise SpecError(f"expected a morphism, got {kind_of(value)}", span)

    # -- atoms ------------------------------------------------------------------------
    def eval_Int(self, e, env):
        return e.value

    def eval_Float(self, e, env):
        return e.value

    def eval_Str(self, e, env):
        return e.value

    def eval_Bool(self, e, env):
        return e.value

    def eval_ListExpr(self, e, env):
        return [self.eval(x, env) for x in e.items]

    def eval_Name(self, e, env):
        try:
            return env.lookup(e.id)
        except KeyError:
            pass
        if e.id in SURFACE:
            return OpCtor(SURFACE[e.id])
        if e.id in BUILTINS:
            return BuiltinCtor(e.id)
        known = env.names() | set(SURFACE) | set(BUILTINS)
        quoted = ("no layer, def, parameter or wire has that name; a string is quoted: "
                  f"\"{e.id}\" (in YAML: '\"{e.id}\"')")
        raise SpecError(f"unknown name `{e.id}`", e.span, did_you_mean(e.id, known) or quoted)

    def eval_Attr(self, e, env):
        base = self.eval(e.value, env)
        if not isinstance(base, ModuleVal):
            raise SpecError(f"`.{e.name}` needs a module on its left, got {kind_of(base)}",
                            e.span, "modules come from `import \"file.cat\" as name`")
        try:
            return base.module.env.vars[e.name]
        except KeyError:
            raise SpecError(
                f"module `{base.alias}` has no definition `{e.name}`",
                e.span,
                did_you_mean(e.name, base.module.env.vars),
            ) from None

    # -- operators ---------------------------------------------------------------------
    def eval_UnaryOp(self, e, env):
        v = self.eval(e.operand, env)
        if e.op == "not":
            if not isinstance(v, bool):
                raise SpecError(f"`not` needs a bool, got {kind_of(v)}", e.span)
            return not v
        if not _is_number(v):
            raise SpecError(f"cannot negate {kind_of(v)}", e.span)
        return -v

    def eval_IfExpr(self, e, env):
        cond = self.eval(e.cond, env)
        if not isinstance(cond, bool):
            raise SpecError(f"the condition of `if` must be a bool, got {kind_of(cond)}",
                            e.cond.span)
        return self.eval(e.then if cond else e.orelse, env)

    def eval_BinOp(self, e, env):
        op = e.op
        if op in (">>", "@", "+"):
            return self._chain(e, env)
        if op in ("and", "or"):
            left = self.eval(e.left, env)
            if not isinstance(left, bool):
                raise SpecError(f"`{op}` needs bools, got {kind_of(left)}", e.left.span)
            if (op == "and" and not left) or (op == "or" and left):
                return left
            right = self.eval(e.right, env)
            if not isinstance(right, bool):
                raise SpecError(f"`{op}` needs bools, got {kind_of(right)}", e.right.span)
            return right
        left, right = self.eval(e.left, env), self.eval(e.right, env)
        if op == "^":
            return self._repeat(left, right, e)
        if op == "*" and isinstance(left, WireVal) and isinstance(right, WireVal):
            return self._apply(OpM(SURFACE["mul"], {"n": 2}, 2, 1, e.span), [left, right], e.span)
        if op == "-" and isinstance(left, WireVal) and isinstance(right, WireVal):
            return self._apply(OpM(SURFACE["sub"], {}, 2, 1, e.span), [left, right], e.span)
        if op in ("==", "!=") and type(left) in (bool, str) and type(left) is type(right):
            return _ARITH[op](left, right)
        if not (_is_number(left) and _is_number(right)):
            raise SpecError(f"`{op}` is not defined for {kind_of(left)} and {kind_of(right)}",
                            e.span)
        if op in ("/", "//", "%") and right == 0:
            raise SpecError("division by zero", e.right.span)
        return _ARITH[op](left, right)

    def _chain(self, e: A.BinOp, env):
        """Evaluate a left-nested chain of one operator iteratively (specs can be long)."""
        op = e.op
        operands = []
        node = e
        while isinstance(node, A.BinOp) and node.op == op:
            operands.append(node.right)
            node = node.left
        operands.append(node)
        operands.reverse()
        values = [self.eval(x, env) for x in operands]
        if op == "+" and all(_is_number(v) for v in values):
            total = values[0]
            for v in values[1:]:
                total = total + v
            return total
        if op == "+" and all(isinstance(v, WireVal) for v in values):
            add = OpM(SURFACE["add"], {"n": len(values)}, len(values), 1, e.span)
            return self._apply(add, values, e.span)
        ms = [self.as_morphism(v, x.span) for v, x in zip(values, operands)]
        if op == ">>":
            for i in range(len(ms) - 1):
                check_composable(ms[i], ms[i + 1], operands[i + 1].span)
            return SeqM(ms, e.span)
        if op == "@":
            return ParM(ms, e.span)
        for x, m in zip(operands[1:], ms[1:]):
            if (m.n_in, m.n_out) != (ms[0].n_in, ms[0].n_out):
                raise SpecError(
                    f"the terms of `+` must have the same arity: {ms[0].describe()} is "
                    f"{ms[0].n_in} -> {ms[0].n_out}, {m.describe()} is {m.n_in} -> {m.n_out}",
                    x.span,
                )
        return SumM(ms, e.span)

    def _repeat(self, left, times, e):
        if not isinstance(times, int) or isinstance(times, bool):
            raise SpecError(f"`^` needs an integer count, got {kind_of(times)}", e.right.span)
        if times < 0 or times > MAX_REPEAT:
            raise SpecError(f"repetition count must be in 0..{MAX_REPEAT}, got {times}",
                            e.right.span)
        m = self.as_morphism(left, e.left.span)
        if m.n_in != m.n_out:
            raise SpecError(
                f"`^` repeats a morphism by composing it with itself, so it needs as many "
                f"outputs as inputs; {m.describe()} is {m.n_in} -> {m.n_out}",
                e.left.span,
            )
        return RepeatM(m, times, False, e.span)  # f ^ 0 unrolls no copy: the identity

    def eval_With(self, e, env):
        m = self.morphism(e.expr, env)
        r = e.reparam
        spec = ReparamSpec(
            r.name,
            [self.eval(a, env) for a in r.args],
            {k.name: self.eval(k.value, env) for k in r.kwargs},
            r.span,
        )
        return WithM(m, spec, e.span)

    def eval_As(self, e, env):
        m = self.morphism(e.expr, env)
        named = _name_the_op(m)
        if named is not None:
            # Name the op instance itself, so its slots are `name/w`, not `name/dense_0/w`
            # (also through `with` clauses: `dense(4) with freeze as a` is the layer `a`).
            return ScopeM(e.name, named, explicit=True, span=e.span)
        return ScopeM(e.name, m, explicit=True, span=e.span)

    # -- calls -------------------------------------------------------------------------
    def eval_Call(self, e: A.Call, env):
        callee = self.eval(e.func, env)
        args = [self.eval(a, env) for a in e.args]
        kwargs = {k.name: (self.eval(k.value, env), k.span) for k in e.kwargs}
        wires = [a for a in args if isinstance(a, (WireVal, WireTuple))]
        if isinstance(callee, Morphism):
            if kwargs or len(wires) != len(args):
                raise SpecError(
                    f"{callee.describe()} is already built; it can only be applied to wires",
                    e.span, "pass parameters in the first call: `dense(64)(h)`",
                )
            return self._apply(callee, args, e.span)
        if wires and not isinstance(callee, BuiltinCtor):
            if kwargs or len(wires) != len(args):
                raise SpecError(
                    "cannot mix parameters and wires in one call",
                    e.span, "give parameters first, then wires: `dense(64)(h)`",
                )
            m = self.construct(callee, [], {}, e.func.span, applying=True)
            return self._apply(m, args, e.span)
        return self.construct(callee, list(zip(args, (a.span for a in e.args))), kwargs, e.span)

    def construct(self, callee, args, kwargs, span, applying=False) -> Morphism:
        """Build a morphism from a constructor and evaluated arguments."""
        if isinstance(callee, OpCtor):
            attrs = bind_args(callee.op.surface, callee.op.args, args, kwargs, span, applying)
            try:
                n_in, n_out = callee.op.arity(attrs)
            except Exception as err:  # typing rules of arity raise OpTypeError
                raise SpecError(getattr(err, "message", str(err)), span,
                                getattr(err, "hint", None)) from None
            return OpM(callee.op, attrs, n_in, n_out, span)
        if isinstance(callee, DefCtor):
            return self.call_def(callee, args, kwargs, span, applying)
        if isinstance(callee, BuiltinCtor):
            return self.call_builtin(callee.name, args, kwargs, span)
        raise SpecError(f"{kind_of(callee)} cannot be called", span)

    def _apply(self, m: Morphism, args: list, span) -> WireVal | WireTuple:
        if self.builder is None:
            raise SpecError("wires exist only inside a named-wire block `{ … }`", span)
        wires = []
        for a in args:
            if isinstance(a, WireTuple):
                wires.extend(w.wire for w in a.wires)
            elif isinstance(a, WireVal):
                wires.append(a.wire)
            else:
                raise SpecError(f"expected a wire, got {kind_of(a)}", span)
        if len(wires) != m.n_in:
            raise SpecError(f"{m.describe()} takes {m.n_in} input(s), got {len(wires)}", span)
        outs = m.emit(self.builder, wires)
        vals = [WireVal(w, span) for w in outs]
        return vals[0] if len(vals) == 1 else WireTuple(vals)

    # -- definitions ---------------------------------------------------------------------
    def call_def(self, ctor: DefCtor, args, kwargs, span, applying=False) -> Morphism:
        item = ctor.item
        values = bind_params(item, args, kwargs, span, self, ctor.env, applying)
        self.calls += 1
        if self.calls > MAX_CALLS:
            raise SpecError(
                f"elaboration needs more than {MAX_CALLS:,} definition calls (in `{item.name}`)",
                span,
                "a definition that calls itself twice per level grows exponentially; "
                "lower its depth",
            )
        self.depth += 1
        if self.depth > MAX_DEPTH:
            self.depth = 0
            raise SpecError(
                f"definitions nest deeper than {MAX_DEPTH} calls (in `{item.name}`)",
                span,
                "a recursive definition needs a base case: `if c == 0 then … else …`",
            )
        try:
            local = ctor.env.child(**values)
            body = self.body_morphism(item, local)
        finally:
            self.depth -= 1
        return ScopeM(item.name, body, explicit=False, span=span)

    def body_morphism(self, item, env: Env) -> Morphism:
        if isinstance(item.body, A.Block):
            if item.signature is not None:
                names = [p.name or (f"x{i}" if len(item.signature.inputs) > 1 else "x")
                         for i, p in enumerate(item.signature.inputs)]
            else:
                names = ["x"]
            return BlockM(item.body, env, names, len(names), len(item.body.returns), self,
                          item.body.span)
        return self.morphism(item.body, env)

    def emit_block(self, block: BlockM, builder, ins):
        saved = self.builder
        self.builder = builder
        try:
            env = block.env.child(**{n: WireVal(w) for n, w in zip(block.in_names, ins)})
            for stmt in block.block.stmts:
                value = self.eval(stmt.value, env)
                if len(stmt.targets) == 1:
                    env.vars[stmt.targets[0]] = value
                    continue
                if not isinstance(value, WireTuple) or len(value.wires) != len(stmt.targets):
                    got = len(value.wires) if isinstance(value, WireTuple) else 1
                    raise SpecError(
                        f"{len(stmt.targets)} names on the left, {got} value(s) on the right",
                        stmt.span,
                    )
                for t, w in zip(stmt.targets, value.wires):
                    env.vars[t] = w
            outs = []
            for r in block.block.returns:
                value = self.eval(r, env)
                if isinstance(value, WireTuple):
                    outs.extend(w.wire for w in value.wires)
                elif isinstance(value, WireVal):
                    outs.append(value.wire)
                else:
                    raise SpecError(f"`return` needs wires, got {kind_of(value)}", r.span)
            if len(outs) != block.n_out:
                raise SpecError(f"the block returns {len(outs)} wires, expected {block.n_out}",
                                block.block.return_span)
            return outs
        finally:
            self.builder = saved

    # -- builtins ---------------------------------------------------------------------------
    def call_builtin(self, name, args, kwargs, span) -> Morphism:
        if name == "residual":
            vals = _only_positional(name, args, kwargs, 1, span)
            f = self.as_morphism(vals[0], span)
            if f.n_in != f.n_out:
                raise SpecError(f"`residual` needs equal inputs and outputs, got "
                                f"{f.n_in} -> {f.n_out}", span)
            return SumM([IdM(f.n_in, f.n_in, span), f], span)
        if name == "tie":
            vals = _only_positional(name, args, kwargs, 1, span)
            f = vals[0]
            if not isinstance(f, RepeatM):
                raise SpecError("`tie` applies to a repetition `f ^ n`", span,
                                "write `tie(block ^ 4)` to share one parameter set")
            return RepeatM(f.body, f.times, True, span)
        if name == "fold":
            return self._fold(args, kwargs, span)
        if name == "map":
            return self._map(args, kwargs, span)
        raise SpecError(f"unknown builtin `{name}`", span)  # pragma: no cover

    def _fold(self, args, kwargs, span) -> Morphism:
        """``fold(cell, state=h | [h1, …], init="zeros"|"learned", reverse=false)``."""
        decl = (Arg("cell", "any"), Arg("state", "int_or_ints"),
                Arg("init", "str", "zeros", choices=("zeros", "learned")),
                Arg("reverse", "bool", False))
        attrs = bind_args("fold", decl, args, kwargs, span)
        cell_span = args[0][1] if args else span
        cell = self.as_morphism(attrs.pop("cell"), cell_span)
        state = attrs["state"]
        attrs["state"] = state if isinstance(state, tuple) else (state,)
        k = len(attrs["state"])
        if k == 0:
            raise SpecError("`fold` needs at least one state wire", span,
                            "give its size: `fold(cell, state=16)`")
        if cell.n_in != k + 1 or cell.n_out not in (k, k + 1):
            raise SpecError(
                f"the cell of `fold` with {k} state wire(s) must be {k + 1} -> {k} "
                f"(state, x_t -> state) or {k + 1} -> {k + 1} (… -> state, y_t); "
                f"{cell.describe()} is {cell.n_in} -> {cell.n_out}",
                cell_span,
                "list one size per state wire: `state=[h, h]` for an LSTM's (h, c)",
            )
        n_out = 1 if cell.n_out == k + 1 else k
        return FoldM(cell, attrs, 1, n_out, span)

    def _map(self, args, kwargs, span) -> Morphism:
        """``map(f, axis=0)``: apply ``f`` to every slice along ``axis`` (vmap)."""
        decl = (Arg("f", "any"), Arg("axis", "int", 0))
        attrs = bind_args("map", decl, args, kwargs, span)
        f = self.as_morphism(attrs.pop("f"), args[0][1] if args else span)
        if f.n_in < 1:
            raise SpecError(f"`map` needs a morphism with at least one input, got "
                            f"{f.describe()} with none", span)
        return MapM(f, attrs, f.n_in, f.n_out, span)


class _NamedOp(Morphism):
    """An op named with ``as``: emitted with that exact instance name."""

    def __init__(self, m: OpM):
        self.m = m
        self.n_in, self.n_out, self.span = m.n_in, m.n_out, m.span

    def emit(self, b, ins):
        # The enclosing ScopeM pushed the name; pop it so the op takes it itself.
        name = b._scope.pop()
        try:
            return b.emit_op(self.m.op, self.m.attrs, ins, self.m.span, name=name)
        finally:
            b._scope.append(name)

    def describe(self):
        return self.m.describe()


def _only_positional(name, args, kwargs, n, span):
    if kwargs or len(args) != n:
        raise SpecError(f"`{name}` takes {n} positional argument(s)", span)
    return [a for a, _ in args]


# -- argument binding -----------------------------------------------------------------------


def _name_the_op(m):
    """``m`` with its single op taking the scope's own name, through ``with`` wrappers;
    ``None`` when ``m`` is not one op."""
    if isinstance(m, OpM):
        return _NamedOp(m)
    if isinstance(m, WithM):
        inner = _name_the_op(m.body)
        return None if inner is None else WithM(inner, m.reparam, m.span)
    return None


# How messages name the kinds of argument values.
KIND_TEXT = {"int": "an int", "float": "a number", "bool": "a bool", "str": "a string",
             "ints": "a list of ints", "int_or_ints": "an int or a list of ints"}


def check_value(kind: str, value, what: str, span, choices=None):
    """Check (and coerce int -> float) one argument value against its declared kind."""
    ok = False
    if kind == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind == "float":
        ok = _is_number(value)
        if ok:
            value = float(value)
    elif kind == "bool":
        ok = isinstance(value, bool)
    elif kind == "str":
        ok = isinstance(value, str)
    elif kind == "ints":
        ok = isinstance(value, list) and all(
            isinstance(v, int) and not isinstance(v, bool) for v in value
        )
        if ok:
            value = tuple(value)
    elif kind == "int_or_ints":
        if isinstance(value, list):
            ok = all(isinstance(v, int) and not isinstance(v, bool) for v in value)
            value = tuple(value)
        else:
            ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind == "any":
        ok = True
    if not ok:
        want = KIND_TEXT.get(kind, kind)
        got = (f"{kind_of(value)}, {value.describe()}" if isinstance(value, Morphism)
               else f"{kind_of(value)} `{_show(value)}`")
        hint = None
        if kind == "str" and isinstance(value, (OpCtor, DefCtor, BuiltinCtor)):
            name = _show(value)
            hint = f"""a string is quoted: "{name}" (in YAML: '"{name}"')"""
        raise SpecError(f"{what} must be {want}, got {got}", span, hint)
    if choices is not None and value not in choices:
        raise SpecError(
            f"{what} must be one of {', '.join(repr(c).replace(chr(39), chr(34)) for c in choices)}"
            f", got \"{value}\"",
            span,
            did_you_mean(str(value), [str(c) for c in choices]),
        )
    return value


def _show(value) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, OpCtor):
        return value.op.surface
    if isinstance(value, DefCtor):
        return value.item.name
    if isinstance(value, BuiltinCtor):
        return value.name
    return kind_of(value)


def bind_args(
    opname: str, decl: tuple[Arg, ...], args, kwargs, span, applying=False
) -> dict[str, Any]:
    """Match positional ``(value, span)`` and keyword ``{name: (value, span)}`` to ``decl``."""
    names = [a.name for a in decl]
    if len(args) > len(decl):
        extra_span = args[len(decl)][1] or span
        raise SpecError(
            f"`{opname}` takes at most {len(decl)} argument(s), got {len(args)}",
            extra_span,
            f"its arguments are {', '.join(names)}" if names else "it takes no arguments",
        )
    given: dict[str, tuple[Any, Span | None]] = {}
    for a, (value, vspan) in zip(decl, args):
        given[a.name] = (value, vspan)
    for key, (value, vspan) in kwargs.items():
        if key not in names:
            raise SpecError(f"`{opname}` has no argument `{key}`", vspan or span,
                            did_you_mean(key, names) or
                            (f"its arguments are {', '.join(names)}" if names
                             else "it takes no arguments"))
        if key in given:
            raise SpecError(f"`{opname}` got argument `{key}` twice", vspan or span)
        given[key] = (value, vspan)
    attrs = {}
    for a in decl:
        if a.name in given:
            value, vspan = given[a.name]
            attrs[a.name] = check_value(a.kind, value, f"`{opname}`: `{a.name}`", vspan or span,
                                        a.choices)
        elif a.default is REQUIRED:
            hint = (f"give its parameters before its inputs: `{opname}({a.name})(x)`"
                    if applying else f"e.g. `{opname}({a.name}=…)`")
            raise SpecError(f"`{opname}` is missing its argument `{a.name}`", span, hint)
        else:
            attrs[a.name] = a.default
    return attrs


def bind_params(item, args, kwargs, span, ev: Evaluator, env: Env, applying=False):
    """Bind a definition's parameters; defaults are evaluated in the defining module."""
    decl = [Arg(p.name, p.type, REQUIRED if p.default is None else p) for p in item.params]
    attrs = bind_args(item.name, tuple(decl), args, kwargs, span, applying)
    values = {}
    for p in item.params:
        value = attrs[p.name]
        if isinstance(value, A.Param):  # a default still to evaluate
            value = check_value(p.type, ev.eval(p.default, env.child(**values)),
                                f"default of `{p.name}`", p.default.span)
        values[p.name] = value
    return values


def describe_op(op: OpDef) -> str:
    args = ", ".join(a.name if a.default is REQUIRED else f"{a.name}={_show(a.default)}"
                     for a in op.args)
    return f"{op.surface}({args})"
