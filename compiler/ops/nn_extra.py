"""Sequence-model ops: embedding, multi-head attention, softmax, dropout, positional
encodings, reductions over an axis, and elementwise subtraction.

Typing rules follow the per-example convention (no batch axis): ``attention``
reads a query sequence ``Tensor[T, d]`` and key/value sequences ``Tensor[S, dk]``,
``Tensor[S, dv]``; ``embedding`` reads integer ids of any shape and appends a
feature axis. Random ops take their key from the lowering context
(``model(params, x, key=k)``) and are the identity unless the model was compiled
with ``train=True``.
"""

from __future__ import annotations

from ..types import TensorType
from .registry import (
    Arg,
    OpDef,
    OpTypeError,
    ParamSpec,
    check_known,
    fixed,
    normalize_axis,
    register,
    require_float,
    require_rank,
)

# -- embedding -------------------------------------------------------------------


def _embedding_infer(a, ins):
    t = ins[0]
    if t.dtype not in ("i32", "i64", "i8", "u8"):
        raise OpTypeError(
            f"`embedding` expects integer ids, got {t}",
            "declare the input as ids, e.g. `Tensor[T, dtype=i32]`",
        )
    if a["vocab"] < 1 or a["dim"] < 1:
        raise OpTypeError(f"`embedding` needs vocab ≥ 1 and dim ≥ 1, got {a['vocab']}, {a['dim']}")
    return [TensorType((*t.shape, a["dim"]), "f32")]


register(OpDef(
    "nn.embedding", "embedding", (Arg("vocab", "int"), Arg("dim", "int")),
    fixed(1, 1), _embedding_infer,
    lambda a, ins: {"table": ParamSpec((a["vocab"], a["dim"]), "normal", {"stddev": 1.0})},
    main_param="table",
    doc="Look up a learned vector per integer id: ids [..] -> f32[.., dim].",
))

# -- attention -------------------------------------------------------------------


def _attention_infer(a, ins):
    q, k, v = ins
    for t, what in ((q, "query"), (k, "key"), (v, "value")):
        require_rank(t, "attention", 2)
        require_float(t, "attention")
        check_known(t.shape[-1], f"the {what}'s feature axis", "attention")
    if k.shape[0] != v.shape[0]:
        raise OpTypeError(
            f"`attention`: keys and values must have the same length, got {k} and {v}",
            "pass the same sequence for both, e.g. `attention(heads=4)(q, kv, kv)`",
        )
    d, h = q.shape[-1], a["heads"]
    if h < 1:
        raise OpTypeError(f"`attention`: heads must be at least 1, got {h}")
    if d % h:
        raise OpTypeError(
            f"`attention(heads={h})` needs the model width to be divisible by the number of "
            f"heads, got width {d}",
            f"pick heads among the divisors of {d}",
        )
    return [q]


def _attention_params(a, ins):
    q, k, v = ins
    d = q.shape[-1]
    ps = {
        "wq": ParamSpec((d, d)),
        "wk": ParamSpec((k.shape[-1], d)),
        "wv": ParamSpec((v.shape[-1], d)),
        "wo": ParamSpec((d, d)),
    }
    if a["bias"]:
        for n in ("bq", "bk", "bv", "bo"):
            ps[n] = ParamSpec((d,), "zeros")
    return ps


register(OpDef(
    "nn.attention", "attention",
    (Arg("heads", "int"), Arg("causal", "bool", False), Arg("bias", "bool", False)),
    fixed(3, 1), _attention_infer, _attention_params, main_param="wq",
    doc="Multi-head scaled dot-product attention (q, k, v) -> out with learned projections "
        "wq, wk, wv, wo; `causal` masks keys after each query position.",
))

# -- softmax and friends ------------------------------------------------------------


def _axis_float(op):
    def infer(a, ins):
        require_float(ins[0], op)
        normalize_axis(a["axis"], ins[0].rank, op)
        return [ins[0]]
    return infer


for _name in ("softmax", "log_softmax"):
    register(OpDef(
        f"nn.{_name}", _name, (Arg("axis", "int", -1),), fixed(1, 1), _axis_float(_name),
        doc=f"{_name} along one axis (the last by default).",
    ))


