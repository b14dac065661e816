"""JSON Schema (draft 2020-12) of the YAML surface syntax, for editors (`catspec schema`).

The schema is written by hand as a dict rather than generated from the AST's
pydantic models: the YAML form is a *surface* over the AST (``seq:`` lists
flatten ``>>`` chains, ``{dense: 64}`` is a call, expressions may be text), so
the AST's own schema would describe the wrong documents. The schema mirrors
what ``yaml_form._Loader`` accepts; ``tests/test_schema.py`` checks every
shipped ``specs/*.yaml`` and every YAML example of ``docs/LANGUAGE.md`` against it.

It is deliberately a little looser than the loader where JSON Schema cannot say
the rule cheaply (a text expression is any string: the loader parses it and
reports errors with line and column).
"""

from __future__ import annotations

import json
from typing import Any

from .parser import PARAM_TYPES

SCHEMA_ID = "https://catspec.dev/schema/spec.yaml.json"
IDENT = r"^[A-Za-z_][A-Za-z0-9_]*$"
TARGETS = r"^\s*[A-Za-z_][A-Za-z0-9_]*(\s*,\s*[A-Za-z_][A-Za-z0-9_]*)*\s*$"
# Keys that a one-key mapping cannot use as a layer name (alone, they mean structure).
RESERVED = ("seq", "par", "sum", "call")


def _ref(name: str) -> dict:
    return {"$ref": f"#/$defs/{name}"}


def _closed(props: dict, required: list[str], description: str) -> dict:
    return {
        "type": "object",
        "description": description,
        "properties": props,
        "required": required,
        "additionalProperties": False,
    }


def _chain(key: str, meaning: str) -> dict:
    return _closed(
        {key: {"type": "array", "items": _ref("expr"), "minItems": 2}},
        [key],
        f"`{key}: [a, b, …]` is `a {meaning} b {meaning} …` (at least two terms).",
    )


def _expr_defs() -> dict[str, Any]:
    return {
        "expr": {
            "description": "An expression: text of the language (`dense(64) >> relu`, `4 * d`), "
            "a number, a bool, a list, or a structural mapping.",
            "anyOf": [
                {"type": "string", "description": "An expression in the text syntax."},
                {"type": "integer"},
                {"type": "number"},
                {"type": "boolean"},
                {"type": "array", "items": _ref("expr"), "description": "A list literal."},
                _ref("seq"), _ref("par"), _ref("sum"), _ref("repeat"), _ref("if"),
                _ref("with"), _ref("as"), _ref("call"), _ref("short_call"),
            ],
        },
        "seq": _chain("seq", ">>"),
        "par": _chain("par", "@"),
        "sum": _chain("sum", "+"),
        "repeat": _closed(
            {"repeat": _ref("expr"), "times": _ref("expr")},
            ["repeat", "times"],
            "`{repeat: f, times: n}` is `f ^ n` (n copies, fresh parameters each).",
        ),
        "if": _closed(
            {"if": _ref("expr"), "then": _ref("expr"), "else": _ref("expr")},
            ["if", "then", "else"],
            "`{if: c, then: a, else: b}` is `if c then a else b`.",
        ),
        "with": _closed(
            {"layer": _ref("expr"),
             "with": {"type": "string", "description": "A reparametrisation: `freeze`, "
                      "`lora(rank=4)`, `tie(\"name\")`, …"}},
            ["layer", "with"],
            "`{layer: f, with: r}` is `f with r`.",
        ),
        "as": _closed(
            {"layer": _ref("expr"), "as": {"type": "string", "pattern": IDENT}},
            ["layer", "as"],
            "`{layer: f, as: name}` is `f as name` (names the instance).",
        ),
        "call": _closed(
            {"call": _ref("expr"),
             "args": {"type": "array", "items": _ref("expr")},
             "kwargs": _ref("kwargs")},
            ["call"],
            "`{call: f, args: [a], kwargs: {k: v}}` is `f(a, k=v)`.",
        ),
        "kwargs": {
            "type": "object",
            "description": "Keyword arguments: `{name: expr}`.",
            "propertyNames": {"pattern": IDENT},
            "additionalProperties": _ref("expr"),
        },
        "short_call": {
            "type": "object",
            "description": "`{dense: [64]}` is `dense(64)`, `{dense: {out: 64}}` is "
            "`dense(out=64)`, `{dense: 64}` is `dense(64)`.",
            "minProperties": 1,
            "maxProperties": 1,
            "propertyNames": {"pattern": IDENT, "not": {"enum": list(RESERVED)}},
            "additionalProperties": {
                "anyOf": [
                    {"type": "array", "items": _ref("expr")},
                    _ref("kwargs"),
                    _ref("expr"),
                ]
            },
        },
    }


