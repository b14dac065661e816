"""The compiled model's boundary from Python: what it converts (lists, float64, int keys,
NumPy scalars) and what it refuses, with the message (a review of the Python API)."""

from __future__ import annotations

import catspec
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from catspec.errors import InputError, LoweringError, PassError, SpecError, UsageError

RMLP = """def block(d: int) = residual(dense(d) >> relu >> dense(d))
model deep(d: int = 4) : Tensor[d] -> Tensor[2] = block(d) ^ 3 >> dense(2)"""
TINY = "model tiny : Tensor[3] -> Tensor[2] = dense(2)"


def _refused(kind, fn) -> str:
    with pytest.raises(kind) as err:
        fn()
    return str(err.value)


def test_layouts_are_checked_both_ways_and_name_the_spec_layout_slot():
    o2 = catspec.compile(RMLP, passes="O2")
    stacked = o2.init(0)
    short = jax.tree.map(lambda a: a, stacked)
    short["scan"]["block_0"]["dense_0"]["w"] = short["scan"]["block_0"]["dense_0"]["w"][:2]
    assert _refused(LoweringError, lambda: o2.export_params(short)) == (
        "parameter @scan/block_0/dense_0/w of `deep` has shape (2, 4, 4) in the given "
        "parameters; the model needs (3, 4, 4)")
    assert _refused(LoweringError, lambda: o2.export_params({"junk": 1})).startswith(
        "parameter @scan/block_0/dense_0/w of `deep` is missing from the given parameters")
    written = catspec.compile(RMLP).init(0)
    bent = jax.tree.map(lambda a: a, written)
    bent["block_2"]["dense_0"]["w"] = jnp.zeros((4, 5))
    assert _refused(LoweringError, lambda: o2.import_params(bent)) == (
        "parameter @block_2/dense_0/w of `deep` has shape (4, 5) in the given parameters; the "
        "model needs (4, 4)")
    del bent["block_2"]
    assert _refused(LoweringError, lambda: o2.import_params(bent)) == (
        "parameter @block_2/dense_0/w of `deep` is missing from the given parameters (and 3 "
        "more): give a tree in the layout of the spec as written (what the unoptimized model's "
        "init returns)")


def test_inputs_and_parameters_run_at_the_declared_dtype_within_a_kind():
    m = catspec.compile(TINY)
    p = m.init(0)
    x = np.arange(6, dtype=np.float64).reshape(2, 3)
    want = m(p, x.astype(np.float32))
    as_list = m(p, x.tolist())                              # a nested list is an array
    half = m(jax.tree.map(lambda a: a.astype(jnp.bfloat16), p), x)  # cast up to f32
    assert as_list.dtype == half.dtype == jnp.float32
    np.testing.assert_allclose(as_list, want, rtol=1e-6)
    np.testing.assert_allclose(half, m(jax.tree.map(
        lambda a: a.astype(jnp.bfloat16).astype(jnp.float32), p), x), rtol=1e-6)
    ints = jax.tree.map(lambda a: a.astype(jnp.int32), p)
    assert _refused(LoweringError, lambda: m(ints, x)) == (
        "parameter @dense_0/w has dtype int32 in the given parameters; the model needs float32")


@pytest.mark.parametrize(("call", "kind", "message"), [
    (lambda m, p, x: m(list(p.values()), x), LoweringError,
     "the parameters are a nested dict keyed by instance names (what init returns), got list"),
    (lambda m, p, x: m.import_params(None), LoweringError,
     "the parameters are a nested dict keyed by instance names (what init returns), got "
     "NoneType"),
    (lambda m, p, x: m(p, None), InputError,
     "input 0 is None; give an array with a leading batch axis"),
    (lambda m, p, x: m(p, x, key=jax.random.split(jax.random.key(0), 2)), InputError,
     "key= is one PRNG key, got an array of keys of shape (2,); the model splits it per "
     "example itself"),
    (lambda m, p, x: m.example_inputs(0, dims={"Q": 3}), InputError,
     "`Q` is not a free size of `tiny`'s inputs; they have none"),
])
def test_wrong_python_arguments_are_catspec_errors(call, kind, message):
    m = catspec.compile(TINY)
    assert _refused(kind, lambda: call(m, m.init(0), jnp.ones((2, 3)))) == message


def test_an_int_key_seeds_one_as_init_does():
    m = catspec.compile("model d : Tensor[4] -> Tensor[4] = dropout(0.5)", train=True)
    x = jnp.ones((3, 4))
    np.testing.assert_array_equal(m({}, x, key=7), m({}, x, key=jax.random.key(7)))


def test_api_entry_points_refuse_what_they_cannot_use(tmp_path):
    g = catspec.load(TINY)
    assert _refused(UsageError, lambda: catspec.compile(None)) == (
        "a spec is a path (str or Path) or spec text, got NoneType")
    assert _refused(UsageError, lambda: catspec.compile(g, model="x")) == (
        "compile() of a Graph takes no model='x': the graph is already elaborated; pass them "
        "to catspec.load, or compile the spec")
    assert _refused(UsageError, lambda: catspec.compile(TINY, pases="O2")) == (
        "compile() has no keyword `pases` (did you mean `passes`?); other keywords are the "
        "model's parameters")
    assert _refused(PassError, lambda: catspec.run_passes(g, ["cse", 3])) == (
        "passes are a string like \"O2\" or \"canonicalize,cse\", or a list of pass names; got "
        "['cse', 3]")
    assert _refused(SpecError, lambda: catspec.load(str(tmp_path))) == (
        f"error: `{tmp_path}` is a directory, not a spec file")
    m = catspec.compile("model m(w: int = 2) : Tensor[3] -> Tensor[w] = dense(w)")
    free = catspec.compile("model f : Tensor[N, 3] -> Tensor[N, 3] = relu")
    assert _refused(InputError, lambda: free.example_inputs(0, dims={"N": "16"})) == (
        "the size of `N` is a positive int, got '16'")
    assert catspec.load("model m(w: int = 2) : Tensor[3] -> Tensor[w] = dense(w)",
                        w=np.int64(5)).output_types[0].shape == (5,)
    assert m.output_types[0].shape == (2,)
