"""catspec: a declarative model-spec compiler (spec -> typed graph IR -> JAX).

The public API; everything else is an implementation detail.
"""

from .api import compile, load
from .backends.jax.model import Model
from .compiler.ir import Graph, Node, ParamSlot
from .compiler.types import TensorType
from .errors import CatspecError, InputError, IRVerifyError, LoweringError, PassError, SpecError
from .grammar import parse_module
from .grammar.formatter import format_module
from .grammar.loader import load_ast

__version__ = "0.1.0"

__all__ = [
    "CatspecError", "Graph", "IRVerifyError", "InputError", "LoweringError", "Model", "Node",
    "ParamSlot", "PassError", "SpecError", "TensorType", "compile", "format_module", "load",
    "load_ast", "parse_module",
]