def _item_defs() -> dict[str, Any]:
    param = {
        "description": "A parameter: its type (`int`), or `{type: int, default: expr}`.",
        "anyOf": [
            {"enum": list(PARAM_TYPES)},
            _closed({"type": {"enum": list(PARAM_TYPES)}, "default": _ref("expr")}, ["type"],
                    "A typed parameter with an optional default."),
        ],
    }
    common = {
        "params": {
            "type": "object",
            "description": "Parameters in order: `{width: {type: int, default: 64}}`.",
            "propertyNames": {"pattern": IDENT},
            "additionalProperties": param,
        },
        "type": {"type": "string", "description": "The signature `A -> B`, e.g. "
                 "`Tensor[784] -> Tensor[10]` or `(a: Tensor[N], b: Tensor[N]) -> Tensor[N]`."},
        "body": _ref("expr"),
        "block": _ref("block"),
    }
    body_xor = [{"required": ["body"]}, {"required": ["block"]}]
    return {
        "model": {
            **_closed({"model": {"type": "string", "pattern": IDENT}, **common,
                       "train": _ref("train")},
                      ["model", "type"], "A runnable model: parameters need defaults."),
            "oneOf": body_xor,
        },
        "def": {
            **_closed({"def": {"type": "string", "pattern": IDENT}, **common}, ["def"],
                      "A reusable definition."),
            "oneOf": body_xor,
        },
        "import": _closed(
            {"import": {"type": "string", "description": "A relative path to a spec file."},
             "as": {"type": "string", "pattern": IDENT}},
            ["import", "as"],
            "`import: path` with `as: name` makes `name.def_name` available.",
        ),
        "block": {
            "type": "array",
            "description": "Named-wire statements `- name: expr` (or `- a, b: expr`) and a "
            "final `- return: wire` (or a list of wires).",
            "minItems": 1,
            "items": {
                "anyOf": [
                    _closed({"return": {"anyOf": [_ref("expr"),
                                                  {"type": "array", "items": _ref("expr")}]}},
                            ["return"], "The block's outputs."),
                    {
                        "type": "object",
                        "minProperties": 1,
                        "maxProperties": 1,
                        "propertyNames": {"pattern": TARGETS, "not": {"const": "return"}},
                        "additionalProperties": _ref("expr"),
                    },
                ]
            },
        },
        "train": {
            "type": "object",
            "description": "Training settings (see docs/TRAINING.md): `{epochs: 10, lr: 1e-3}`.",
            "propertyNames": {"pattern": IDENT},
            "additionalProperties": _ref("expr"),
        },
    }


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a YAML spec file (a list of model/def/import items)."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "catspec spec (YAML form)",
        "description": "A list of items: `- model: name`, `- def: name` or `- import: path`.",
        "type": "array",
        "items": {"oneOf": [_ref("model"), _ref("def"), _ref("import")]},
        "$defs": {**_item_defs(), **_expr_defs()},
    }


def schema_text() -> str:
    """The schema as indented JSON text, ending in a newline."""
    return json.dumps(json_schema(), indent=2) + "\n"
