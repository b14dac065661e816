"""The IR as a library: queries, edits (and refused edits), pattern rewriting, JSON, text, DOT,
``show --format``, and every code block of docs/IR.md."""

from __future__ import annotations

import json
import re

import catspec
import jax
import jax.numpy as jnp
import pytest
from catspec import IRVerifyError
from catspec.cli import app
from catspec.compiler.passes import PASSES, run_passes
from catspec.compiler.pattern import find
from catspec.compiler.printer import print_graph
from conftest import ROOT, SPECS, max_rel_err
from typer.testing import CliRunner

SPEC = """model m(width: int = 8) : Tensor[6] -> Tensor[3] =
    (dense(width) >> relu) ^ 3 >> dense(3)
"""


@pytest.fixture
def graph():
    return catspec.load(SPEC)


def _random_params(model, seed=0):
    params = model.init(seed)
    leaves, tree = jax.tree.flatten(params)
    keys = jax.random.split(jax.random.key(seed + 7), len(leaves))
    return tree.unflatten([jax.random.normal(k, x.shape, x.dtype) * 0.5
                           for k, x in zip(keys, leaves)])


def _x():
    return jax.random.normal(jax.random.key(3), (4, 6), jnp.float32)


def _dense(p, name, h):
    return h @ p[name]["w"] + p[name]["b"]


# -- queries -------------------------------------------------------------------------
def test_queries(graph):
    assert [n.name for n in graph.select(op="dense")] == ["dense_0", "dense_1", "dense_2",
                                                          "dense_3"]
    assert [n.name for n in graph.select(op="nn.*", out=3)] == ["dense_3"]
    assert [n.name for n in graph.select(name="relu_*", where=lambda n: n.id > 2)] == [
        "relu_1", "relu_2"]
    node = graph.node_by_name("dense_1")
    assert (node.op, node.attrs, str(node.out_types[0])) == ("nn.dense", {"out": 8, "bias": True},
                                                              "f32[8]")
    assert (node.span.line, node.span.col) == (2, 6)
    assert {k: s.shape for k, s in graph.params_of(node).items()} == {"w": (8, 8), "b": (8,)}
    assert graph.param("@dense_3/w").shape == (8, 3)
    assert [n.name for n in graph.param_users("dense_0/b")] == ["dense_0"]
    with pytest.raises(IRVerifyError) as err:
        graph.param("dense_0/q")
    assert str(err.value) == "no parameter slot `@dense_0/q`; did you mean `dense_0/w`?"


# -- edits ---------------------------------------------------------------------------
def test_replace_insert_remove_compute_the_expected_function(graph):
    edited = graph.edited(lambda rw: (rw.replace("relu_0", "tanh"),
                                      rw.remove("relu_1"),
                                      rw.insert_after("dense_2", "sigmoid"),
                                      rw.insert_before("dense_3", "softplus")))
    ops = [n.op for n in edited.nodes()][1:-1]
    assert ops == ["nn.dense", "act.tanh", "nn.dense", "nn.dense", "act.sigmoid", "act.relu",
                   "act.softplus", "nn.dense"]
    model = catspec.compile(edited)
    p, x = _random_params(model), _x()
    h = jnp.tanh(_dense(p, "dense_0", x))
    h = _dense(p, "dense_2", _dense(p, "dense_1", h))
    h = jax.nn.softplus(jax.nn.relu(jax.nn.sigmoid(h)))
    assert max_rel_err(model(p, x), _dense(p, "dense_3", h)) <= 1e-5
    assert len(print_graph(graph).splitlines()) == 10  # the original is untouched


def test_set_attrs_reshapes_own_slots_and_drops_unused(graph):
    with graph.rewriter() as rw:
        rw.set_attrs("dense_3", bias=False)
        rw.set_attrs("dense_2", out=8)  # unchanged shape: fine
    assert graph.node_by_name("dense_3").params == {"w": "dense_3/w"}
    assert "dense_3/b" not in graph.params
    g2 = catspec.load("model m : Tensor[6] -> Tensor[3] = dense(8) >> relu >> dense(3)")
    # The last dense's input follows the first's width only if its slot could change: refused.
    with pytest.raises(IRVerifyError):
        g2.edited(lambda rw: rw.set_attrs("dense_0", out=4))


REFUSED = [
    (lambda rw: rw.rewire("dense_3", 0, "x"),
     "cannot rewire input 0 of dense_3: node 7 (nn.dense `dense_3`, <spec>:2:35): "
     "@dense_3/w has shape (8, 3), `w` needs (6, 3)"),
    (lambda rw: rw.set_attrs("dense_0", out=5),
     "cannot set out=5 on dense_0: node 3 (nn.dense `dense_1`, <spec>:2:6): "
     "@dense_1/w has shape (8, 8), `w` needs (5, 8)"),
    (lambda rw: rw.set_attrs("dense_3", out=4),
     "cannot set out=4 on dense_3: the model's output 0 would become f32[4], but the graph is "
     "declared to return f32[3]"),
    (lambda rw: rw.remove("dense_3"),
     "cannot remove node 7 (nn.dense `dense_3`, <spec>:2:35): its readers expect f32[3], but its "
     "input is f32[8]"),
    (lambda rw: rw.tie("dense_0", "dense_1"),
     "cannot tie node 1 (nn.dense `dense_0`, <spec>:2:6) to node 3 (nn.dense `dense_1`, "
     "<spec>:2:6): `w` has shape (6, 8) here and (8, 8) there"),
    (lambda rw: rw.insert_after("dense_0", "dense", {"out": 4}),
     "cannot insert dense after dense_0: node 3 (nn.dense `dense_1`, <spec>:2:6): "
     "@dense_1/w has shape (8, 8), `w` needs (4, 8)"),
    (lambda rw: rw.replace("relu_0", "add"),
     "cannot replace relu_0 by add: `struct.add` takes 2 inputs, got 1"),
    (lambda rw: rw.replace("relu_0", "dense"),
     "cannot replace relu_0 by dense: `dense` is missing its argument `out` "
     "(e.g. `dense(out=…)`)"),
    (lambda rw: rw.set_attrs("dense_1", outt=3),
     "cannot set outt=3 on dense_1: `dense` has no argument `outt` (did you mean `out`?)"),
    (lambda rw: rw.remove("x"),
     "cannot remove node 0 (io.input `x`, <spec>:1:27): it is a boundary node"),
    (lambda rw: rw.rewire("dense_0", 0, "dense_2"),
     "cannot rewire node 1 (nn.dense `dense_0`, <spec>:2:6) to read node 5 (nn.dense `dense_2`, "
     "<spec>:2:6): it would make a cycle"),
    (lambda rw: rw.node("dense_9"), "no node named `dense_9` in graph `m`; did you mean `dense_3`?"),
]