def _dropout_infer(a, ins):
    require_float(ins[0], "dropout")
    if not 0.0 <= a["rate"] < 1.0:
        raise OpTypeError(f"`dropout`: rate must be in [0, 1), got {a['rate']}")
    return [ins[0]]


register(OpDef(
    "nn.dropout", "dropout", (Arg("rate", "float"),), fixed(1, 1), _dropout_infer,
    traits=frozenset(),  # random in training mode
    doc="Zero each entry with probability `rate` and rescale the rest (training mode only; "
        "the key comes from `model(params, x, key=k)`).",
))

# -- positional encodings ----------------------------------------------------------------


def _pe_infer(op, even: bool):
    def infer(a, ins):
        t = ins[0]
        require_rank(t, op, 2)
        require_float(t, op)
        d = check_known(t.shape[-1], "its input's feature axis", op)
        if even and d % 2:
            raise OpTypeError(f"`{op}` needs an even feature size, got {t}")
        key = "max_len" if "max_len" in a else "base"
        if a[key] <= 0:
            raise OpTypeError(f"`{op}` needs a positive `{key}`, got {a[key]}")
        if "max_len" in a and isinstance(t.shape[0], int) and t.shape[0] > a["max_len"]:
            raise OpTypeError(f"`{op}(max_len={a['max_len']})` is too short for {t}",
                              f"raise max_len to at least {t.shape[0]}")
        return [t]
    return infer


register(OpDef(
    "nn.sinusoidal_pe", "sinusoidal_pe", (Arg("base", "float", 10000.0),), fixed(1, 1),
    _pe_infer("sinusoidal_pe", True),
    doc="x + PE with PE[t, 2i] = sin(t / base^(2i/d)), PE[t, 2i+1] = cos(…) (Vaswani et al.).",
))

register(OpDef(
    "nn.pos_embedding", "pos_embedding", (Arg("max_len", "int"),), fixed(1, 1),
    _pe_infer("pos_embedding", False),
    lambda a, ins: {"table": ParamSpec((a["max_len"], ins[0].shape[-1]), "normal",
                                       {"stddev": 0.02})},
    main_param="table",
    doc="x + table[:T]: a learned vector per position, up to max_len positions.",
))

# -- reductions -----------------------------------------------------------------------


def _reduce_infer(op):
    def infer(a, ins):
        t = ins[0]
        axes = a["axis"] if isinstance(a["axis"], tuple) else (a["axis"],)
        norm = sorted({normalize_axis(x, t.rank, op) for x in axes})
        if len(norm) != len(axes):
            raise OpTypeError(f"`{op}`: axis {list(axes)} names one axis twice")
        if op == "mean":
            require_float(t, op)
        if a["keepdims"]:
            shape = tuple(1 if i in norm else s for i, s in enumerate(t.shape))
            return [t.with_shape(shape)]
        keep = [i for i in range(t.rank) if i not in norm]
        axes_names = tuple(t.axes[i] for i in keep) if t.axes is not None else None
        return [TensorType(tuple(t.shape[i] for i in keep), t.dtype, axes_names or None)]
    return infer


for _name in ("mean", "sum"):
    register(OpDef(
        f"reduce.{_name}", _name,
        (Arg("axis", "int_or_ints", doc="axis or list of axes"), Arg("keepdims", "bool", False)),
        fixed(1, 1), _reduce_infer(_name), traits=frozenset({"pure", "linear"}),
        doc=f"{_name.capitalize()} over one or more axes of an example.",
    ))

# -- subtraction ------------------------------------------------------------------------


def _sub_infer(a, ins):
    if not ins[0].same_as(ins[1]):
        raise OpTypeError(f"`sub` expects inputs of one type, got {ins[0]} and {ins[1]}")
    return [ins[0]]


register(OpDef(
    "nn.sub", "sub", (), fixed(2, 1), _sub_infer,
    traits=frozenset({"pure", "elementwise"}),
    doc="x - y elementwise (also written `x - y` between wires).",
))
