"""The middle end: types, the graph IR, elaboration from the AST, verification, passes."""

from . import ops
from .elaborate import elaborate, load_module, module_from_text
from .ir import Graph, Node, ParamSlot, ParamTable
from .printer import print_graph, print_params
from .types import TensorType

__all__ = [
    "Graph", "Node", "ParamSlot", "ParamTable", "TensorType", "elaborate", "load_module",
    "module_from_text", "ops", "print_graph", "print_params",
]