@pytest.mark.parametrize("edit,message", REFUSED)
def test_refused_edits_have_exact_text_and_leave_the_graph_alone(graph, edit, message):
    before = catspec.to_json(graph)
    with pytest.raises(IRVerifyError) as err:
        edit(graph.rewriter())
    assert str(err.value) == message
    assert catspec.to_json(graph) == before
    graph.verify()


def test_tie_and_freeze(graph):
    with graph.rewriter() as rw:
        rw.tie("dense_2", "dense_1")
        roots = rw.freeze("dense_0")
    assert roots == ["dense_0/w", "dense_0/b"]
    assert "dense_2/w" not in graph.params and "dense_2/b" not in graph.params
    assert graph.params.trainable_count() == 8 * 8 + 8 + 8 * 3 + 3
    model = catspec.compile(graph)
    p, x = _random_params(model), _x()
    assert "dense_2" not in p
    h = x
    for name in ("dense_0", "dense_1", "dense_1"):
        h = jax.nn.relu(_dense(p, name, h))
    assert max_rel_err(model(p, x), _dense(p, "dense_3", h)) <= 1e-5
    graph.rewriter().freeze("dense_0/w", trainable=True)
    assert graph.param("dense_0/w").trainable


# -- pattern rewriting -------------------------------------------------------------------
def test_pattern_rewrite_keeps_weights_and_computes_the_new_function(graph):
    n = catspec.rewrite(graph, "dense(k) >> relu", "dense(k) >> gelu(approximate=true)")
    assert n == 3
    assert [x.op for x in graph.select(op="act.*")] == ["act.gelu"] * 3
    model = catspec.compile(graph)
    p, x = _random_params(model), _x()
    h = x
    for i in range(3):
        h = jax.nn.gelu(_dense(p, f"dense_{i}", h), approximate=True)
    assert max_rel_err(model(p, x), _dense(p, "dense_3", h)) <= 1e-5


def test_pattern_literals_bindings_and_callables(graph):
    assert catspec.rewrite(graph, "relu >> dense(4)", "id") == 0  # no dense has out=4
    assert [m.bindings for m in find(graph, "dense(k) >> relu >> dense(k)")] == [{"k": 8}] * 2
    before = catspec.compile(graph)
    p, x = _random_params(before), _x()
    y0 = before(p, x)
    # relu(relu(x)) == relu(x): add one, then remove it by pattern; the function is unchanged.
    graph.rewriter().insert_after("relu_1", "relu")
    assert catspec.rewrite(graph, "relu >> relu", lambda rw, m: m.nodes[0]) == 1
    assert max_rel_err(catspec.compile(graph)(p, x), y0) <= 1e-5


def test_pattern_rewrite_that_breaks_types_is_refused(graph):
    before = catspec.to_json(graph)
    with pytest.raises(IRVerifyError) as err:
        catspec.rewrite(graph, "dense(out=3)", "id")
    assert str(err.value) == ("cannot rewrite the match at `dense_3` with `id`: the model's "
                              "output 0 would become f32[8], but the graph is declared to "
                              "return f32[3] (nothing was rewritten)")
    assert catspec.to_json(graph) == before


def test_a_failing_rewrite_or_with_block_leaves_the_graph_as_it_was(graph):
    before = catspec.print_ir(graph)
    # the first match (relu_0 -> gelu) fits; the last does not: nothing stays rewritten
    with pytest.raises(IRVerifyError) as err:
        catspec.rewrite(graph, "relu >> dense(o)", "gelu >> dense(8)")
    assert str(err.value).startswith("cannot rewrite the match at `relu_2` with "
                                     "`gelu >> dense(8)`: ")
    assert catspec.print_ir(graph) == before
    with pytest.raises(RuntimeError):
        with graph.rewriter() as rw:
            rw.replace("relu_0", "gelu")
            rw.add("tanh", ["dense_0"])
            raise RuntimeError("the caller's own code fails")
    assert catspec.print_ir(graph) == before


def test_rewritten_repetitions_still_scan():
    g = catspec.load(RMLP_SPEC)
    assert catspec.rewrite(g, "relu", "gelu") == 3
    assert catspec.rewrite(g, "residual(dense(d) >> gelu >> dense(d))",
                           "residual(dense(d) >> tanh >> dense(d))") == 3
    assert [n.meta for n in g.select(op="act.tanh")] == [{"repeat": ((0, i),)} for i in range(3)]
    assert [n.op for n in run_passes(g, "O2").nodes()].count("ctl.scan") == 1


# -- graph patterns (`@`, `+`, `residual`) -------------------------------------------------
RMLP_SPEC = ROOT / "tests" / "golden" / "repeat-to-scan" / "residual_mlp.cat"


def test_graph_pattern_matches_raw_and_canonical_graphs_and_keeps_the_first_weights():
    text = "model m : Tensor[4] -> Tensor[3] = dense(3) + dense(3) >> relu"
    for g in (catspec.load(text), run_passes(catspec.load(text), "O1")):  # with/without copy
        (m,) = find(g, "dense(k) + dense(k)")
        assert [n.name for n in m.nodes] == ["dense_0", "dense_1", "add_0"]
        assert m.bindings == {"k": 3} and m.inputs == [(0, 0)]
        assert catspec.rewrite(g, "dense(k) + dense(k)", "dense(k)") == 1
        assert [n.op for n in g.nodes()] == ["io.input", "nn.dense", "act.relu", "io.output"]
        assert g.node_by_name("dense_0").params == {"w": "dense_0/w", "b": "dense_0/b"}
        assert [s.path for s in g.params] == ["dense_0/w", "dense_0/b"]


