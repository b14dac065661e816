"""The front end: grammar, parser, YAML form, AST, formatter and spec loading."""

from . import ast
from .parser import parse_expr, parse_module, parse_signature

__all__ = ["ast", "parse_expr", "parse_module", "parse_signature"]
