"""The JAX back end: lowering rules, parameter pytrees, the compiled ``Model``."""

# Lowering rules live in one module per op family; importing them registers them.
from . import rules  # noqa: F401  (core families)
from . import rules_operators  # noqa: F401  (operator layers, einsum, bias)
from . import rules_nn_extra, rules_recursion  # noqa: F401  (sequence ops, fold/map)
from . import rules_control  # noqa: F401  (ctl.scan/batched/const from passes)
from .model import Model
from .params import flatten, init_params, nest, resolve
from .rules import RULES, LowerCtx

__all__ = ["RULES", "LowerCtx", "Model", "flatten", "init_params", "nest", "resolve"]