def test_residual_pattern_removes_the_skips_and_computes_the_plain_stack():
    g = catspec.load(RMLP_SPEC)
    pattern = "residual(dense(d) >> relu >> dense(d))"
    assert [[n.name for n in m.nodes] for m in find(g, pattern)][0] == [
        "block_0/dense_0", "block_0/relu_0", "block_0/dense_1", "block_0/add_0"]
    assert len(find(run_passes(g, "O1"), pattern)) == 3
    assert catspec.rewrite(g, pattern, "dense(d) >> relu >> dense(d)") == 3
    assert not g.select(op="struct.*")
    model = catspec.compile(g)
    p, x = _random_params(model), jax.random.normal(jax.random.key(3), (2, 8))
    h = x
    for i in range(3):
        h = _dense(p["block_" + str(i)], "dense_1",
                   jax.nn.relu(_dense(p["block_" + str(i)], "dense_0", h)))
    assert max_rel_err(model(p, x), _dense(p, "dense_0", h)) <= 1e-5


def test_graph_pattern_commutes_adds_and_takes_several_inputs():
    g = catspec.load("model m : Tensor[4] -> Tensor[4] = relu + dense(4)")
    assert len(find(g, "dense(4) + relu")) == 1 and not find(g, "dense(5) + relu")
    two = catspec.load("model m : (Tensor[4], Tensor[4]) -> Tensor[4] = (relu @ relu) >> add")
    assert catspec.rewrite(two, "(relu @ relu) >> add", "add >> relu") == 1  # relu(a)+relu(b)
    assert [(n.op, n.name) for n in two.nodes()][2:4] == [("struct.add", "add_0"),
                                                          ("act.relu", "relu_0")]
    assert two.inputs_of(two.node_by_name("add_0").id) == [(0, 0), (1, 0)]


def test_graph_pattern_is_not_taken_when_an_inner_value_is_read_outside():
    g = catspec.load("model m : Tensor[4] -> Tensor[3] = dense(3) + dense(3) >> relu")
    g.rewriter().add("tanh", ["dense_1"])  # an extra reader of dense_1's output
    assert find(g, "dense(k) + dense(k)") == []


def test_graph_pattern_built_in_python_with_a_predicate():
    from catspec.compiler.pattern_graph import PatternGraph, PNode

    g = catspec.load("model m : Tensor[4] -> Tensor[4] = relu + dense(4)")
    pg = PatternGraph(1, [PNode("relu", {}, [("in", 0)]),
                          PNode("_", {}, [("in", 0)], where=lambda n: n.params != {}),
                          PNode("add", {}, [("node", 0, 0), ("node", 1, 0)], commutative=True)],
                      output=("node", 2, 0))
    assert [[n.name for n in m.nodes] for m in find(g, pg)] == [["relu_0", "dense_0", "add_0"]]


@pytest.mark.parametrize("pattern, message", [
    ("relu @ relu", "a pattern must have one output; this one has 2"),
    ("id", "a pattern must end in an op (this one is only wiring)"),
    ("residual(relu @ relu)", "`residual` takes one block with one input and one output; "
                              "`relu @ relu` is 2 -> 2"),
    ("(relu @ relu) >> relu", "`relu` takes 1 input(s) but gets 2 in `(relu @ relu) >> relu`"),
    ("relu + (relu @ relu)", "the terms of `+` must take the same inputs; `relu @ relu` "
                             "takes 2, not 1"),
])
def test_graph_pattern_errors(pattern, message):
    g = catspec.load(RMLP_SPEC)
    with pytest.raises(IRVerifyError) as err:
        find(g, pattern)
    assert str(err.value) == message


# -- JSON, text, DOT -----------------------------------------------------------------------
SHIPPED = sorted(p.name for p in SPECS.glob("*.cat"))


@pytest.mark.parametrize("name", SHIPPED)
@pytest.mark.parametrize("passes", ["", "O2,batch-parallel"])
def test_json_and_text_round_trips(name, passes):
    g = catspec.load(SPECS / name)
    g = run_passes(g, passes) if passes else g
    data = catspec.to_json(g)
    assert data["format"] == "catspec-ir" and data["version"] == 1
    back = catspec.from_json(json.loads(json.dumps(data)))
    assert catspec.to_json(back) == data
    text = catspec.print_ir(g)
    parsed = catspec.parse_ir(text)
    assert catspec.print_ir(parsed) == text
    if passes:  # the parameter layout survives both forms (the text omits a trivial one)
        def layout(gr):
            lay = getattr(gr.params, "layout", None)
            return ([s.path for s in (lay.original if lay else gr.params)],
                    lay.stacks if lay else [])

        assert layout(back) == layout(parsed) == layout(g)


def test_optimized_graph_round_trips_keep_init_and_import():
    g = catspec.load(RMLP_SPEC)
    opt = run_passes(g, "O2")
    params = catspec.compile(g).init(0)
    want = catspec.compile(opt).import_params(params)
    for back in (catspec.from_json(json.dumps(catspec.to_json(opt))),
                 catspec.parse_ir(catspec.print_ir(opt))):
        model = catspec.compile(back)
        got = model.import_params(params)
        assert jax.tree.all(jax.tree.map(lambda a, b: bool((a == b).all()), got, want))
        init = model.init(0)
        assert jax.tree.all(jax.tree.map(lambda a, b: bool((a == b).all()), init, want))
    with pytest.raises(IRVerifyError) as err:
        catspec.parse_ir(str(opt))  # the graph without its parameter table
    assert str(err.value) == (
        "IR text: `scan` (ctl.scan) reads stacked parameter slots, which only a parameter "
        "table can describe; parse the output of `print_ir`, which has the `parameters:` table")


def test_text_round_trip_keeps_repetition_tags_for_repeat_to_scan():
    g = catspec.load("model m : Tensor[4] -> Tensor[4] = (residual(dense(4)) ^ 2 >> relu) ^ 3")
    parsed = catspec.parse_ir(catspec.print_ir(g))
    assert parsed.node_by_name("dense_3").meta == {"repeat": ((0, 1), (2, 1))}
    assert [n.meta for n in parsed.nodes()] == [n.meta for n in g.nodes()]
    scanned = run_passes(parsed, "O2")
    assert [n.op for n in scanned.nodes() if n.op.startswith("ctl.")] == ["ctl.scan"]
    assert print_graph(scanned) == print_graph(run_passes(g, "O2"))


