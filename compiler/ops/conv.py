"""Convolution and pooling over the leading (spatial) axes of a channels-last example.

An example of a d-dimensional conv is ``[*spatial, channels]`` with d = 1, 2 or 3
(the batch axis is added by the backend). Kernel, stride and dilation take one
integer for every axis or a list with one per axis.
"""

from __future__ import annotations

from .registry import Arg, OpDef, OpTypeError, ParamSpec, check_known, fixed, register, require_float

PADDINGS = ("same", "valid")


def per_axis(value, d: int, what: str, op: str) -> tuple[int, ...]:
    """Broadcast an int (or check a list) to one value per spatial axis."""
    values = (value,) * d if isinstance(value, int) else tuple(value)
    if len(values) != d:
        raise OpTypeError(f"`{op}`: {what} has {len(values)} entries for {d} spatial axes")
    if any(v < 1 for v in values):
        raise OpTypeError(f"`{op}`: {what} must be positive, got {list(values)}")
    return values


def spatial_rank(t, op: str) -> int:
    d = t.rank - 1
    if not 1 <= d <= 3:
        raise OpTypeError(
            f"`{op}` expects [*spatial, channels] with 1 to 3 spatial axes, got {t}",
            "a 1-D signal with c channels is Tensor[N, c]; add a channel axis with reshape",
        )
    return d


def out_size(n, k: int, stride: int, dilation: int, padding: str, op: str):
    """Output length of one spatial axis (symbolic if ``n`` is)."""
    if padding == "same":
        return (n + stride - 1) // stride
    eff = (k - 1) * dilation + 1
    if isinstance(n, int) and n < eff:
        raise OpTypeError(f"`{op}`: window {eff} is larger than the input axis {n} (valid padding)")
    return (n - eff) // stride + 1


def _conv_geometry(a, t, op):
    d = spatial_rank(t, op)
    k = per_axis(a["kernel"], d, "kernel", op)
    s = per_axis(a["stride"], d, "stride", op)
    dil = per_axis(a.get("dilation", 1), d, "dilation", op)
    return d, k, s, dil


def _conv_infer(a, ins):
    t = ins[0]
    require_float(t, "conv")
    d, k, s, dil = _conv_geometry(a, t, "conv")
    check_known(t.shape[-1], "its input channels", "conv")
    spatial = [out_size(n, kk, ss, dd, a["padding"], "conv")
               for n, kk, ss, dd in zip(t.shape[:d], k, s, dil)]
    return [t.with_shape((*spatial, a["out"]))]


def _conv_params(a, ins):
    t = ins[0]
    d, k, _, _ = _conv_geometry(a, t, "conv")
    params = {"w": ParamSpec((*k, t.shape[-1], a["out"]), "lecun_normal")}
    if a["bias"]:
        params["b"] = ParamSpec((a["out"],), "zeros")
    return params


register(OpDef(
    "nn.conv", "conv",
    (Arg("out", "int", doc="output channels"), Arg("kernel", "int_or_ints", 3),
     Arg("stride", "int_or_ints", 1), Arg("padding", "str", "same", PADDINGS),
     Arg("dilation", "int_or_ints", 1), Arg("bias", "bool", True)),
    fixed(1, 1), _conv_infer, _conv_params,
    traits=frozenset({"pure", "linear", "convolution"}), main_param="w",
    doc="d-D convolution (d from the input rank), channels last, weights [*kernel, in, out].",
))


def _pool(op):
    def infer(a, ins):
        t = ins[0]
        d = spatial_rank(t, op)
        w = per_axis(a["window"], d, "window", op)
        stride = a["stride"] if a["stride"] is not None else a["window"]
        s = per_axis(stride, d, "stride", op)
        spatial = [out_size(n, ww, ss, 1, a["padding"], op)
                   for n, ww, ss in zip(t.shape[:d], w, s)]
        return [t.with_shape((*spatial, t.shape[-1]))]
    return infer


for _name in ("avg_pool", "max_pool"):
    register(OpDef(
        f"nn.{_name}", _name,
        (Arg("window", "int_or_ints", 2), Arg("stride", "int_or_ints", None),
         Arg("padding", "str", "valid", PADDINGS)),
        fixed(1, 1), _pool(_name),
        doc=f"{_name.replace('_', ' ')} over the spatial axes; stride defaults to the window.",
    ))
