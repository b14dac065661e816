"""catspec: a declarative model-spec compiler (spec -> typed graph IR -> JAX).

The public API; everything else is an implementation detail.
"""

__version__ = "0.1.0"

# The repository root is this package. pytest (9.2+) also imports the root's
# __init__.py under the checkout directory's name when it walks up from tests/;
# exporting only under the real name keeps a second copy of the modules from loading.
if __name__ == "catspec":
    from .api import compile, load
    from .backends.jax.model import Model
    from .compiler.ir import Graph, Node, ParamSlot
    from .compiler.ir_text import parse_ir
    from .compiler.passes import run_passes
    from .compiler.pattern import rewrite
    from .compiler.printer import print_ir
    from .compiler.rewrite import Rewriter
    from .compiler.serialize import from_json, to_json
    from .compiler.types import TensorType
    from .errors import CatspecError, InputError, IRVerifyError, LoweringError, PassError, SpecError
    from .grammar import parse_module
    from .grammar.formatter import format_module
    from .grammar.loader import load_ast
    from .runtime.trained import TrainedModel, load_run

    __all__ = [
        "CatspecError", "Graph", "IRVerifyError", "InputError", "LoweringError", "Model", "Node",
        "ParamSlot", "PassError", "SpecError", "TensorType", "TrainedModel", "compile", "format_module", "load",
        "load_ast", "load_run", "parse_module",
        "Rewriter", "from_json", "parse_ir", "print_ir", "rewrite", "run_passes", "to_json",
    ]