def test_text_round_trip_computes_the_same_function():
    g = catspec.load("model m : Tensor[6] -> Tensor[3] = dense(8) with lora(rank=2) >> gelu "
                     ">> dense(3)")
    parsed = catspec.parse_ir(catspec.print_ir(g))
    assert parsed.param("dense_0/w~lora").derive.attrs == {"scale": 1.0}
    assert not parsed.param("dense_0/w").trainable
    a, b = catspec.compile(g), catspec.compile(parsed)
    p, x = _random_params(a), _x()
    assert max_rel_err(b(p, x), a(p, x)) <= 1e-5
    # Without the parameter table, slots come from the ops' rules.
    only_graph = catspec.parse_ir(print_graph(catspec.load(SPEC)))
    assert only_graph.param("dense_3/w").shape == (8, 3)


def test_parse_errors_name_the_line():
    with pytest.raises(IRVerifyError) as err:
        catspec.parse_ir("graph m(%0: f32[4]) -> f32[4] {\n  %1: f32[4] = act.relu(%7)\n"
                         "  return %1\n}\n")
    assert str(err.value) == ("IR text line 2: value %7 is used before it is defined: "
                              "%1: f32[4] = act.relu(%7)")


def test_dot_has_nodes_and_edges(graph):
    dot = graph.to_dot()
    assert dot.startswith('digraph "m" {')
    assert 'n1 [label="nn.dense[out=8, bias=true]\\ndense_0\\n<spec>:2:6", shape=box];' in dot
    assert 'n0 -> n1 [label="f32[6]"];' in dot
    assert dot.count(" -> ") == 8


# -- CLI -------------------------------------------------------------------------------------
def test_show_formats(monkeypatch):
    runner = CliRunner()
    out = runner.invoke(app, ["show", str(SPECS / "mlp.cat"), "--format", "json"])
    assert out.exit_code == 0, out.output
    assert catspec.to_json(catspec.from_json(out.stdout)) == json.loads(out.stdout)
    out = runner.invoke(app, ["show", str(SPECS / "mlp.cat"), "--format", "dot"])
    assert out.exit_code == 0 and out.stdout.startswith('digraph "mlp" {')
    monkeypatch.setattr("shutil.which", lambda name: None)
    out = runner.invoke(app, ["show", str(SPECS / "mlp.cat"), "--format", "svg"])
    assert out.exit_code == 1
    assert out.stderr.startswith("error: --format svg needs the graphviz `dot` program, which is "
                                 "not installed\nhint: install graphviz")
    out = runner.invoke(app, ["show", str(SPECS / "mlp.cat"), "--format", "png"])
    assert out.exit_code == 2
    assert out.stderr == "error: --format must be text, json, dot or svg, got `png`\n"


# -- the docs ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("doc", "least"), [("IR.md", 10), ("PASSES.md", 2)])
def test_docs_python_examples_run(monkeypatch, doc, least):
    text = (ROOT / "docs" / doc).read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, re.DOTALL)
    assert len(blocks) >= least
    monkeypatch.chdir(ROOT)
    namespace: dict = {}
    registered = dict(PASSES)  # the docs register a pass of their own: unregister it after
    try:
        for k, block in enumerate(blocks):
            exec(compile(block, f"docs/{doc} python block {k + 1}", "exec"), namespace)  # noqa: S102
    finally:
        PASSES.clear()
        PASSES.update(registered)


# -- edits on control nodes, misspelled queries -------------------------------------------
def test_freeze_a_control_node_and_by_slot_path_and_refusals():
    lstm = catspec.load(SPECS / "lstm.cat")
    frozen = lstm.edited(lambda rw: rw.freeze("fold_0"))
    region_slots = lstm.node_by_name("fold_0").region.slots_used()
    assert region_slots and all(not frozen.param(p).trainable for p in region_slots)
    enc = catspec.load(SPECS / "transformer_encoder.cat")
    assert not enc.edited(lambda rw: rw.freeze("@embedding_0/table")).param(
        "embedding_0/table").trainable
    mlp = catspec.load(SPECS / "mlp.cat")
    for edit, message in [
        (lambda rw: rw.freeze("relu_0"),
         "node 2 (act.relu `relu_0`, mlp.cat:4:22) has no parameters to freeze"),
        (lambda rw: rw.freeze("@nope/w"), "no parameter slot @nope/w in graph `mlp`"),
        (lambda rw: rw.freeze("nope/w"), "no node or parameter slot named `nope/w` in graph "
                                         "`mlp`"),
    ]:
        with pytest.raises(IRVerifyError) as err:
            mlp.edited(edit)
        assert str(err.value) == message
    with pytest.raises(IRVerifyError) as err:
        lstm.edited(lambda rw: rw.set_attrs("fold_0", reverse=True))
    assert str(err.value).endswith(": the attributes of control ops are fixed by the spec or "
                                   "the pass that made them; edit the spec, or the nodes of its "
                                   "region")


@pytest.mark.parametrize("query, message", [
    (lambda g: g.select(op="dens"), "unknown op `dens` (did you mean `dense`?)"),
    (lambda g: g.nodes(op="rleu"), "unknown op `rleu` (did you mean `relu`?)"),
    (lambda g: g.select(op="act.zz*"), "`act.zz*` matches no op"),
    (lambda g: find(g, ["nn.dens"]), "unknown op `nn.dens` (did you mean `nn.dense`?)"),
    (lambda g: find(g, "dense(outt=4)"), "`dense` has no argument `outt` (did you mean `out`?)"),
])
def test_misspelled_queries_are_errors_not_empty_results(query, message):
    with pytest.raises(IRVerifyError) as err:
        query(catspec.load(SPECS / "mlp.cat"))
    assert str(err.value) == message


