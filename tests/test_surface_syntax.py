"""Both surface syntaxes give one AST; the formatter's output parses back to the same AST."""

from __future__ import annotations

import pytest
from conftest import SPECS

from catspec.grammar import parse_module
from catspec.grammar import ast as A
from catspec.grammar.formatter import format_module
from catspec.grammar.loader import load_ast
from catspec.grammar.yaml_form import parse_yaml, to_yaml

SHIPPED = sorted(p.stem for p in SPECS.glob("*.cat"))


@pytest.mark.parametrize("name", SHIPPED)
def test_cat_and_yaml_twins_parse_to_the_same_ast(name):
    assert load_ast(SPECS / f"{name}.cat") == load_ast(SPECS / f"{name}.yaml")


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_specs_are_canonical_and_round_trip(name):
    text = (SPECS / f"{name}.cat").read_text()
    module = parse_module(text, f"{name}.cat")
    assert format_module(module) == text
    assert parse_yaml(to_yaml(module)) == module


def test_precedence_of_morphism_operators():
    m = parse_module("model m : Tensor[4] -> Tensor[4] = a >> b @ c + d ^ 2 >> e")
    body = m.items[0].body
    # (a >> (b @ (c + (d ^ 2)))) >> e
    assert body.op == ">>" and body.right == A.Name(id="e")
    inner = body.left.right
    assert inner.op == "@" and inner.right.op == "+" and inner.right.right.op == "^"


def test_spans_point_into_yaml_scalars():
    text = "- model: m\n  type: Tensor[4] -> Tensor[4]\n  body:\n    seq: [dense(4), relu]\n"
    module = parse_yaml(text, "m.yaml")
    first = module.items[0].body.left
    assert (first.span.line, first.span.col) == (4, 11)
    sig = module.items[0].signature
    assert (sig.span.line, sig.span.col) == (2, 9)


def test_yaml_negative_numbers_match_text():
    text_ast = parse_module("model m : Tensor[4] -> Tensor[4] = split(2, axis=-1) >> add")
    yaml_ast = parse_yaml(
        "- model: m\n  type: Tensor[4] -> Tensor[4]\n"
        "  body:\n    seq: [{call: split, args: [2], kwargs: {axis: -1}}, add]\n"
    )
    assert yaml_ast == text_ast


def test_misspelt_yaml_item_kind_has_a_hint():
    import pytest as _pytest

    from catspec.errors import SpecError

    with _pytest.raises(SpecError) as info:
        parse_yaml("- modle: m\n  type: Tensor[4] -> Tensor[4]\n  body: relu\n", "m.yaml")
    assert str(info.value) == (
        "m.yaml:1:3: error: an item needs exactly one of `model:`, `def:` or `import:`\n"
        "    - modle: m\n"
        "      ^\n"
        "hint: did you mean `model`?"
    )
