"""The rest of the language: sequence ops, fold/map regions, reparametrisations, and the
shipped specs (transformer, LSTM, GRU, FractalNet, LoRA MLP, Deep Sets) against
hand-written JAX with the same parameters (mapped by name)."""

from __future__ import annotations

import catspec
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from catspec.compiler.printer import print_params
from catspec.errors import LoweringError, SpecError
from catspec.grammar.loader import load_ast
from conftest import SPECS, max_rel_err
from jax import lax


def _randomize(params, key, scale=0.3):
    """Zero-initialised leaves (biases, learned states) become random so tests see them."""
    leaves, tree = jax.tree.flatten(params)
    keys = jax.random.split(key, len(leaves))
    return jax.tree.unflatten(
        tree, [x + scale * jax.random.normal(k, x.shape, x.dtype) for x, k in zip(leaves, keys)]
    )


def _setup(model, key=0):
    # Jitted: one compilation instead of one eager dispatch per initializer and shape.
    def make(k):
        return _randomize(model.init(k), jax.random.fold_in(k, 100))

    return jax.jit(make)(jax.random.key(key))


def _error(text: str) -> str:
    with pytest.raises(SpecError) as info:
        catspec.load(text)
    return info.value.message


# -- hand-written building blocks ---------------------------------------------------


def dense(p, x):
    return x @ p["w"] + p["b"] if "b" in p else x @ p["w"]


def layer_norm(p, x, eps=1e-5):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / jnp.sqrt(var + eps) * p["scale"] + p["bias"]


def mha(p, q, k, v, heads, causal=False):
    qp, kp, vp = q @ p["wq"], k @ p["wk"], v @ p["wv"]
    b, t, d = qp.shape
    s = kp.shape[1]
    dh = d // heads
    qh = qp.reshape(b, t, heads, dh)
    kh = kp.reshape(b, s, heads, dh)
    vh = vp.reshape(b, s, heads, dh)
    logits = jnp.einsum("bthd,bshd->bhts", qh, kh) / np.float32(np.sqrt(dh))
    if causal:
        logits = jnp.where(np.tril(np.ones((t, s), bool)), logits, -1e30)
    w = jax.nn.softmax(logits, -1)
    return jnp.einsum("bhts,bshd->bthd", w, vh).reshape(b, t, d) @ p["wo"]