def test_malformed_ir_text_and_json_are_located_errors():
    import re as _re

    text = catspec.print_ir(catspec.load(SPECS / "mlp.cat"))
    cases = [
        (text.replace("bias=true", "bais=true", 1),
         "node 1 (nn.dense `dense_0`, mlp.cat:4:6; IR text line 2): `dense` has no argument "
         "`bais` (did you mean `bias`?)"),
        (_re.sub(r"out=(\d+)", r'out="\1"', text, count=1),
         'node 1 (nn.dense `dense_0`, mlp.cat:4:6; IR text line 2): `dense`: `out` must be an '
         'int, got a string `"256"`'),
    ]
    for bad, message in cases:
        with pytest.raises(IRVerifyError) as err:
            catspec.parse_ir(bad)
        assert str(err.value) == message
    for data, message in [
        ([1, 2], 'JSON IR: expected an object with "format": "catspec-ir", got list'),
        ({"format": "catspec-ir", "version": 1}, "JSON IR: malformed (missing key 'params')"),
        ("{", "JSON IR: not valid JSON: Expecting property name enclosed in double quotes: "
              "line 1 column 2 (char 1)"),
    ]:
        with pytest.raises(IRVerifyError) as err:
            catspec.from_json(data)
        assert str(err.value) == message


def test_instance_names_given_to_edits_are_checked():
    mlp = catspec.load(SPECS / "mlp.cat")
    before = catspec.print_ir(mlp)
    for edit, message in [
        (lambda rw: rw.add("relu", ["dense_0"], name="relu_1"),
         "instance name `relu_1` is taken by node 4 (act.relu `relu_1`, mlp.cat:4:22)"),
        (lambda rw: rw.replace("relu_0", "gelu", name="my layer"),
         "instance name `my layer` is not a path of identifiers like `block_0/dense_1`"),
    ]:
        with pytest.raises(IRVerifyError) as err:
            with mlp.rewriter() as rw:
                edit(rw)
        assert str(err.value) == message
    assert catspec.print_ir(mlp) == before
    renamed = mlp.edited(lambda rw: rw.replace("relu_0", "gelu", name="act/first"))
    assert renamed.node_by_name("act/first").op == "act.gelu"


def test_second_review_fixes():
    # init covers slots that edits made after the passes
    g = run_passes(catspec.load(SPECS / "mlp.cat", width=16), "O1")
    catspec.rewrite(g, "dense(k) >> relu", "dense(k) >> layer_norm >> relu")
    m = catspec.compile(g)
    assert m(m.init(0), jnp.ones((1, 784))).shape == (1, 10)
    # a transaction undoes what nested rewriters and catspec.rewrite did inside it
    g = catspec.load(SPECS / "mlp.cat", width=16)
    before = catspec.print_ir(g)
    with pytest.raises(RuntimeError):
        with g.rewriter() as rw:
            rw.insert_after("dense_0", "layer_norm")
            catspec.rewrite(g, "layer_norm", "tanh")
            with g.rewriter() as rw2:
                rw2.remove("relu_1")
            raise RuntimeError("later failure")
    assert catspec.print_ir(g) == before
    # one sweep: what a replacement built is not matched again
    r = catspec.load("model m : Tensor[4] -> Tensor[4] = relu ^ 4")
    assert catspec.rewrite(r, "relu >> relu >> id", "tanh >> relu") == 2
    assert [n.op for n in r.nodes()][1:-1] == ["act.tanh", "act.relu"] * 2
    # a callable that declines leaves no trace
    mlp = catspec.load(SPECS / "mlp.cat")
    n0 = len(mlp.nodes())
    assert catspec.rewrite(mlp, "dense >> relu",
                           lambda rw, m: (rw.add("dense", [m.output], {"out": 16}), None)[1]) == 0
    assert len(mlp.nodes()) == n0
    # a pattern input computed inside the match is not a match
    hh = catspec.load("model m : Tensor[4] -> Tensor[4] {\n    h = dense(4)(x)\n"
                      "    return add(h, h)\n}")
    assert find(hh, "(dense(k) @ id) >> add") == []


def test_constants_from_text():
    text = ("graph m(%0: f32[3]) -> f32[3] {\n"
            "  %1: f32[3] = ctl.const[value=[-1.0, 0.0, 2.0]]()\n"
            "  %2: f32[3] = act.relu(%1)\n"
            "  %3: f32[3] = struct.add[n=2](%0, %2)\n"
            "  return %3\n}")
    folded = run_passes(catspec.parse_ir(text), "O1")  # unnamed nodes fold too
    assert [n.attrs["value"] for n in folded.nodes(op="ctl.const")][-1] == (0.0, 0.0, 2.0)
    with pytest.raises(IRVerifyError) as err:
        catspec.parse_ir(text.replace("[-1.0, 0.0, 2.0]", "[1.0, 2.0]"))
    assert str(err.value) == "`node 1` (ctl.const): its value holds 2 number(s), its type " \
                             "f32[3] needs 3"


def test_patterns_with_copy_id_and_multi_port_ops():
    g = catspec.load("model m : Tensor[4] -> Tensor[4] = relu + tanh")
    assert len(find(g, "copy >> (relu @ tanh) >> add")) == len(find(g, "relu + tanh")) == 1
    enc = catspec.load(SPECS / "transformer_encoder.cat")
    assert [m.bindings for m in find(enc, "layer_norm >> copy(3) >> attention(heads=h)")] == \
        [{"h": 2}, {"h": 2}]
    ided = catspec.load("model m : Tensor[4] -> Tensor[4] = dense(4) >> id >> relu")
    assert catspec.rewrite(ided, "dense(k) >> relu", "dense(k) >> tanh") == 1  # id looked through
    assert [n.op for n in ided.nodes()] == ["io.input", "nn.dense", "act.tanh", "io.output"]
    sub = catspec.load("model m : (Tensor[4], Tensor[4]) -> Tensor[4] = swap >> sub")
    assert len(find(sub, "swap >> sub")) == 1
    with pytest.raises(IRVerifyError) as err:
        find(enc, "layer_norm >> attention(heads=2)")
    assert str(err.value) == ("`attention(heads=2)` takes 3 input(s) but gets 1 in "
                              "`layer_norm >> attention(heads=2)`")
    # a chain pattern may take a graph-shaped replacement; a misspelt one always fails
    r = catspec.load("model m : Tensor[8] -> Tensor[8] = (dense(8) >> relu) ^ 2")
    assert catspec.rewrite(r, "dense(d) >> relu", "residual(dense(d) >> relu)") == 2
    with pytest.raises(IRVerifyError) as err:
        catspec.rewrite(r, "sigmoid", "unknownop(q)")
    assert str(err.value) == "unknown op `unknownop`"


