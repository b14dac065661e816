"""Property tests: generated ASTs survive text and YAML round trips unchanged.

``parse(fmt(ast)) == ast``, ``fmt`` is idempotent, ``parse_yaml(to_yaml(ast)) == ast``
and the YAML printed validates against ``catspec schema``. Generators cover every
expression form and precedence situation; they respect the two rules of the
text form: no negative literals (``-3`` is negation of ``3``) and names are not
keywords.

The IR's text form and JSON round trip every shipped spec; attributes left out of
either are filled in with the op's defaults, or refused naming the node and attribute.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import catspec
import jsonschema
import pytest
import yaml
from catspec import IRVerifyError
from catspec.compiler.passes import run_passes
from catspec.compiler.serialize import dumps
from catspec.grammar import ast as A
from catspec.grammar import parse_expr, parse_module
from catspec.grammar.formatter import KEYWORDS, expr, format_module
from catspec.grammar.schema import json_schema
from catspec.grammar.yaml_form import parse_yaml, to_yaml
from conftest import SPECS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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


# -- the IR's text form and JSON: every shipped spec, attributes left out ------------------
SHIPPED = sorted(p.name for p in SPECS.glob("*.cat"))


@pytest.mark.parametrize("name", SHIPPED)
@pytest.mark.parametrize("passes", ["", "O2,batch-parallel"])
def test_every_shipped_spec_prints_and_parses_back_identically(name, passes):
    g = catspec.load(SPECS / name)
    g = run_passes(g, passes) if passes else g
    text = catspec.print_ir(g)
    assert catspec.print_ir(catspec.parse_ir(text)) == text
    data = dumps(g)  # the JSON text, attribute order included
    assert dumps(catspec.from_json(data)) == data


def _one_node(out: str, line: str) -> str:
    return f"graph m(%0: f32[3]) -> {out} {{\n  %1: {out} = {line}\n  return %1\n}}\n"


@pytest.mark.parametrize("line, filled", [
    ("reduce.sum[axis=0](%0)", "reduce.sum[axis=0, keepdims=false](%0)"),
    ("struct.add(%0, %0)", "struct.add[n=2](%0, %0)"),
    ("act.gelu(%0)", "act.gelu[approximate=false](%0)"),
    ("nn.dense[out=2](%0) {w=@w, b=@b}", "nn.dense[out=2, bias=true](%0) {w=@w, b=@b}"),
    ("nn.dense[bias=false, out=2](%0) {w=@w}", "nn.dense[out=2, bias=false](%0) {w=@w}"),
])
def test_ir_text_fills_in_attributes_left_out_with_the_ops_defaults(line, filled):
    out = "f32[]" if line.startswith("reduce") else "f32[2]" if "dense" in line else "f32[3]"
    g = catspec.parse_ir(_one_node(out, line))
    assert str(g).splitlines()[1] == f"  %1: {out} = {filled}"
    # what was filled in is what a spec gets: the printed form parses back to itself
    assert catspec.print_ir(catspec.parse_ir(catspec.print_ir(g))) == catspec.print_ir(g)


def test_printed_spec_without_its_defaulted_attributes_reads_back_the_same():
    text = catspec.print_ir(catspec.load(SPECS / "mlp.cat"))
    assert ", bias=true" in text
    assert catspec.print_ir(catspec.parse_ir(text.replace(", bias=true", ""))) == text
    # a ctl.batched node's attributes of the op it batches are filled in alike
    gru = catspec.print_ir(run_passes(catspec.load(SPECS / "gru.cat"), "O2,batch-parallel"))
    assert 'ctl.batched[op="nn.dense", k=2, shared=true, out=16, bias=true]' in gru
    assert catspec.print_ir(catspec.parse_ir(gru.replace(", bias=true", ""))) == gru


@pytest.mark.parametrize("line, message", [
    ("nn.dense(%0)", "`dense` is missing its argument `out` (an int, with no default)"),
    ("nn.dense[outt=2](%0)", "`dense` has no argument `outt` (did you mean `out`?)"),
    ("nn.dense[out=2, bais=false](%0)", "`dense` has no argument `bais` (did you mean `bias`?)"),
    ("nn.dense[out=2, zzz=1](%0)", "`dense` has no argument `zzz` (its arguments are out, bias)"),
    ("nn.dense[out=2.0](%0)", "`dense`: `out` must be an int, got a float `2.0`"),
    ("ctl.scan[lenght=2, stacked=[]](%0)",
     "`ctl.scan` is missing its attribute `length` (found `lenght`: did you mean `length`?)"),
    ('ctl.batched[op="nn.dense", shared=true, out=2](%0)',
     "`ctl.batched` is missing its attribute `k`"),
    ('ctl.batched[op="nn.dense", k=1, shared=true](%0)',
     "`dense` is missing its argument `out` (an int, with no default)"),
    ("ctl.map(%0)", "`ctl.map` is missing its attribute `axis`"),
])
def test_ir_text_attribute_errors_name_the_line_node_and_attribute(line, message):
    op = line.split("(")[0].split("[")[0]
    with pytest.raises(IRVerifyError) as err:
        catspec.parse_ir(_one_node("f32[2]", line), verify=False)
    # named as every IR error names a node, with the line of the text
    assert str(err.value) == f"node 1 ({op}, IR text line 2): {message}"


def test_ir_text_attribute_errors_name_a_named_node_by_its_name_and_location():
    with pytest.raises(IRVerifyError) as err:
        catspec.parse_ir(_one_node("f32[2]", "nn.dense(%0)  # dense_0  m.cat:1:5"))
    assert str(err.value) == ("node 1 (nn.dense `dense_0`, m.cat:1:5; IR text line 2): `dense` "
                              "is missing its argument `out` (an int, with no default)")
    with pytest.raises(IRVerifyError) as err:  # a name without a location
        catspec.parse_ir(_one_node("f32[2]", "nn.dense(%0)  # dense_0"))
    assert str(err.value) == ("node 1 (nn.dense `dense_0`, IR text line 2): `dense` is missing "
                              "its argument `out` (an int, with no default)")


def _mlp_json_with(edit) -> dict:
    data = catspec.to_json(catspec.load(SPECS / "mlp.cat"))
    edited = copy.deepcopy(data)
    dense = next(n for n in edited["graph"]["nodes"] if n["name"] == "dense_0")
    edit(dense)
    return data, edited


def test_json_fills_in_attributes_left_out_with_the_ops_defaults():
    data, edited = _mlp_json_with(lambda n: n["attrs"].pop("bias"))
    back = catspec.from_json(json.dumps(edited))
    assert back.node_by_name("dense_0").attrs == {"out": 256, "bias": True}
    assert catspec.to_json(back) == data


@pytest.mark.parametrize("edit, text_edit, message", [
    (lambda n: n["attrs"].pop("out"), ("nn.dense[out=256, bias=true]", "nn.dense[bias=true]"),
     "`dense` is missing its argument `out` (an int, with no default)"),
    (lambda n: n["attrs"].update(bais=n["attrs"].pop("bias")), ("bias=true", "bais=true"),
     "`dense` has no argument `bais` (did you mean `bias`?)"),
    (lambda n: n["attrs"].update(out="256"), ("out=256", 'out="256"'),
     '`dense`: `out` must be an int, got a string `"256"`'),
])
def test_json_attribute_errors_are_the_text_forms(edit, text_edit, message):
    data, edited = _mlp_json_with(edit)
    file = next(n for n in data["graph"]["nodes"] if n["name"] == "dense_0")["span"]["file"]
    with pytest.raises(IRVerifyError) as err:
        catspec.from_json(edited)
    assert str(err.value) == f"node 1 (nn.dense `dense_0`, {Path(file).name}:4:6): {message}"
    # the text form says the same of the same node (its comment keeps the file's name only),
    # and adds the line of the text
    text = catspec.print_ir(catspec.load(SPECS / "mlp.cat"))
    with pytest.raises(IRVerifyError) as err:
        catspec.parse_ir(text.replace(*text_edit, 1))
    assert str(err.value) == f"node 1 (nn.dense `dense_0`, mlp.cat:4:6; IR text line 2): {message}"


def test_json_control_nodes_missing_a_key_are_errors_not_key_errors():
    g = run_passes(catspec.load(SPECS / "fno1d_burgers.cat"), "O2")
    data = catspec.to_json(g)
    scan = next(n for n in data["graph"]["nodes"] if n["op"] == "ctl.scan")
    del scan["attrs"]["length"]
    with pytest.raises(IRVerifyError) as err:
        catspec.from_json(data)
    assert str(err.value) == (f"node {scan['id']} (ctl.scan `scan`, {Path(scan['span']['file']).name}:"
                              f"{scan['span']['line']}:{scan['span']['col']}): `ctl.scan` is "
                              "missing its attribute `length`")
    unnamed = copy.deepcopy(data)
    node = next(n for n in unnamed["graph"]["nodes"] if n["op"] == "ctl.scan")
    node["name"], node["span"] = "", None
    with pytest.raises(IRVerifyError) as err:
        catspec.from_json(unnamed)
    assert str(err.value) == (f"node {node['id']} (ctl.scan): `ctl.scan` is missing its "
                              "attribute `length`")
