"""Dense (affine) layers and layer normalisation."""

from __future__ import annotations

from .registry import (
    Arg,
    OpDef,
    OpTypeError,
    ParamSpec,
    check_known,
    fixed,
    register,
    require_float,
)


def _dense_infer(a, ins):
    t = ins[0]
    require_float(t, "dense")
    if t.rank < 1:
        from .registry import OpTypeError
        raise OpTypeError(f"`dense` expects at least one axis, got {t}")
    check_known(t.shape[-1], "its input's last axis", "dense")
    return [t.with_last(a["out"])]


def _dense_params(a, ins):
    d_in = ins[0].shape[-1]
    params = {"w": ParamSpec((d_in, a["out"]), "lecun_normal")}
    if a["bias"]:
        params["b"] = ParamSpec((a["out"],), "zeros")
    return params


register(OpDef(
    "nn.dense", "dense",
    (Arg("out", "int", doc="output features"), Arg("bias", "bool", True)),
    fixed(1, 1), _dense_infer, _dense_params,
    traits=frozenset({"pure", "linear"}), main_param="w",
    doc="y = x·w + b on the last axis; other axes are mapped over.",
))


def _ln_infer(a, ins):
    if not a["eps"] > 0 or a["eps"] == float("inf"):  # `not >` refuses NaN too
        raise OpTypeError(f"`layer_norm`: eps must be positive and finite, got {a['eps']}",
                          "it keeps the variance away from zero; the default is 1e-5")
    require_float(ins[0], "layer_norm")
    check_known(ins[0].shape[-1], "its input's last axis", "layer_norm")
    return [ins[0]]


def _ln_params(a, ins):
    d = ins[0].shape[-1]
    return {"scale": ParamSpec((d,), "ones"), "bias": ParamSpec((d,), "zeros")}


register(OpDef(
    "nn.layer_norm", "layer_norm", (Arg("eps", "float", 1e-5),),
    fixed(1, 1), _ln_infer, _ln_params, main_param="scale",
    doc="Normalise the last axis to zero mean and unit variance, then scale and shift.",
))
