"""Reading spec files: pick the surface syntax by extension, turn I/O errors into SpecErrors."""

from __future__ import annotations

from pathlib import Path

from ..errors import Span, SpecError
from . import ast as A
from .parser import parse_expr, parse_module

TEXT_SUFFIXES = (".cat",)
YAML_SUFFIXES = (".yaml", ".yml")
MAX_SPEC_BYTES = 8 * 1024 * 1024  # refuse absurd inputs before reading them


def read_text(path: Path, span: Span | None = None) -> str:
    try:
        if path.stat().st_size > MAX_SPEC_BYTES:
            raise SpecError(f"`{path}` is larger than {MAX_SPEC_BYTES // 2**20} MiB", span)
        return path.read_text(encoding="utf-8-sig")  # a byte-order mark some editors add
    except FileNotFoundError:
        raise SpecError(f"no such file `{path}`", span) from None
    except IsADirectoryError:
        raise SpecError(f"`{path}` is a directory, not a spec file", span) from None
    except UnicodeDecodeError as err:
        data = err.object
        line = data[:err.start].count(b"\n") + 1
        col = err.start - (data.rfind(b"\n", 0, err.start) + 1) + 1
        raise SpecError(f"`{path}` is not UTF-8 text: byte 0x{data[err.start]:02x} at line {line}, "
                        f"byte {col} of the line ({err.reason})", span,
                        "save the file as UTF-8") from None
    except OSError as err:
        raise SpecError(f"cannot read `{path}`: {err.strerror}", span) from None


def load_ast(path: str | Path, span: Span | None = None) -> A.Module:
    """Parse a ``.cat`` or ``.yaml`` spec file into its AST."""
    path = Path(path)
    text = read_text(path, span)
    name = str(path)
    if path.suffix in YAML_SUFFIXES:
        from .yaml_form import parse_yaml

        return parse_yaml(text, name)
    if path.suffix not in TEXT_SUFFIXES:
        raise SpecError(f"`{path}`: unknown spec extension `{path.suffix}`", span,
                        "spec files end in .cat (text) or .yaml (YAML form)")
    return parse_module(text, name)


def parse_override(raw: str, ptype: str):
    """Value of ``-s name=raw`` for a parameter of type ``ptype``.

    Strings may be given bare (``-s act=gelu``); everything else is a literal
    expression of the language (``-s width=32``, ``-s lr=1e-3``, ``-s bias=false``).
    """
    if ptype == "str" and not raw.startswith('"'):
        return raw
    expr = parse_expr(raw, "<-s>")
    return _literal(expr, raw, ptype)


# What to give, by parameter type, when an override is not a literal.
_GIVE = {"int": "give an int, like 32", "float": "give a number, like 1e-3",
         "bool": "give true or false"}


def _literal(e, raw, ptype: str = ""):
    if isinstance(e, (A.Int, A.Float, A.Str, A.Bool)):
        return e.value
    if isinstance(e, A.UnaryOp) and e.op == "-" and isinstance(e.operand, (A.Int, A.Float)):
        return -e.operand.value
    if isinstance(e, A.ListExpr):
        return [_literal(x, raw) for x in e.items]
    raise SpecError(f"override value `{raw}` is not a literal", None,
                    _GIVE.get(ptype, "give a number, true/false, a string, or a list of those"))