def sinusoid(t, d):
    pos = np.arange(t)[:, None]
    i = np.arange(d // 2)[None, :]
    ang = pos / 10000.0 ** (2 * i / d)
    pe = np.zeros((t, d))
    pe[:, 0::2], pe[:, 1::2] = np.sin(ang), np.cos(ang)
    return jnp.asarray(pe, jnp.float32)


def test_every_new_spec_has_an_equal_yaml_twin():
    for name in ("transformer_encoder", "lstm", "gru", "fractalnet", "lora_mlp", "deepsets"):
        assert load_ast(SPECS / f"{name}.cat") == load_ast(SPECS / f"{name}.yaml"), name


# -- the shipped specs vs hand-written JAX ---------------------------------------------


def test_transformer_encoder_matches_hand_written():
    model = catspec.compile(SPECS / "transformer_encoder.cat")
    p = _setup(model)
    ids = jax.random.randint(jax.random.key(3), (2, 7), 0, 50, jnp.int32)

    @jax.jit  # one compilation instead of many eager dispatches
    def hand(p, ids):
        h = p["embedding_0"]["table"][ids] + sinusoid(7, 16)
        for i in range(2):
            b = p[f"encoder_block_{i}"]
            a = layer_norm(b["layer_norm_0"], h)
            y = h + mha(b["attention_0"], a, a, a, heads=2)
            m = b["mlp_0"]
            z = dense(m["dense_1"], jax.nn.gelu(dense(m["dense_0"], layer_norm(b["layer_norm_1"],
                                                                                 y)),
                                                approximate=False))
            h = y + z
        return layer_norm(p["layer_norm_0"], h)

    assert max_rel_err(model(p, ids), hand(p, ids)) <= 1e-5


def test_lstm_matches_hand_written():
    model = catspec.compile(SPECS / "lstm.cat")
    p = _setup(model)
    xs = jax.random.normal(jax.random.key(4), (3, 6, 8))
    w = p["fold_0"]["lstm_cell_0"]["dense_0"]
    h = c = jnp.zeros((3, 16))
    outs = []
    for t in range(6):
        z = jnp.concatenate([h, xs[:, t]], -1) @ w["w"] + w["b"]
        i, f, g, o = jnp.split(z, 4, -1)
        c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
        h = jax.nn.sigmoid(o) * jnp.tanh(c)
        outs.append(h)
    assert max_rel_err(model(p, xs), jnp.stack(outs, 1)) <= 1e-5


def test_gru_matches_hand_written():
    model = catspec.compile(SPECS / "gru.cat")
    p = _setup(model)["fold_0"]["gru_cell_0"]
    xs = jax.random.normal(jax.random.key(5), (3, 6, 8))
    h = jnp.zeros((3, 16))
    outs = []
    for t in range(6):
        x = xs[:, t]
        hx = jnp.concatenate([h, x], -1)
        r = jax.nn.sigmoid(dense(p["dense_0"], hx))
        z = jax.nn.sigmoid(dense(p["dense_1"], hx))
        n = jnp.tanh(dense(p["dense_2"], x) + r * dense(p["dense_3"], h))
        h = (1 - z) * n + z * h
        outs.append(h)
    assert max_rel_err(model({"fold_0": {"gru_cell_0": p}}, xs), jnp.stack(outs, 1)) <= 1e-5


def _conv(p, x):
    y = lax.conv_general_dilated(x, p["w"], (1, 1), "SAME",
                                 dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return jax.nn.relu(y + p["b"])


def _fractal(p, x, c):
    if c == 1:
        return _conv(p["unit_0"]["conv_0"], x)
    a = _fractal(p["fractal_1"], _fractal(p["fractal_0"], x, c - 1), c - 1)
    return a + _conv(p["unit_0"]["conv_0"], x)


def test_fractalnet_matches_hand_written():
    model = catspec.compile(SPECS / "fractalnet.cat")
    p = _setup(model)
    x = jax.random.normal(jax.random.key(6), (2, 16, 16, 3))

    @jax.jit
    def hand(p, x):
        h = _fractal(p["fractal_0"], _conv(p["unit_0"]["conv_0"], x), 3)
        h = lax.reduce_window(h, 0.0, lax.add, (1, 4, 4, 1), (1, 4, 4, 1), "VALID") / 16.0
        return dense(p["dense_0"], h.reshape(2, -1))

    assert max_rel_err(model(p, x), hand(p, x)) <= 1e-5
    # 1 stem + 7 = 2^3 - 1 convolutions in the fractal of 3 columns.
    assert len(model.graph.nodes(op="conv")) == 8


def test_lora_mlp_matches_hand_written_and_freezes_w0():
    model = catspec.compile(SPECS / "lora_mlp.cat")
    p = _setup(model)
    x = jax.random.normal(jax.random.key(7), (4, 64))

    def w(layer, alpha):
        q = p[layer]
        return q["w"] + (alpha / 4) * q["w_lora_a"] @ q["w_lora_b"]

    h = jax.nn.relu(x @ w("dense_0", 4) + p["dense_0"]["b"])
    h = jax.nn.relu(h @ w("dense_1", 8) + p["dense_1"]["b"])
    want = dense(p["dense_2"], h)
    assert max_rel_err(model(p, x), want) <= 1e-5
    grads = jax.grad(lambda q: model(q, x).sum())(p)
    assert float(jnp.abs(grads["dense_0"]["w"]).max()) == 0.0  # W0 frozen
    assert float(jnp.abs(grads["dense_0"]["w_lora_a"]).max()) > 0.0


def test_deepsets_matches_hand_written_and_is_permutation_invariant():
    model = catspec.compile(SPECS / "deepsets.cat")
    p = _setup(model)
    x = jax.random.normal(jax.random.key(8), (2, 5, 3))
    phi = p["map_0"]["phi_0"]
    h = jax.nn.relu(dense(phi["dense_1"], jax.nn.relu(dense(phi["dense_0"], x)))).sum(1)
    want = dense(p["dense_1"], jax.nn.relu(dense(p["dense_0"], h)))
    got = model(p, x)
    assert max_rel_err(got, want) <= 1e-5
    assert max_rel_err(model(p, x[:, ::-1]), got) <= 1e-5


# -- weight tying ---------------------------------------------------------------------


def test_tied_parameters_appear_once_and_gradients_sum_over_uses():
    model = catspec.compile("model t : Tensor[4] -> Tensor[4] = tie((dense(4) >> tanh) ^ 3)")
    p = _setup(model)
    assert jax.tree.map(jnp.shape, p) == {"dense_0": {"w": (4, 4), "b": (4,)}}
    x = jax.random.normal(jax.random.key(9), (3, 4))

    def hand(q):
        h = x
        for _ in range(3):
            h = jnp.tanh(dense(q["dense_0"], h))
        return h

    assert max_rel_err(model(p, x), hand(p)) <= 1e-5
    got = jax.grad(lambda q: model(q, x).sum())(p)
    want = jax.grad(lambda q: hand(q).sum())(p)
    assert max_rel_err(got["dense_0"]["w"], want["dense_0"]["w"]) <= 1e-5

    # The same through the ops' uses: the sum over three separate weight arguments.
    def split_uses(w1, w2, w3):
        h = x
        for w in (w1, w2, w3):
            h = jnp.tanh(h @ w + p["dense_0"]["b"])
        return h.sum()

    w = p["dense_0"]["w"]
    per_use = jax.grad(split_uses, argnums=(0, 1, 2))(w, w, w)
    assert max_rel_err(got["dense_0"]["w"], sum(per_use)) <= 1e-5


# -- reparametrisations ------------------------------------------------------------------

REPARAM_SPEC = """
model rp : Tensor[8] -> Tensor[4] =
    dense(8) with weight_norm >> dense(8) with spectral_norm
    >> dense(8) with spectral_norm(iters=30) >> dense(6) with orthogonal
    >> dense(4, bias=false) with phm(2)
"""


def test_reparametrisations_compute_their_formulas():
    model = catspec.compile(REPARAM_SPEC)
    p = _setup(model)
    p["dense_3"]["w_householder"] = jax.random.normal(jax.random.key(11), (8, 8))
    x = jax.random.normal(jax.random.key(10), (2, 8))
    # Only the roots are in the pytree; orthogonal and phm replace `w` entirely.
    assert set(p["dense_0"]) == {"w", "b", "w_g"}
    assert set(p["dense_3"]) == {"b", "w_householder"}
    assert set(p["dense_4"]) == {"w_phm_a", "w_phm_s"}

    v, g = p["dense_0"]["w"], p["dense_0"]["w_g"]
    w0 = g * v / jnp.linalg.norm(v, axis=0)
    w1 = p["dense_1"]["w"] / np.linalg.svd(np.asarray(p["dense_1"]["w"]), compute_uv=False)[0]
    w2 = p["dense_2"]["w"] / np.linalg.svd(np.asarray(p["dense_2"]["w"]), compute_uv=False)[0]
    q = np.eye(8, dtype=np.float32)
    for vec in np.asarray(p["dense_3"]["w_householder"]):
        q = q @ (np.eye(8, dtype=np.float32) - 2 * np.outer(vec, vec) / vec.dot(vec))
    w3 = q[:, :6]
    a, s = np.asarray(p["dense_4"]["w_phm_a"]), np.asarray(p["dense_4"]["w_phm_s"])
    w4 = sum(np.kron(a[i], s[i]) for i in range(2))
    h = x @ w0 + p["dense_0"]["b"]
    h = h @ w1 + p["dense_1"]["b"]
    h = h @ w2 + p["dense_2"]["b"]
    h = h @ w3 + p["dense_3"]["b"]
    want = h @ w4
    assert max_rel_err(model(p, x), want) <= 1e-5
    assert np.allclose(w3.T @ w3, np.eye(6), atol=1e-5)  # orthonormal columns
    # The parameter table lists each derived weight with the layer that reads it.
    table = print_params(model.graph)
    assert "@dense_4/w~phm  f32[6,4]  = phm[n=2](a=@dense_4/w_phm_a, s=@dense_4/w_phm_s)  " \
           "dense_4" in table


def test_reparametrisation_errors():
    assert _error("model m : Tensor[6] -> Tensor[4] = dense(4) with phm(4)") == (
        "`phm(4)` needs both sizes of `w` divisible by 4, got 6 x 4")
    assert _error("model m : Tensor[6] -> Tensor[4] = dense(4) with orthogonal(9)") == (
        "`orthogonal`: reflections must be an int in 1..6, got 9")
    assert _error("model m : Tensor[6] -> Tensor[6] = layer_norm with weight_norm") == (
        "`weight_norm` needs a matrix parameter; `scale` has shape (6,)")


# -- op typing errors ------------------------------------------------------------------------


def test_op_misuse_errors_are_exact():
    assert _error("model m : Tensor[T, 6] -> Tensor[T, 6] { return attention(heads=4)(x, x, x) }"
                  ) == ("`attention(heads=4)` needs the model width to be divisible by the "
                        "number of heads, got width 6")
    assert _error("model m : Tensor[T, 6] -> Tensor[T, 6, 8] = embedding(10, 8)") == (
        "`embedding` expects integer ids, got f32[T,6]")
    assert _error("model m : (a: Tensor[T, 4], b: Tensor[S, 4]) -> Tensor[T, 4] "
                  "{ return attention(heads=2)(a, b, a) }") == (
        "`attention`: keys and values must have the same length, got f32[S,4] and f32[T,4]")
    assert _error("model m : Tensor[4] -> Tensor[4] = dropout(1.5)") == (
        "`dropout`: rate must be in [0, 1), got 1.5")
    assert _error("model m : Tensor[4] -> Tensor[] = mean(axis=2)") == (
        "`mean`: axis 2 is out of range for rank 1")


def test_fold_errors_are_exact():
    assert _error("model m : Tensor[T, 3] -> Tensor[8] = fold(concat >> dense(4), state=8)") == (
        "the cell of `fold` must return state 0 as f32[8], got f32[4]")
    assert _error("model m : Tensor[T, 3] -> Tensor[8] = fold(dense(8), state=8)") == (
        "the cell of `fold` with 1 state wire(s) must be 2 -> 1 (state, x_t -> state) or "
        "2 -> 2 (… -> state, y_t); `dense` is 1 -> 1")
    assert _error("model m : Tensor[T, 4] -> Tensor[4] = fold(concat, state=[])") == (
        "`fold` needs at least one state wire")
    assert _error("model m : Tensor[T, 4] -> Tensor[4] = map(dense(4), axis=7)") == (
        "`map`: axis 7 is out of range for rank 2")


# -- fold, map, attention, dropout details ------------------------------------------------


def test_fold_final_state_learned_init_reverse_and_ir():
    model = catspec.compile(
        'model m : Tensor[T, 3] -> Tensor[5] = '
        'fold(concat >> dense(5) >> tanh, state=5, init="learned", reverse=true)')
    p = _setup(model)
    xs = jax.random.normal(jax.random.key(12), (2, 4, 3))
    h = jnp.broadcast_to(p["fold_0"]["s0"], (2, 5))
    for t in reversed(range(4)):
        h = jnp.tanh(dense(p["fold_0"]["dense_0"], jnp.concatenate([h, xs[:, t]], -1)))
    assert max_rel_err(model(p, xs), h) <= 1e-5
    node = model.graph.nodes(op="ctl.fold")[0]
    assert node.region.params is model.graph.params
    assert [str(t) for t in node.region.input_types] == ["f32[5]", "f32[3]"]
    assert str(model.graph).splitlines()[1:3] == [
        ('  %1: f32[5] = ctl.fold[state=[5], init="learned", reverse=true](%0) {s0=@fold_0/s0}'
         '  # fold_0  <spec>:1:39'),
        "    graph fold_0(%2: f32[5], %3: f32[3]) -> f32[5] {",
    ]


def test_map_applies_along_an_axis_and_keeps_it_in_place():
    model = catspec.compile("model m : Tensor[3, N] -> Tensor[2, N] = map(dense(2), axis=1)")
    p = _setup(model)
    x = jax.random.normal(jax.random.key(13), (2, 3, 5))
    q = p["map_0"]["dense_0"]
    want = jnp.einsum("bcn,co->bon", x, q["w"]) + q["b"][:, None]
    assert max_rel_err(model(p, x), want) <= 1e-5


def test_causal_attention_ignores_the_future():
    model = catspec.compile("model m : Tensor[T, 8] -> Tensor[T, 8] "
                            "{ return attention(heads=2, causal=true)(x, x, x) }")
    p = _setup(model)
    x = jax.random.normal(jax.random.key(14), (1, 5, 8))
    y = model(p, x)
    assert max_rel_err(y, mha(p["attention_0"], x, x, x, 2, causal=True)) <= 1e-5
    x2 = x.at[:, 4].set(7.0)  # change only the last position
    assert max_rel_err(model(p, x2)[:, :4], y[:, :4]) <= 1e-6


def test_dropout_is_identity_in_eval_mode_and_random_per_example_in_train_mode():
    spec = "model m : Tensor[400] -> Tensor[400] = dropout(0.25)"
    x = jnp.ones((2, 400))
    assert bool(jnp.all(catspec.compile(spec)({}, x) == x))
    train = catspec.compile(spec, train=True)
    y = train({}, x, key=jax.random.key(0))
    kept = y != 0
    assert set(np.unique(np.asarray(y)).tolist()) <= {0.0, float(np.float32(1.0) / np.float32(0.75))}
    assert 0.6 < float(kept.mean()) < 0.9
    assert not bool(jnp.all(kept[0] == kept[1]))  # one key per example
    with pytest.raises(LoweringError, match="needs a random key"):
        train({}, x)


def test_softmax_reductions_and_positional_embedding():
    model = catspec.compile(
        "model m : Tensor[T, 4] -> (Tensor[4], Tensor[T, 4], Tensor[T]) {\n"
        "  h = pos_embedding(max_len=8)(x)\n"
        "  return mean(axis=0)(h), log_softmax(h), sum(axis=-1)(softmax(axis=0)(h))\n}")
    p = _setup(model)
    x = jax.random.normal(jax.random.key(15), (2, 6, 4))
    h = x + p["pos_embedding_0"]["table"][:6]
    a, b, c = model(p, x)
    assert max_rel_err(a, h.mean(1)) <= 1e-5
    assert max_rel_err(b, jax.nn.log_softmax(h, -1)) <= 1e-5
    assert max_rel_err(c, jax.nn.softmax(h, 1).sum(-1)) <= 1e-5


def test_tie_shares_the_parameters_of_a_called_def_and_of_nested_scopes():
    # The body's name counters are reset for every copy, in the def's own scope too
    # (`blk_0/dense_0` three times), so the copies find one parameter set.
    text = ("def blk(d: int) = dense(d) >> relu\n"
            "def res(d: int) = residual(dense(d) >> relu >> dense(d))\n"
            "model m : Tensor[8] -> Tensor[8] = tie(blk(8) ^ 3) >> tie(res(8) ^ 2) >> blk(8)")
    graph = catspec.load(text)
    assert [s.path for s in graph.params] == [
        "blk_0/dense_0/w", "blk_0/dense_0/b", "res_0/dense_0/w", "res_0/dense_0/b",
        "res_0/dense_1/w", "res_0/dense_1/b", "blk_1/dense_0/w", "blk_1/dense_0/b"]
    assert graph.params.trainable_count() == 72 + 144 + 72
    model = catspec.compile(graph)
    p = model.init(0)
    x = jax.random.normal(jax.random.key(1), (2, 8))
    h = x
    for _ in range(3):
        h = jax.nn.relu(dense(p["blk_0"]["dense_0"], h))
    for _ in range(2):
        r = p["res_0"]
        h = h + dense(r["dense_1"], jax.nn.relu(dense(r["dense_0"], h)))
    h = jax.nn.relu(dense(p["blk_1"]["dense_0"], h))
    assert max_rel_err(model(p, x), h) <= 1e-5


def test_parameter_table_lists_trained_roots_and_their_users_for_tied_layers():
    g = catspec.load('model t : Tensor[4] -> Tensor[4] = dense(4) as enc >> tanh '
                     '>> dense(4) with lora(2) with tie("enc")')
    # The tied layer's own (LoRA) slots are gone: only the shared roots remain.
    assert print_params(g) == (
        "@enc/w  f32[4,4]  trained  init=lecun_normal  dense_0, enc\n"
        "@enc/b  f32[4]  trained  init=zeros  dense_0, enc"
    )


def test_fold_region_survives_json_and_verify_checks_it():
    from catspec.errors import IRVerifyError

    g = catspec.load("model m : Tensor[T, 3] -> Tensor[T, 4] "
                     "= fold(concat >> dense(4) >> tanh >> copy, state=4)")
    back = catspec.from_json(catspec.to_json(g))
    back.verify()
    a, b = catspec.compile(g), catspec.compile(back)
    p = _setup(a)
    x = jax.random.normal(jax.random.key(16), (2, 5, 3))
    assert max_rel_err(b(p, x), a(p, x)) <= 1e-6
    region = g.nodes(op="ctl.fold")[0].region
    tanh = region.nodes(op="tanh")[0]
    tanh.out_types = (catspec.compiler.types.TensorType((5,)),)
    with pytest.raises(IRVerifyError, match="fold_0/tanh_0"):
        g.verify()


def test_tie_of_zero_copies_is_the_identity_and_as_after_with_names_the_layer():
    assert [n.op for n in catspec.load(
        "model m : Tensor[4] -> Tensor[4] = tie(dense(4) ^ 0)").nodes()] == [
        "io.input", "io.output"]
    g = catspec.load('model m : Tensor[4] -> Tensor[4] = '
                     'dense(4) with freeze as a >> dense(4) with tie("a")')
    assert [n.name for n in g.nodes()] == ["x", "a", "dense_0", "output"]
    assert g.node_by_name("dense_0").params == {"w": "a/w", "b": "a/b"}
    assert [(s.path, s.trainable) for s in g.params] == [("a/w", False), ("a/b", False)]
