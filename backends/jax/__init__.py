"""The JAX back end: lowering rules, parameter pytrees, the compiled ``Model``."""

from .model import Model
from .params import flatten, init_params, nest, resolve
from .rules import RULES, LowerCtx

__all__ = ["RULES", "LowerCtx", "Model", "flatten", "init_params", "nest", "resolve"]
