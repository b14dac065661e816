"""The optimizer: golden IR text per pass, numerical equivalence on every shipped spec,
parameter layouts, the pass manager (errors, fixed points, timing, dumps) and the CLI.

Regenerate the golden ``.ir`` files with ``CATSPEC_REGEN_GOLDEN=1 pytest tests/test_passes.py``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import catspec
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from catspec.backends.jax import Model, rules_control
from catspec.backends.jax.params import flatten, nest
from catspec.cli import app
from catspec.compiler.ir import Graph
from catspec.compiler.passes import PASSES, Pass, PassTiming, register_pass, run_passes
from catspec.compiler.types import TensorType
from catspec.errors import IRVerifyError, LoweringError, PassError
from conftest import SPECS, max_rel_err
from typer.testing import CliRunner

GOLDEN = Path(__file__).parent / "golden"
CASES = sorted(GOLDEN.glob("*/*.cat"))


def _passes_of(case: Path) -> str:
    first = case.read_text().splitlines()[0]
    if first.startswith("# passes:"):
        return first.split(":", 1)[1].strip()
    return case.parent.name


@pytest.mark.parametrize("case", CASES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_golden_ir(case: Path):
    graph = run_passes(catspec.load(case), _passes_of(case))
    text = str(graph) + "\n"
    expected = case.with_suffix(".ir")
    if os.environ.get("CATSPEC_REGEN_GOLDEN") == "1" or not expected.exists():
        expected.write_text(text)
    assert text == expected.read_text()


def test_every_pass_has_a_golden_case():
    assert {c.parent.name for c in CASES} == set(PASSES)


# -- every pass preserves what every shipped spec computes -----------------------------

# Single passes, then each structural pass after canonicalize (where it finds most to do).
CONFIGS = [*sorted(PASSES), "O2", "inference"]


def _random_params(graph: Graph) -> dict:
    """Random root parameters drawn on the host (no eager JAX work), scaled like lecun."""
    rng = np.random.default_rng(0)
    flat = {}
    for slot in graph.params.roots():
        scale = 1 / np.sqrt(slot.shape[-2]) if len(slot.shape) >= 2 else 0.1
        flat[slot.path] = (rng.normal(size=slot.shape) * scale).astype(np.float32)
    return nest(flat)


@pytest.mark.parametrize("spec", sorted(SPECS.glob("*.cat")), ids=lambda p: p.stem)
def test_passes_preserve_outputs(spec: Path):
    try:
        graph = catspec.load(spec)
        base = Model(graph)
        dims = {s: 32 for t in base.input_types for s in t.symbols}
        xs = base.example_inputs(1, batch=2, dims=dims)
        params = _random_params(graph)
        want = base(params, *xs)
    except Exception as err:  # noqa: BLE001 - a spec this test cannot feed (special inputs)
        pytest.skip(f"cannot run {spec.name} on random inputs: {err}")
    seen = {str(graph)}
    for config in CONFIGS:
        optimized = run_passes(graph, config)
        text = str(optimized)
        if text in seen:  # same IR as one already checked: same function
            continue
        seen.add(text)
        mapped = optimized.params.layout.to_optimized(optimized.params, params)
        got = Model(optimized)(mapped, *xs)
        for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
            assert max_rel_err(a, b) <= 1e-5, (spec.name, config)


# -- repeat-to-scan and batch-parallel: layouts -----------------------------------------

RMLP = GOLDEN / "repeat-to-scan" / "residual_mlp.cat"


def test_scan_layout_round_trip_and_shapes():
    graph = catspec.load(RMLP, depth=4)
    opt = run_passes(graph, "canonicalize,repeat-to-scan")
    assert [n.op for n in opt.nodes()] == ["io.input", "ctl.scan", "nn.dense", "io.output"]
    params = Model(graph).init(3)
    stacked = opt.params.layout.to_optimized(opt.params, params)
    assert stacked["scan"]["block_0"]["dense_0"]["w"].shape == (4, 8, 8)
    assert "block_1" not in stacked
    back = opt.params.layout.to_original(stacked)
    assert jax.tree.all(jax.tree.map(lambda a, b: bool(jnp.array_equal(a, b)), back, params))


def test_scan_is_one_loop_in_the_jaxpr():
    graph = run_passes(catspec.load(RMLP, depth=6), "canonicalize,repeat-to-scan")
    model = Model(graph)
    jaxpr = jax.make_jaxpr(model.apply_unjitted)(model.init(0), jnp.ones((2, 8)))
    text = str(jaxpr)
    assert text.count("scan[") == 1 and text.count("dot_general") == 3


@pytest.mark.parametrize("case, config", [
    (RMLP, "O2"), (GOLDEN / "batch-parallel" / "experts.cat", "O2,batch-parallel")])
def test_init_of_optimized_model_equals_original(case, config):
    graph = catspec.load(case)
    opt = run_passes(graph, config)
    assert opt.params.layout.stacks  # something was stacked
    init = flatten(Model(opt).init(0))
    ref = flatten(opt.params.layout.to_optimized(opt.params, Model(graph).init(0)))
    assert init.keys() == ref.keys()
    assert all(np.array_equal(init[k], ref[k]) for k in init)


def test_batched_experts_stack_parameters():
    case = GOLDEN / "batch-parallel" / "experts.cat"
    opt = run_passes(catspec.load(case), "canonicalize,batch-parallel")
    (node,) = opt.nodes(op="ctl.batched")
    assert node.attrs["k"] == 4 and node.attrs["shared"] is True
    assert opt.param("batch/dense_0/w").shape == (4, 8, 8)
    graph = catspec.load(case)
    params = _random_params(graph)
    x = jax.random.normal(jax.random.key(0), (3, 8))
    got = Model(opt)(opt.params.layout.to_optimized(opt.params, params), x)
    assert max_rel_err(got, Model(graph)(params, x)) <= 1e-5


def _dense(p, x):
    return x @ p["w"] + p["b"]


# Hand-written JAX for the batch-parallel golden cases, on the original parameters.
BATCHED_BY_HAND = {
    "experts": lambda p, x: sum(_dense(p[f"dense_{i}"], x) for i in range(4)),
    "heads": lambda p, x: _dense(p["dense_3"], jnp.concatenate(
        [_dense(p[f"dense_{i}"], x) for i in range(3)], axis=-1)),
    "partial_sum": lambda p, x: _dense(p["dense_0"], x) + jax.nn.relu(x) + _dense(p["dense_1"], x),
    "mlp_experts": lambda p, x: sum(
        _dense(p[f"dense_{2 * i + 1}"], jax.nn.relu(_dense(p[f"dense_{2 * i}"], x)))
        for i in range(3)),
    "split_sum": lambda p, x: _dense(p["dense_0"], x[:, :4]) + _dense(p["dense_1"], x[:, 4:]),
}


@pytest.mark.parametrize("per_instance", [False, True], ids=["batched", "per-instance"])
@pytest.mark.parametrize("name", sorted(BATCHED_BY_HAND))
def test_batch_parallel_outputs_and_gradients_match_hand_written_jax(name, per_instance,
                                                                      monkeypatch):
    # per-instance: the CPU lowering for weights above CPU_UNBATCHED_WEIGHT elements
    if per_instance:
        monkeypatch.setattr(rules_control, "CPU_UNBATCHED_WEIGHT", 0)
    graph = catspec.load(GOLDEN / "batch-parallel" / f"{name}.cat")
    opt = run_passes(graph, "canonicalize,batch-parallel")
    layout = opt.params.layout
    params = _random_params(graph)
    x = jax.random.normal(jax.random.key(0), (3, 8))
    hand = BATCHED_BY_HAND[name]
    model = Model(opt)

    def loss(p, f):
        return jnp.sum(jnp.square(f(p, x)))

    assert max_rel_err(model(layout.to_optimized(opt.params, params), x), hand(params, x)) <= 1e-5
    got = layout.to_original(jax.grad(loss)(layout.to_optimized(opt.params, params),
                                            model.apply_unjitted))
    want = jax.grad(loss)(params, hand)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
        assert max_rel_err(a, b) <= 1e-5


def test_batched_reduce_is_verified():
    opt = run_passes(catspec.load(GOLDEN / "batch-parallel" / "heads.cat"),
                     "canonicalize,batch-parallel")
    (node,) = opt.nodes(op="ctl.batched")
    node.attrs = {**node.attrs, "k": 2}
    with pytest.raises(IRVerifyError) as err:
        opt.verify()
    assert str(err.value) == ("`batch` (ctl.batched): typed f32[24], the concat of its 2 "
                              "instances is f32[16]")
    node.attrs = {**node.attrs, "reduce": "max"}
    with pytest.raises(IRVerifyError) as err:
        opt.verify()
    assert str(err.value) == ("`batch` (ctl.batched): reduce='max' needs a single-output op "
                              "and one of 'sum', 'concat'")


def test_fuse_dense_keeps_the_pytree():
    case = GOLDEN / "fuse-dense" / "chain.cat"
    graph = catspec.load(case)
    opt = run_passes(graph, "fuse-dense")
    assert len(opt.nodes(op="nn.dense")) == 1
    assert flatten(Model(opt).init(0)).keys() == flatten(Model(graph).init(0)).keys()
    assert "fuse-dense" not in run_passes.__globals__["PIPELINES"]["O2"]


# -- findings of a new-user review (2026-11-30) --------------------------------------------


def test_canonicalize_keeps_a_reshape_that_changes_the_type():
    for text, out in (
            ("model c : Field[x: 8, c: 2] -> Tensor[8, 2] = reshape([8, 2])", "f32{8,2}"),
            ("model c : Tensor[t: 4, c: 8] -> Tensor[4, 8] = reshape([4, 8]) >> relu",
             "f32[4,8]")):
        opt = run_passes(catspec.load(text), "O1")
        assert [n.op for n in opt.nodes(op="reshape")] == ["shape.reshape"]
        assert str(opt.output_types[0]) == out
    same = run_passes(catspec.load("model c : Tensor[4, 8] -> Tensor[4, 8] = reshape([4, 8])"),
                      "O1")
    assert not same.nodes(op="reshape")


def test_batch_parallel_leaves_out_only_the_experts_it_cannot_stack():
    text = ("model m(d: int = 8) : Tensor[d] -> Tensor[d] =\n"
            "    dense(d) + dense(d) with lora(2) + dense(d) + dense(d) with freeze + dense(d)")
    graph = catspec.load(text)
    opt = run_passes(graph, "O1,batch-parallel")
    (node,) = opt.nodes(op="ctl.batched")
    assert node.attrs["k"] == 3 and node.attrs["reduce"] == "sum"
    assert [n.name for n in opt.nodes(op="dense")] == ["dense_1", "dense_3"]
    params = _random_params(graph)
    x = jax.random.normal(jax.random.key(0), (3, 8))
    got = Model(opt)(opt.params.layout.to_optimized(opt.params, params), x)
    assert max_rel_err(got, Model(graph)(params, x)) <= 1e-5


def test_fuse_dense_inside_a_scanned_block_uses_each_rows_weights():
    # The fused weight is derived from the body's view slots: the scan body recomputes it
    # from the current row (computing it once, outside the loop, used copy 0's weights).
    text = ("def blk(d: int) = residual(dense(d) >> dense(2) >> dense(d) >> tanh)\n"
            "model m(d: int = 8) : Tensor[d] -> Tensor[d] = blk(d) ^ 4")
    graph = catspec.load(text)
    params = _random_params(graph)
    x = jax.random.normal(jax.random.key(0), (3, 8))
    want = Model(graph)(params, x)
    for config in ("O2,fuse-dense", "inference"):
        opt = run_passes(graph, config)
        assert [n.op for n in opt.nodes()] == ["io.input", "ctl.scan", "io.output"], config
        (scan,) = opt.nodes(op="ctl.scan")
        assert len(scan.region.nodes(op="dense")) == 2  # dense(d) >> dense(2) fused
        got = Model(opt)(opt.params.layout.to_optimized(opt.params, params), x)
        assert max_rel_err(got, want) <= 1e-5, config


def test_nested_tied_repetition_becomes_nested_scans():
    graph = catspec.load(GOLDEN / "repeat-to-scan" / "nested_tied.cat")
    opt = run_passes(graph, "O2")
    (outer,) = opt.nodes(op="ctl.scan")
    (inner,) = outer.region.nodes(op="ctl.scan")
    assert outer.attrs["length"] == 3 and inner.attrs["length"] == 2
    assert opt.param("scan/inner_0/dense_0/w").shape == (3, 4, 4)
    params = _random_params(graph)
    x = jax.random.normal(jax.random.key(0), (3, 4))
    got = Model(opt)(opt.params.layout.to_optimized(opt.params, params), x)
    assert max_rel_err(got, Model(graph)(params, x)) <= 1e-5


def test_batched_experts_inside_a_repeated_block_are_then_scanned():
    # batch-parallel keeps the copy provenance, so repeat-to-scan stacks the batched
    # stacks: one scan over [3, 2, 4, 4] weights; the layout chains both stackings.
    graph = catspec.load("def blk(d: int) = residual(dense(d) + dense(d))\n"
                         "model m(d: int = 4) : Tensor[d] -> Tensor[d] = blk(d) ^ 3")
    opt = run_passes(graph, "O1,batch-parallel,repeat-to-scan,dce")
    (scan,) = opt.nodes(op="ctl.scan")
    assert [n.op for n in scan.region.nodes()] == [
        "io.input", "ctl.batched", "struct.add", "io.output"]
    assert opt.param("scan/blk_0/batch/dense_0/w").shape == (3, 2, 4, 4)
    params = _random_params(graph)
    stacked = opt.params.layout.to_optimized(opt.params, params)
    x = jax.random.normal(jax.random.key(0), (3, 4))
    assert max_rel_err(Model(opt)(stacked, x), Model(graph)(params, x)) <= 1e-5
    back = flatten(opt.params.layout.to_original(stacked))
    assert all(np.array_equal(back[k], v) for k, v in flatten(params).items())


def test_fuse_dense_runs_to_a_fixed_point():
    graph = catspec.load("model m : Tensor[64] -> Tensor[4] = dense(8) >> dense(64) >> dense(4)")
    opt = run_passes(graph, "fuse-dense")
    assert [n.op for n in opt.nodes()] == ["io.input", "nn.dense", "io.output"]
    params = _random_params(graph)
    x = jax.random.normal(jax.random.key(0), (3, 64))
    assert max_rel_err(Model(opt)(params, x), Model(graph)(params, x)) <= 1e-5


# -- fold-constants on a graph built in Python --------------------------------------------


def _const_graph() -> Graph:
    g = Graph("consts")
    x = g.add_input(TensorType((3,)), "x")
    t = TensorType((3,))
    c = g.add_node("ctl.const", [], (t,), {"value": (-1.0, 0.0, 2.0)}, name="c")
    r = g.add_node("act.relu", [(c.id, 0)], (t,), name="r")
    s = g.add_node("struct.add", [x, (r.id, 0)], (t,), {"n": 2}, name="s")
    g.set_outputs([(s.id, 0)])
    g.verify()
    return g


def test_fold_constants_evaluates_constant_chains():
    opt = run_passes(_const_graph(), "fold-constants")  # removes the constants it consumed
    assert [n.op for n in opt.nodes()] == ["io.input", "ctl.const", "struct.add", "io.output"]
    (const,) = opt.nodes(op="ctl.const")
    assert const.attrs["value"] == (0.0, 0.0, 2.0)
    y = Model(opt)({}, jnp.ones((2, 3)))
    assert np.allclose(y, [[1.0, 1.0, 3.0]] * 2)


# -- the pass manager ------------------------------------------------------------------------


def test_unknown_pass_is_a_pass_error_with_a_hint():
    with pytest.raises(PassError) as err:
        run_passes(_const_graph(), "canonicalise")
    assert str(err.value) == (
        "unknown pass `canonicalise`; known passes: batch-parallel, canonicalize, cse, dce, "
        "fold-constants, fuse-dense, repeat-to-scan, pipelines: O0, O1, O2, inference "
        "(did you mean `canonicalize`?)")


@pytest.mark.parametrize("passes, message", [
    ("O2+cse", "`O2+cse`: a pipeline (`O2`) cannot be part of a fixed-point set; write "
               "`O2,cse` to run it first"),
    ("cse++dce", "`cse++dce`: a fixed-point set is passes joined by `+`, like "
                 "`canonicalize+cse+dce`; one of its names is empty"),
    ("cse,,dce", "`cse,,dce`: a pass list is names separated by commas, like "
                 "`O1,repeat-to-scan`; one of its names is empty"),
])
def test_malformed_pass_lists(passes, message):
    with pytest.raises(PassError) as err:
        run_passes(_const_graph(), passes)
    assert str(err.value) == message


def test_an_empty_pass_list_runs_nothing_and_cannot_dump():
    g = _const_graph()
    assert str(run_passes(g, "")) == str(run_passes(g, [])) == str(g)
    with pytest.raises(PassError) as err:
        run_passes(g, "O0", dump_after="all")
    assert str(err.value) == "cannot dump after every pass: no passes run"


@dataclass(frozen=True)
class _Breaker(Pass):
    """A broken pass: retypes a wire without telling its reader."""

    name = "test-breaker"

    def apply(self, graph: Graph) -> bool:
        node = graph.nodes(op="act.relu")[0]
        node.out_types = (TensorType((5,)),)
        return True


def test_verification_between_passes_names_the_pass():
    register_pass(_Breaker)
    try:
        with pytest.raises(PassError, match=r"^the IR is invalid after pass `test-breaker`: "):
            run_passes(_const_graph(), "test-breaker")
    finally:
        del PASSES["test-breaker"]


def test_input_graph_untouched_timings_dumps_and_fixed_point():
    graph = catspec.load(GOLDEN / "canonicalize" / "residual.cat")
    before = str(graph)
    timings: list[PassTiming] = []
    dumps: list[str] = []
    run_passes(graph, "canonicalize+cse+dce", timings=timings, dump_after="dce",
               dump=lambda name, g: dumps.append(name))
    assert str(graph) == before
    # Round 1 changes (canonicalize), round 2 changes nothing: 6 runs, 2 dumps of dce.
    assert [t.name for t in timings] == ["canonicalize", "cse", "dce"] * 2
    assert [t.changed for t in timings] == [True, False, False, False, False, False]
    assert dumps == ["dce", "dce"]


def test_dump_after_a_pass_that_does_not_run_is_refused():
    graph = _const_graph()
    with pytest.raises(PassError) as err:
        run_passes(graph, "O1", dump_after="canonicalise")
    assert str(err.value) == (
        "cannot dump after `canonicalise`: no such pass; known passes: batch-parallel, "
        "canonicalize, cse, dce, fold-constants, fuse-dense, repeat-to-scan, or `all` "
        "(did you mean `canonicalize`?)")
    with pytest.raises(PassError) as err:
        run_passes(graph, "O1", dump_after="repeat-to-scan")
    assert str(err.value) == ("cannot dump after `repeat-to-scan`: it is not among the passes "
                              "that run (canonicalize, cse, dce, fold-constants)")


def test_model_imports_and_exports_parameters_across_layouts():
    graph = run_passes(catspec.load(RMLP), "O1")
    params = _random_params(graph)
    opt = Model(run_passes(graph, "repeat-to-scan"))
    stacked = opt.import_params(params)
    assert set(stacked) == {"scan"} | (set(params) - {f"block_{i}" for i in range(3)})
    back = opt.export_params(stacked)
    assert jax.tree.structure(back) == jax.tree.structure(params)
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(back), jax.tree.leaves(params)))
    with pytest.raises(LoweringError) as err:
        opt.import_params({"dense_0": params["dense_0"]})
    assert str(err.value) == (
        "parameter @block_0/dense_0/w of `rmlp` is missing from the given parameters "
        "(and 11 more): give a tree in the layout of the spec as written (what the unoptimized "
        "model's init returns)")


def test_cli_compile():
    runner = CliRunner()
    res = runner.invoke(app, ["compile", str(RMLP), "-O2", "--time-passes"])
    assert res.exit_code == 0, res.output
    assert "ctl.scan[length=3" in res.stdout and "repeat-to-scan" in res.stderr
    # the printed IR has its parameter table and layout: it parses back
    assert catspec.parse_ir(res.stdout).params.layout.stacks[0][0] == "scan/block_0/dense_0/w"
    res = runner.invoke(app, ["compile", str(RMLP), "--passes", "nope"])
    assert res.exit_code == 2 and res.stderr.startswith("error: unknown pass `nope`; ")
    res = runner.invoke(app, ["compile", str(RMLP), "--dump-after", "repeat-to-scan"])
    assert res.exit_code == 2 and res.stderr == (
        "error: cannot dump after `repeat-to-scan`: it is not among the passes that run "
        "(canonicalize, cse, dce, fold-constants)\n")
    res = runner.invoke(app, ["compile", str(RMLP), "-O2", "--emit", "stablehlo"])
    assert res.exit_code == 0 and "stablehlo.while" in res.stdout
    # lowering traces abstract values: a model too big to allocate still lowers
    res = runner.invoke(app, ["compile", str(RMLP), "-s", "d=100000", "--emit", "jaxpr"])
    assert res.exit_code == 0 and "f32[1,100000]" in res.stdout
    res = runner.invoke(app, ["compile", str(RMLP), "--emit", "jaxpr", "-d", "N=4"])
    assert res.exit_code == 2 and res.stderr == (
        "error: `--dim N=…`: the model's inputs have no free size `N` (free sizes: none)\n")


def test_repeat_to_scan_leaves_convolution_blocks_unrolled_by_default():
    from catspec.compiler.passes.repeat_to_scan import RepeatToScan

    text = ("model c : Field[x: N, c: 4] -> Field[x: N, c: 4] = "
            "residual(conv(4, 3) >> relu) ^ 3 >> (dense(4) >> tanh) ^ 2")
    graph = run_passes(catspec.load(text), "O1")
    default = run_passes(graph, "repeat-to-scan")
    # the dense block is scanned, the convolution block is not
    assert [n.op for n in default.nodes()].count("nn.conv") == 3
    assert [n.op for n in default.nodes()].count("ctl.scan") == 1
    everything = graph.copy()
    assert RepeatToScan(unrolled_traits=frozenset()).apply(everything)
    assert [n.op for n in everything.nodes()].count("ctl.scan") == 2
    params = _random_params(graph)
    x = jax.random.normal(jax.random.key(0), (2, 9, 4))
    want = Model(graph)(params, x)
    for g in (default, everything):
        got = Model(g)(g.params.layout.to_optimized(g.params, params), x)
        assert max_rel_err(got, want) <= 1e-5


def test_register_pass_checks_names():
    @dataclass(frozen=True)
    class Shadow(Pass):
        name = "cse"

        def apply(self, graph: Graph) -> bool:
            return False

    with pytest.raises(PassError) as err:
        register_pass(Shadow)
    assert str(err.value) == ("a pass named `cse` is already registered; use "
                              "@register_pass(replace=True) to replace it")
    Shadow.name = "Bad Name"
    with pytest.raises(PassError) as err:
        register_pass(Shadow)
    assert str(err.value) == "a pass name must be kebab-case, like `repeat-to-scan`; got 'Bad Name'"
    assert PASSES["cse"] is not Shadow
    Shadow.name = "shadow"
    with pytest.raises(PassError) as err:
        register_pass(Shadow())
    assert str(err.value) == ("register_pass takes a Pass subclass (use it as a decorator: "
                              "@register_pass above `class MyPass(Pass)`), got "
                              "test_register_pass_checks_names.<locals>.Shadow()")
    assert "shadow" not in PASSES


def test_dce_after_repeat_to_scan_forgets_the_views_of_a_dead_node_in_the_body():
    graph = catspec.load("model m : Tensor[4] -> Tensor[4] = "
                         "(copy >> (relu @ (dense(4) >> drop))) ^ 2")
    opt = run_passes(graph, "repeat-to-scan,dce")
    assert opt.node_by_name("scan").attrs["stacked"] == ()
    assert list(opt.params.slots) == []
    reread = run_passes(catspec.parse_ir(catspec.print_ir(run_passes(graph, "repeat-to-scan"))),
                        "dce")
    assert catspec.print_ir(reread) == catspec.print_ir(opt)
    m0, m1 = Model(graph), Model(opt)
    p0 = m0.init(0)
    x = jax.random.normal(jax.random.key(1), (2, 4))
    np.testing.assert_allclose(m1(m1.import_params(p0), x), m0(p0, x), rtol=1e-6)