def test_text_without_a_table_refuses_derived_slots():
    with pytest.raises(IRVerifyError) as err:
        catspec.parse_ir(str(catspec.load(SPECS / "lora_mlp.cat")))
    assert str(err.value).startswith("IR text: `dense_0` reads @dense_0/w~lora, a slot derived "
                                     "by a reparametrisation")


def test_ir_text_names_unknown_dtypes_and_ops():
    text = catspec.print_ir(catspec.load(SPECS / "mlp.cat"))
    with pytest.raises(IRVerifyError) as err:
        catspec.parse_ir(text.replace("f32[784]", "q32[784]", 1))
    assert str(err.value).startswith("IR text line 1: unknown dtype `q32` (dtypes: bf16, bool, ")
    with pytest.raises(IRVerifyError) as err:
        catspec.parse_ir(text.replace("act.relu", "relu", 1))
    assert str(err.value) == ("node 2 (relu `relu_0`, mlp.cat:4:22): unknown op `relu` (did you "
                              "mean `act.relu`?)")


def test_nodes_added_in_a_region_are_named_under_its_owner():
    g = catspec.load(SPECS / "deepsets.cat")
    region = g.node_by_name("map_0").region
    assert catspec.rewrite(region, "relu", "tanh") == 2
    assert [n.name for n in region.select(op="tanh")] == ["map_0/tanh_0", "map_0/tanh_1"]
    g.verify()


# -- refusals found by a new-user review (2026-11-30) ------------------------------------------
RNN = """def cell(hidden: int) : (h, x) -> (h2, y) {
    h2 = tanh(dense(hidden)(concat(h, x)))
    return h2, dense(hidden)(h2)
}
model rnn(hidden: int = 4) : Tensor[T, 3] -> Tensor[T, hidden] = fold(cell(hidden), state=hidden)
"""


def _refused(graph, edit) -> str:
    before = catspec.print_ir(graph)
    with pytest.raises(IRVerifyError) as err:
        with graph.rewriter() as rw:
            edit(rw)
    assert catspec.print_ir(graph) == before  # rolled back
    return str(err.value)


def test_an_edit_inside_a_region_is_verified_with_its_owner():
    g = catspec.load(RNN)
    region = g.node_by_name("fold_0").region
    assert _refused(region, lambda rw: rw.set_attrs("fold_0/cell_0/dense_1", out=5)) == (
        "cannot set out=5 on fold_0/cell_0/dense_1: `fold_0`: its region gives f32[T,5], but "
        "it is typed f32[T,4]")
    for back in (g.copy(), catspec.from_json(catspec.to_json(g)),
                 catspec.parse_ir(catspec.print_ir(g))):
        assert back.node_by_name("fold_0").region.parent is back


def test_sizes_below_one_are_refused(graph):
    assert _refused(graph, lambda rw: rw.set_attrs("dense_1", out=0)) == (
        "cannot set out=0 on dense_1: node 3 (nn.dense `dense_1`, <spec>:2:6): output type "
        "f32[0]: sizes must be positive")
    assert _refused(graph, lambda rw: rw.set_attrs("dense_1", out=2**41)) == (
        "cannot set out=2199023255552 on dense_1: node 3 (nn.dense `dense_1`, <spec>:2:6): "
        "output type f32[2199023255552]: sizes above 2^40 = 1,099,511,627,776 are refused")
    with pytest.raises(catspec.SpecError) as err:
        catspec.load(SPEC, width=10**20)
    assert err.value.message == ("`dense` would produce f32[100000000000000000000]: sizes above "
                                 "2^40 = 1,099,511,627,776 are refused")


def test_a_name_shared_by_tied_copies_is_ambiguous():
    g = catspec.load("model m(d: int = 8) : Tensor[d] -> Tensor[d] = tie((dense(d) >> relu) ^ 3)")
    with pytest.raises(IRVerifyError) as err:
        g.node_by_name("dense_0")
    assert str(err.value) == (
        "`dense_0` names 3 nodes (ids 1, 3, 5; the copies of a tied repetition share their "
        "names); pass a node id, or a Node from graph.select(name='dense_0')")
    assert [n.id for n in g.select(name="dense_0")] == [1, 3, 5]
    assert _refused(g, lambda rw: rw.set_attrs(1, out=16)) == (
        "cannot set out=16 on dense_0: node 1 (nn.dense `dense_0`, <spec>:1:53): @dense_0/w has "
        "shape (8, 8), `w` needs (8, 16): 3 nodes read it (tied)")


def test_queries_take_globs_and_check_attribute_names(graph):
    assert [n.name for n in graph.nodes(op="act.*")] == ["relu_0", "relu_1", "relu_2"]
    with pytest.raises(IRVerifyError) as err:
        graph.select(op="dense", outt=8)
    assert str(err.value) == "no op matching `dense` has an attribute `outt` (did you mean `out`?)"
    with pytest.raises(IRVerifyError) as err:
        graph.node(99)
    assert str(err.value) == ("no node 99 in graph `m`; ids are ints (graph.node_by_name finds "
                              "a node by name)")
    dense = graph.node_by_name("dense_0")
    assert graph.inputs_of(dense) == graph.inputs_of(dense.id) == [(0, 0)]
    assert graph.users_of(dense) == [(2, 0)]
    assert graph.params.layout is None


