"""Elaboration: a parsed spec (and its imports) -> a typed ``Graph`` for one model.

Steps: load the module and its imports (confined to the spec's root, no
cycles), bind the model's parameters (defaults, then ``-s`` overrides),
evaluate its signature to wire types, evaluate its body to a morphism, emit it
onto the input wires, and check the result against the declared outputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import Span, SpecError, did_you_mean, remember_source
from ..grammar import ast as A
from ..grammar.loader import load_ast, parse_override
from ..limits import ensure_recursion_headroom
from .builder import Builder
from .dims import Dim, SizeTooComplex
from .evaluate import Env, Evaluator, check_value, kind_of
from .ir import Graph
from .types import DTYPES, TensorType, size_problem
from .values import DefCtor, ModuleVal


@dataclass
class LoadedModule:
    path: Path | None
    ast: A.Module
    env: Env
    imports: dict[str, LoadedModule] = field(default_factory=dict)


class ModuleLoader:
    """Loads spec files once each, resolving imports relative to the importing file."""

    def __init__(self, root: Path | None):
        self.root = root.resolve() if root else None
        self.cache: dict[Path, LoadedModule] = {}

    def load_file(self, path: Path, chain: tuple[Path, ...] = (), span: Span | None = None):
        path = path.resolve()
        if path in chain:
            cycle = " -> ".join(self._show(p) for p in (*chain[chain.index(path):], path))
            raise SpecError(f"import cycle: {cycle}", span, "move shared definitions into a "
                            "third file that both import")
        if path in self.cache:
            return self.cache[path]
        module_ast = load_ast(path, span)
        return self.load(module_ast, path, (*chain, path))

    def _show(self, path: Path) -> str:
        """A path as the user wrote it: relative to the spec root when inside it."""
        if self.root is not None and self.root in path.parents:
            return path.relative_to(self.root).as_posix()
        return path.name

    def load(self, module_ast: A.Module, path: Path | None, chain=()) -> LoadedModule:
        env = Env()
        loaded = LoadedModule(path, module_ast, env)
        for item in module_ast.items:
            if isinstance(item, A.Import):
                target = self._resolve(item, path)
                sub = self.load_file(target, chain, item.span)
                loaded.imports[item.alias] = sub
                self._define(env, item.alias, ModuleVal(item.alias, sub), item.span)
            else:
                self._define(env, item.name, DefCtor(item, env, loaded), item.span)
        if path is not None:
            self.cache[path.resolve()] = loaded
        return loaded

    @staticmethod
    def _define(env: Env, name: str, value, span):
        if name in env.vars:
            raise SpecError(f"`{name}` is defined twice in this file", span,
                            "rename one of the definitions")
        env.vars[name] = value

    def _resolve(self, item: A.Import, importer: Path | None) -> Path:
        if Path(item.path).is_absolute():
            raise SpecError(f"import of an absolute path `{item.path}`", item.span,
                            "imports are relative to the importing file")
        base = importer.parent if importer is not None else Path.cwd()
        root = self.root or base.resolve()
        target = (base / item.path).resolve()
        if root != target and root not in target.parents:
            raise SpecError(f"import `{item.path}` escapes the spec root `{root}`", item.span,
                            "specs may only import files under the directory of the main spec")
        if not target.exists():
            raise SpecError(f"imported file `{item.path}` does not exist", item.span)
        return target


def load_module(path: str | Path) -> LoadedModule:
    """Load a spec file and everything it imports (the root is the file's directory)."""
    path = Path(path)
    return ModuleLoader(path.resolve().parent).load_file(path)


def module_from_text(text: str, file: str = "<spec>") -> LoadedModule:
    """Load a spec given as text (imports resolve against the current directory)."""
    from ..grammar import parse_module

    return ModuleLoader(None).load(parse_module(text, file), None)


def pick_model(module: LoadedModule, name: str | None) -> A.Model:
    models = module.ast.models
    if name is None:
        if not models:
            raise SpecError("this spec defines no `model`", module.ast.span,
                            "add `model name : A -> B = …`")
        return models[-1]
    for m in models:
        if m.name == name:
            return m
    err = SpecError(f"no model named `{name}`", None,
                    did_you_mean(name, [m.name for m in models]) or
                    f"models here: {', '.join(m.name for m in models) or 'none'}")
    err.command_line = True  # the choice (`-m`) is wrong, not the spec: the CLI exits 2
    raise err


OVERRIDE_FILE = "<-s>"


def override_span(name: str, raw, part: str = "value") -> Span:
    """A location for an override: the text ``name=raw`` as the line of a pseudo-file
    ``<-s>``, with the caret under the name or the value."""
    text = f"{name}={raw}"
    remember_source(OVERRIDE_FILE, text)
    if part == "name":
        return Span(OVERRIDE_FILE, 1, 1, 1, len(name) + 1)
    return Span(OVERRIDE_FILE, 1, len(name) + 2, 1, len(text) + 1)


def bind_model_params(model: A.Model, env: Env, ev: Evaluator, overrides: dict) -> dict:
    """Defaults, then overrides (strings from the CLI are parsed as expressions)."""
    known = {p.name for p in model.params}
    for key in overrides:
        if key not in known:
            raise SpecError(
                f"model `{model.name}` has no parameter `{key}`",
                override_span(key, overrides[key], "name"),
                did_you_mean(key, known) or
                (f"its parameters are {', '.join(sorted(known))}" if known else
                 "it takes no parameters"))
    values: dict = {}
    for p in model.params:
        if p.name in overrides:
            raw = overrides[p.name]
            if getattr(raw, "shape", None) == () and hasattr(raw, "item"):
                raw = raw.item()  # a NumPy or JAX scalar from Python code: its plain value
            span = override_span(p.name, raw)
            try:
                value = parse_override(raw, p.type) if isinstance(raw, str) else raw
            except SpecError as err:
                where = span
                if err.span is not None and err.span.line == 1:  # a parse error in the value
                    shift = len(p.name) + 1
                    where = Span(OVERRIDE_FILE, 1, err.span.col + shift, 1,
                                 err.span.end_col + shift)
                raise SpecError(err.message, where, err.hint) from None
            what = f"override `-s {p.name}=…`"
        elif p.default is not None:
            value = ev.eval(p.default, env.child(**values))
            what, span = f"default of `{p.name}`", p.default.span
        else:
            raise SpecError(f"model parameter `{p.name}` has no default", p.span,
                            f"give one (`{p.name}: {p.type} = …`) or pass `-s {p.name}=…`")
        values[p.name] = check_value(p.type, value, what, span)
    return values


def eval_type(t: A.TypeExpr, env: Env, ev: Evaluator) -> TensorType:
    if t.dtype not in DTYPES:
        raise SpecError(f"unknown dtype `{t.dtype}`", t.span,
                        did_you_mean(t.dtype, DTYPES) or f"dtypes: {', '.join(DTYPES)}")
    shape, names = [], []
    for d in t.dims:
        shape.append(_eval_dim(d.size, env, ev))
        names.append(d.name)
    problem = size_problem(shape)
    if problem:
        shown = ", ".join(str(n) for n in shape)
        raise SpecError(f"type [{shown}]: {problem}", t.span,
                        "check the model parameters (and any -s overrides) that set its sizes")
    if t.kind == "Field":
        if any(n is None for n in names):
            raise SpecError("every axis of a `Field` needs a name", t.span,
                            "e.g. `Field[x: N, c: 2]`: grid axes first, channels last")
        if len(shape) < 2:
            raise SpecError("a `Field` needs at least one grid axis and a channel axis", t.span)
        if not isinstance(shape[-1], int):
            raise SpecError(f"the channel axis of a `Field` must be a known size, got {shape[-1]}",
                            t.dims[-1].span)
    axes = tuple(names) if all(n is not None for n in names) and names else None
    if axes is None and any(n is not None for n in names):
        raise SpecError("name every axis of a type or none", t.span)
    if axes is not None and len(set(axes)) != len(axes):
        raise SpecError("axis names of a type must be distinct", t.span)
    return TensorType(tuple(shape), t.dtype, axes, t.kind == "Field")


def _eval_dim(e: A.Expr, env: Env, ev: Evaluator):
    # Free dimension symbols are capitalised names not bound in scope: `N`, `T`.
    if isinstance(e, A.Name):
        try:
            env.lookup(e.id)
        except KeyError:
            if e.id[:1].isupper():
                return Dim.symbol(e.id)
            raise SpecError(
                f"unknown name `{e.id}` in a type", e.span,
                did_you_mean(e.id, env.names()) or
                "free size symbols start with a capital letter, like `N`",
            ) from None
    if isinstance(e, A.BinOp) and e.op in ("+", "-", "*", "//"):
        left, right = _eval_dim(e.left, env, ev), _eval_dim(e.right, env, ev)
        if e.op == "//" and (not isinstance(right, int) or right <= 0):
            raise SpecError("a size can only be divided by a positive integer", e.span)
        try:
            return {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "//": lambda a, b: a // b,
                    "*": lambda a, b: a * b}[e.op](left, right)
        except SizeTooComplex as err:
            raise SpecError(err.message, e.span, err.hint) from None
    value = ev.eval(e, env)
    if not isinstance(value, int) or isinstance(value, bool):
        raise SpecError(f"a size must be a positive int, got {kind_of(value)}", e.span)
    if value < 1:
        raise SpecError(f"a size must be a positive int, got {value}", e.span,
                        "check the parameter (or -s override) that sets it")
    return value


def elaborate(
    module: LoadedModule, model: str | None = None, overrides: dict | None = None
) -> Graph:
    """Build the typed graph of one model of ``module`` (the last one by default)."""
    ensure_recursion_headroom()
    item = pick_model(module, model)
    ev = Evaluator()
    params = bind_model_params(item, module.env, ev, overrides or {})
    env = module.env.child(**params)
    in_types = [_port_type(p, env, ev, "input") for p in item.signature.inputs]
    out_types = [_port_type(p, env, ev, "output") for p in item.signature.outputs]

    graph = Graph(item.name)
    graph.spec_params = params  # the values used, for `show` and reproducibility
    names = [p.name or (f"x{i}" if len(in_types) > 1 else "x")
             for i, p in enumerate(item.signature.inputs)]
    wires = [graph.add_input(t, n, p.span)
             for t, n, p in zip(in_types, names, item.signature.inputs)]
    body = ev.body_morphism(item, env)
    body_span = getattr(item.body, "span", None) or item.span
    if body.n_in != len(wires):
        raise SpecError(f"model `{item.name}` takes {len(wires)} input(s) but its body takes "
                        f"{body.n_in}", body_span)
    if body.n_out != len(out_types):
        raise SpecError(f"model `{item.name}` declares {len(out_types)} output(s) but its body "
                        f"gives {body.n_out}", body_span)
    builder = Builder(graph)
    outs = body.emit(builder, wires)
    for i, (w, want, port) in enumerate(zip(outs, out_types, item.signature.outputs)):
        got = graph.type_of(w)
        if not got.same_as(want):
            raise SpecError(
                f"model `{item.name}` computes {got} but its signature says {want}",
                port.span or item.signature.span,
                "check the last layer's size, or the declared output type",
            )
    graph.set_outputs(outs, item.signature.span)
    # Declared output types carry the names and field-ness the author wrote.
    graph.declared_outputs = out_types
    return graph


def _port_type(port: A.Port, env: Env, ev: Evaluator, side: str) -> TensorType:
    if port.type is None:
        raise SpecError(f"a model's {side} `{port.name}` needs a type", port.span,
                        f"e.g. `{port.name}: Tensor[N, 64]`")
    return eval_type(port.type, env, ev)
