"""Property tests: generated ASTs survive text and YAML round trips unchanged.

``parse(fmt(ast)) == ast``, ``fmt`` is idempotent, ``parse_yaml(to_yaml(ast)) == ast``
and the YAML printed validates against ``catspec schema``. Generators cover every
expression form and precedence situation; they respect the two rules of the
text form: no negative literals (``-3`` is negation of ``3``) and names are not
keywords.
"""

from __future__ import annotations

import jsonschema
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catspec.grammar import ast as A
from catspec.grammar import parse_expr, parse_module
from catspec.grammar.formatter import KEYWORDS, expr, format_module
from catspec.grammar.schema import json_schema
from catspec.grammar.yaml_form import parse_yaml, to_yaml

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
VALIDATOR = jsonschema.Draft202012Validator(json_schema())

names = (
    st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}", fullmatch=True)
    .filter(lambda s: s not in KEYWORDS)
)
# Names that YAML or readers find tricky: the structural keys of the YAML form and
# words YAML 1.1 reads as bools/null when unquoted.
tricky = st.sampled_from(["seq", "par", "sum", "repeat", "times", "layer", "call", "args",
                          "kwargs", "yes", "no", "on", "off", "null", "y", "n", "type", "body"])
ident = st.one_of(names, tricky)
texts = st.text(max_size=6)  # any unicode: quotes, backslashes, newlines, controls

ints = st.integers(min_value=0, max_value=10**12).map(lambda v: A.Int(value=v))
floats = st.floats(min_value=0, allow_nan=False, allow_infinity=False).map(
    lambda v: A.Float(value=v)
)
atoms = st.one_of(
    ident.map(lambda n: A.Name(id=n)),
    ints,
    floats,
    texts.map(lambda s: A.Str(value=s)),
    st.booleans().map(lambda b: A.Bool(value=b)),
)
BINOPS = [">>", "@", "+", "-", "*", "/", "//", "%", "^", "==", "!=", "<", "<=", ">", ">=",
          "and", "or"]


def _kwargs(children):
    return st.lists(st.tuples(ident, children), max_size=2, unique_by=lambda kv: kv[0]).map(
        lambda kvs: [A.Kwarg(name=k, value=v) for k, v in kvs]
    )


def _reparam(children):
    plain = ident.map(lambda n: A.Reparam(name=n))
    called = st.builds(
        lambda n, a, k: A.Reparam(name=n, args=a, kwargs=k, called=True),
        ident, st.lists(children, max_size=2), _kwargs(children),
    )
    return st.one_of(plain, called)


def _extend(children):
    return st.one_of(
        st.builds(lambda op, a, b: A.BinOp(op=op, left=a, right=b),
                  st.sampled_from(BINOPS), children, children),
        st.builds(lambda op, a: A.UnaryOp(op=op, operand=a),
                  st.sampled_from(["-", "not"]), children),
        st.builds(lambda f, a, k: A.Call(func=f, args=a, kwargs=k),
                  children, st.lists(children, max_size=3), _kwargs(children)),
        st.builds(lambda v, n: A.Attr(value=v, name=n), children, ident),
        st.builds(lambda c, t, e: A.IfExpr(cond=c, then=t, orelse=e),
                  children, children, children),
        st.builds(lambda e, r: A.With(expr=e, reparam=r), children, _reparam(children)),
        st.builds(lambda e, n: A.As(expr=e, name=n), children, ident),
        st.lists(children, max_size=3).map(lambda xs: A.ListExpr(items=xs)),
    )


exprs = st.recursive(atoms, _extend, max_leaves=8)
small = st.recursive(atoms, _extend, max_leaves=3)  # inside types, defaults, train entries
DTYPES = st.sampled_from(["f32", "f16", "bf16", "i32", "bool"])
dims = st.builds(lambda n, s: A.Dim(name=n, size=s), st.one_of(st.none(), ident), small)
types = st.builds(
    lambda kind, ds, dt: A.TypeExpr(kind=kind, dims=ds, dtype=dt),
    st.sampled_from(["Tensor", "Field"]), st.lists(dims, max_size=3), DTYPES,
)
ports = st.one_of(
    st.builds(lambda n, t: A.Port(name=n, type=t), ident, types),
    types.map(lambda t: A.Port(type=t)),
    ident.map(lambda n: A.Port(name=n)),
)
signatures = st.builds(
    lambda i, o: A.Signature(inputs=i, outputs=o),
    st.lists(ports, max_size=2), st.lists(ports, max_size=2),
)
params = st.lists(
    st.builds(lambda n, t, d: A.Param(name=n, type=t, default=d),
              ident, st.sampled_from(["int", "float", "bool", "str"]),
              st.one_of(st.none(), small)),
    max_size=3, unique_by=lambda p: p.name,
)
blocks = st.builds(
    lambda stmts, rets: A.Block(stmts=stmts, returns=rets),
    st.lists(st.builds(lambda ts, v: A.Assign(targets=ts, value=v),
                       st.lists(ident, min_size=1, max_size=3), small), max_size=3),
    st.lists(small, min_size=1, max_size=2),
)
bodies = st.one_of(exprs, blocks)
trains = st.one_of(
    st.none(),
    st.lists(st.builds(lambda k, v: A.TrainEntry(key=k, value=v), ident, small),
             max_size=3, unique_by=lambda t: t.key),
)
items = st.one_of(
    st.builds(lambda p, a: A.Import(path=p, alias=a), texts, ident),
    st.builds(lambda n, ps, s, b: A.Def(name=n, params=ps, signature=s, body=b),
              ident, params, st.one_of(st.none(), signatures), bodies),
    st.builds(lambda n, ps, s, b, t: A.Model(name=n, params=ps, signature=s, body=b, train=t),
              ident, params, signatures, bodies, trains),
)
modules = st.lists(items, max_size=3).map(lambda its: A.Module(items=its))


@SETTINGS
@given(modules)
def test_text_form_round_trips_and_fmt_is_idempotent(module):
    text = format_module(module)
    back = parse_module(text)
    assert back == module, text
    assert format_module(back) == text


@SETTINGS
@given(modules)
def test_yaml_form_round_trips_and_validates_against_the_schema(module):
    text = to_yaml(module)
    assert parse_yaml(text) == module, text
    errors = [e.message for e in VALIDATOR.iter_errors(yaml.safe_load(text))]
    assert errors == [], text


@settings(max_examples=300, deadline=None, derandomize=True)
@given(exprs)
def test_expressions_print_with_exactly_the_parentheses_they_need(e):
    assert parse_expr(expr(e)) == e


def test_long_chains_round_trip_without_recursion():
    body = " >> ".join(f"dense({i})" for i in range(1500))
    module = parse_module(f"model m : Tensor[4] -> Tensor[4] =\n    {body}\n")
    assert parse_module(format_module(module)) == module
    assert parse_yaml(to_yaml(module)) == module