def test_refusals_name_what_went_wrong(graph):
    copy = graph.copy()
    assert _refused(copy, lambda rw: rw.replace(graph.node_by_name("relu_0"), "gelu")) == (
        "node 2 (act.relu `relu_0`, <spec>:2:22) is a Node of another Graph object (a copy of "
        "this one?); pass its name or id (2), or take the node from this graph")
    assert _refused(graph, lambda rw: rw.rewire("dense_1", "a", "relu_0")) == (
        "an input port is an int (0..0 for node 3 (nn.dense `dense_1`, <spec>:2:6)), got 'a'")
    assert _refused(graph, lambda rw: rw.replace("x", "relu")) == (
        "cannot replace node 0 (io.input `x`, <spec>:1:27): it is a boundary node (edit after "
        "it with insert_after, or before the output with insert_before)")
    assert _refused(graph, lambda rw: rw.freeze("dense_0/ww")) == (
        "no node or parameter slot named `dense_0/ww` in graph `m`; did you mean `dense_0/w`?")
    lora = catspec.load(SPECS / "lora_mlp.cat")
    assert _refused(lora, lambda rw: rw.set_attrs("dense_0", out=16)) == (
        "cannot set out=16 on dense_0: node 1 (nn.dense `dense_0`, lora_mlp.cat:3:5): "
        "@dense_0/w~lora has shape (64, 32), `w` needs (64, 16): it is derived (lora) from "
        "@dense_0/w, @dense_0/w_lora_a, @dense_0/w_lora_b, which an edit does not resize")


# -- second review (2026-11-30) ------------------------------------------------------------
def test_edits_before_a_control_node_keep_its_type_or_are_refused():
    gru = catspec.load(SPECS / "gru.cat")
    edited = gru.edited(lambda rw: rw.insert_before("fold_0", "layer_norm"))
    assert [n.op for n in edited.nodes()] == ["io.input", "nn.layer_norm", "ctl.fold",
                                              "io.output"]
    assert _refused(gru, lambda rw: rw.insert_before("fold_0", "dense", {"out": 5})) == (
        "cannot insert dense before fold_0: `fold_0`: region inputs (f32[16], f32[8]), "
        "expected (f32[16], f32[5])")


def test_edits_that_break_an_op_are_verify_errors():
    g = catspec.load("model s : Tensor[8] -> Tensor[2] = split(4) >> (id @ drop @ drop @ drop)")
    assert _refused(g, lambda rw: rw.set_attrs("split_0", n=2)) == (
        "cannot set n=2 on split_0: node 1 (struct.split `split_0`, <spec>:1:36) would have 2 "
        "output(s), but its output 3 is read")
    e = catspec.load('model e : (a: Tensor[4], b: Tensor[4]) -> Tensor[4] { '
                     'return einsum("d,d->d")(a, b) }')
    assert _refused(e, lambda rw: rw.set_attrs("einsum_0", equation="d,o->q")) == (
        "cannot set equation='d,o->q' on einsum_0: node 2 (tensor.einsum `einsum_0`, "
        "<spec>:1:62): `einsum`: output subscript `q` of \"d,o->q\" appears in no operand")


def test_a_rewrite_keeps_names_and_weights_with_their_layers():
    g = catspec.load("model m : Tensor[4] -> Tensor[4] = dense(4) >> relu >> dense(4) >> relu")
    model = catspec.compile(g)
    params = _random_params(model)
    assert catspec.rewrite(g, "dense(a) >> relu", "relu >> dense(a)") == 2
    assert [(n.name, n.params.get("w")) for n in g.nodes()][1:-1] == [
        ("relu_0", None), ("dense_0", "dense_0/w"), ("relu_1", None), ("dense_1", "dense_1/w")]
    x = _x()[:, :4]
    d0, d1 = params["dense_0"], params["dense_1"]
    want = jax.nn.relu(jax.nn.relu(x) @ d0["w"] + d0["b"]) @ d1["w"] + d1["b"]
    assert max_rel_err(catspec.compile(g)(params, x), want) <= 1e-5
    # a removed layer's name and slots are not handed to a new one
    with g.rewriter() as rw:
        rw.remove("dense_1")
        new = rw.insert_after("relu_1", "dense", {"out": 4})
    assert new.name == "dense_2" and new.params["w"] == "dense_2/w"


def test_a_bare_name_pattern_matches_ops_whose_arity_needs_an_argument():
    g = catspec.load(SPECS / "deeponet_antiderivative.cat")
    (match,) = find(g, "einsum(e)")
    assert match.bindings == {"e": "k,pk->p"}
    assert len(find(g, "einsum")) == len(find(g, "einsum(e) >> bias")) == 1


def test_dropping_a_scanned_view_slot_is_refused_at_the_edit():
    opt = run_passes(catspec.load(ROOT / "tests" / "golden" / "repeat-to-scan" / "residual_mlp.cat"),
                     "O2")
    (scan,) = opt.nodes(op="ctl.scan")
    assert _refused(scan.region, lambda rw: rw.set_attrs("block_0/dense_0", bias=False)) == (
        "cannot set bias=False on block_0/dense_0: node 1 (nn.dense `block_0/dense_0`, "
        "residual_mlp.cat:3:30): @block_0/dense_0/b is a per-iteration view of the stacked "
        "@scan/block_0/dense_0/b, which an edit does not remove; edit the graph before "
        "`repeat-to-scan`")


# -- a new user's review (2026-11-30): control nodes, argument checks, names -----------------
FOLDS = """\
def cell(h: int) : (s, x) -> s2 { return tanh(dense(h)(concat(s, x))) }
model m : Tensor[T, 3] -> (Tensor[4], Tensor[4]) =
    copy >> (fold(cell(4), state=4) @ fold(cell(4), state=4, init="learned"))
"""


def test_freezing_a_fold_with_a_learned_state_freezes_its_cell_too():
    g = catspec.load(FOLDS)
    frozen = g.edited(lambda rw: rw.freeze("fold_1"))
    assert {s.path: s.trainable for s in frozen.params.roots() if s.path.startswith("fold_1")} \
        == {"fold_1/cell_0/dense_0/w": False, "fold_1/cell_0/dense_0/b": False,
            "fold_1/s0": False}
    assert frozen.params.trainable_count() == g.params.trainable_count() - 32 - 4


