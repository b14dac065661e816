"""Op declarations, one family per file; importing this package registers them all."""

from . import activation, conv, dense, shape, structure  # noqa: F401  (registration)
from . import operators, tensor  # noqa: F401  (operator layers; einsum, bias)
from . import nn_extra, recursion  # noqa: F401  (sequence ops; fold/map typing)
from . import control  # noqa: F401  (ctl.scan/batched/const, made by passes)
from .registry import OPS, REQUIRED, SURFACE, Arg, OpDef, OpTypeError, ParamSpec, register

__all__ = ["OPS", "REQUIRED", "SURFACE", "Arg", "OpDef", "OpTypeError", "ParamSpec", "register"]