def test_removing_or_replacing_a_fold_drops_its_cells_parameters():
    g = catspec.load(FOLDS)
    kept = sorted(p for p in g.params.slots if p.startswith("fold_0"))

    def remove(rw):
        rw.rewire(g.output, 1, "fold_0")
        rw.remove("fold_1")

    assert sorted(g.edited(remove).params.slots) == kept
    mapped = catspec.load("model m : Tensor[T, 3] -> Tensor[T, 4] = map(dense(4), axis=0)")
    assert list(mapped.params.slots) == ["map_0/dense_0/w", "map_0/dense_0/b"]
    replaced = mapped.edited(lambda rw: rw.replace("map_0", "dense", {"out": 4}))
    assert list(replaced.params.slots) == ["map_0/w", "map_0/b"]


@pytest.mark.parametrize(("call", "message"), [
    (lambda g: find(g, []), "a pattern is a spec string (\"dense >> relu\"), a PatternGraph, or "
     "a list of ops: OpPattern, op names or (op, attrs) pairs; got an empty list"),
    (lambda g: find(g, [42]), "a pattern is a spec string (\"dense >> relu\"), a PatternGraph, "
     "or a list of ops: OpPattern, op names or (op, attrs) pairs; got 42 in the list"),
    (lambda g: catspec.rewrite(g, 3, "id"), "a pattern is a spec string (\"dense >> relu\"), a "
     "PatternGraph, or a list of ops: OpPattern, op names or (op, attrs) pairs; got 3"),
    (lambda g: catspec.rewrite(g, "fold(relu, state=4)", "id"), "`fold` is a spec combinator, "
     "not an op: the node it becomes has op `ctl.fold`; its cell is that node's region"),
    (lambda g: catspec.rewrite(g, "relu", "_"),
     "`_` matches any op in a pattern; a replacement names the ops it builds"),
    (lambda g: g.edited(lambda rw: rw.rewire("relu_0", 0, ("dense_0",))),
     "a wire is a node or a (node, port) pair, got ('dense_0',)"),
    (lambda g: g.edited(lambda rw: rw.insert_after("dense_0", None)),
     "cannot insert None after dense_0: an op is named by a string like \"dense\" or "
     "\"nn.dense\", got None"),
    (lambda g: g.edited(lambda rw: rw.insert_after("dense_0", "layer_norm", [1])),
     "cannot insert layer_norm after dense_0: attributes of `layer_norm` are a dict of name -> "
     "value, got [1]"),
    (lambda g: g.edited(lambda rw: rw.replace("relu_0", "gelu", name=5)),
     "instance name `5` is not a path of identifiers like `block_0/dense_1`"),
    (lambda g: g.edited(lambda rw: rw.freeze("dense_0", trainable="no")),
     "`trainable` is True or False, got 'no'"),
    (lambda g: g.edited(lambda rw: rw.freeze("dense_0", params=[3])),
     "parameter names are strings (like \"w\"), got 3"),
    (lambda g: g.inputs_of(99),
     "no node 99 in graph `m`; ids are ints (graph.node_by_name finds a node by name)"),
    (lambda g: g.users_of((99, 0)),
     "no node 99 in graph `m`; ids are ints (graph.node_by_name finds a node by name)"),
    (lambda g: g.type_of((1, 5)), "node 1 (`dense_0`) of graph `m` has no output 5; it has 1 "
     "output"),
])
def test_wrong_arguments_to_the_api_are_ir_errors(call, message):
    g = catspec.load("model m : Tensor[4] -> Tensor[4] = dense(4) >> relu")
    with pytest.raises(IRVerifyError) as err:
        call(g)
    assert str(err.value) == message


def test_freeze_takes_one_parameter_name_as_a_string():
    g = catspec.load("model m : Tensor[4] -> Tensor[4] = dense(4) >> relu")
    frozen = g.edited(lambda rw: rw.freeze("dense_0", params="w"))
    assert [s.trainable for s in frozen.params.roots()] == [False, True]


def test_region_boundary_names_do_not_shadow_the_graphs_own():
    g = catspec.load("model d : Tensor[N, 3] -> Tensor[1] = "
                     "map(dense(8) >> relu, axis=0) >> sum(axis=0) >> dense(1)")
    assert g.node_by_name("output") is g.node(g.output)
    with pytest.raises(IRVerifyError) as err:
        g.node_by_name("in0")
    assert str(err.value) == (
        "`in0` is a boundary node of a region inside graph `d`; look it up in that region's "
        "graph (graph.node_by_name(<control node>).region.node_by_name('in0'))")
    assert g.node_by_name("map_0").region.node_by_name("in0").op == "io.input"


def test_tying_a_per_iteration_view_inside_a_scan_is_refused_with_the_reason():
    deep = catspec.load("def block(d: int) = residual(dense(d) >> relu >> dense(d))\n"
                        "model deep(d: int = 8) : Tensor[d] -> Tensor[2] = block(d) ^ 4 >> "
                        "dense(2)")
    region = run_passes(deep, "O2").node_by_name("scan").region
    assert _refused(region, lambda rw: rw.tie("block_0/dense_1", "block_0/dense_0")) == (
        "cannot tie block_0/dense_1 to block_0/dense_0: node 3 (nn.dense `block_0/dense_1`, "
        "<spec>:1:50): @block_0/dense_1/w is a per-iteration view of the stacked "
        "@scan/block_0/dense_1/w, which an edit does not remove; edit the graph before "
        "`repeat-to-scan`")


def test_a_bare_edit_inside_a_region_is_checked_against_its_owner_and_a_block_at_its_end():
    g = catspec.load("model m : Tensor[T, 3] -> Tensor[T, 4] = map(dense(4), axis=0)")
    region = g.node_by_name("map_0").region
    before = catspec.print_ir(g)
    with pytest.raises(IRVerifyError) as err:
        region.rewriter().set_attrs("map_0/dense_0", out=5)
    assert str(err.value) == ("cannot set out=5 on map_0/dense_0: `map_0`: its region gives "
                              "f32[T,5], but it is typed f32[T,4]")
    assert catspec.print_ir(g) == before
    with region.rewriter() as rw:  # a block may pass through a state its owner refuses
        rw.set_attrs("map_0/dense_0", out=5)
        rw.insert_after("map_0/dense_0", "dense", {"out": 4})
    g.verify()
    assert g.node_by_name("map_0").out_types == catspec.load(
        "model m : Tensor[T, 3] -> Tensor[T, 4] = map(dense(4), axis=0)").node_by_name(
        "map_0").out_types
