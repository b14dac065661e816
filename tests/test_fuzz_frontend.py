"""Fuzzing the front end: any text, parsed and elaborated, ends in a located ``SpecError`` or works.

Inputs are token soups from the language's own vocabulary and mutations of the
shipped specs (deletions, duplications, swaps of tokens and lines), in both
surface syntaxes. Nothing may escape as another exception, and every error
carries a span.
"""

from __future__ import annotations

import os
import re

import pytest
from conftest import SPECS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catspec.compiler.elaborate import elaborate, module_from_text
from catspec.errors import SpecError
from catspec.grammar.yaml_form import parse_yaml

# CATSPEC_FUZZ_EXAMPLES=5000 runs a longer, random (not derandomized) campaign.
_EXTRA = os.environ.get("CATSPEC_FUZZ_EXAMPLES")
SETTINGS = settings(
    max_examples=int(_EXTRA) if _EXTRA else 120,
    deadline=None,
    derandomize=not _EXTRA,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

TOKENS = [
    "model", "def", "import", "as", "train", "return", "if", "then", "else", "and", "or",
    "not", "with", "true", "false", "Tensor", "Field", "int", "float", "bool", "str",
    ">>", "@", "+", "-", "*", "/", "//", "%", "^", "==", "!=", "<", "<=", ">", ">=",
    "(", ")", "[", "]", "{", "}", ",", ":", "=", "->", ".", ";", "\n", "#c\n",
    "x", "h", "m", "f", "N", "T", "d", "dense", "relu", "gelu", "conv", "copy", "drop",
    "swap", "add", "id", "residual", "tie", "split", "concat", "freeze", "lora", "rank",
    "dtype", "i32", "f32", "0", "1", "2", "64", "1.5", "1e-3", '"s"', '"a.cat"', "'",
]  # fmt: skip
SHIPPED = {p.name: p.read_text() for p in sorted(SPECS.glob("*.cat"))}
SHIPPED_YAML = {p.name: p.read_text() for p in sorted(SPECS.glob("*.yaml"))}
_LEX = re.compile(r'"(?:[^"\\\n]|\\.)*"|\d[\w.]*|\w+|>>|->|//|==|!=|<=|>=|\s+|.')


def _frontend(text: str, yaml_form: bool = False) -> None:
    """Parse and elaborate every model; only located SpecErrors may come out."""
    try:
        if yaml_form:
            from catspec.compiler.elaborate import ModuleLoader

            module = ModuleLoader(None).load(parse_yaml(text, "<fuzz>.yaml"), None)
        else:
            module = module_from_text(text, "<fuzz>")
        for m in module.ast.models:
            elaborate(module, m.name).verify()
    except SpecError as err:
        errors = getattr(err, "errors", [err])
        for e in errors:
            assert e.span is not None, f"error without a location: {e.message}"
        err.render()  # rendering never fails either


@SETTINGS
@given(st.lists(st.sampled_from(TOKENS), max_size=40).map(" ".join))
def test_token_soup(text):
    _frontend(text)


@SETTINGS
@given(
    st.lists(st.sampled_from(TOKENS), max_size=20).map(" ".join).map(
        lambda body: "model m(d: int = 4) : Tensor[4] -> Tensor[4] = " + body
    )
)
def test_token_soup_in_a_model_body(text):
    _frontend(text)


def _mutate(data, source: str) -> str:
    pieces = _LEX.findall(source)
    for _ in range(data.draw(st.integers(1, 4))):
        if not pieces:
            break
        i = data.draw(st.integers(0, len(pieces) - 1))
        kind = data.draw(st.sampled_from(["delete", "duplicate", "swap", "insert"]))
        if kind == "delete":
            del pieces[i]
        elif kind == "duplicate":
            pieces.insert(i, pieces[i])
        elif kind == "swap":
            j = data.draw(st.integers(0, len(pieces) - 1))
            pieces[i], pieces[j] = pieces[j], pieces[i]
        else:
            pieces.insert(i, data.draw(st.sampled_from(TOKENS)))
    return "".join(pieces)


@SETTINGS
@given(st.data(), st.sampled_from(sorted(SHIPPED)))
def test_mutated_shipped_specs(data, name):
    _frontend(_mutate(data, SHIPPED[name]))


@SETTINGS
@given(st.data(), st.sampled_from(sorted(SHIPPED_YAML)))
def test_mutated_shipped_yaml_specs(data, name):
    text = SHIPPED_YAML[name]
    if data.draw(st.booleans()):
        lines = text.splitlines(True)
        i = data.draw(st.integers(0, len(lines) - 1))
        j = data.draw(st.integers(0, len(lines) - 1))
        lines[i], lines[j] = lines[j], lines[i]
        text = "".join(lines)
    _frontend(_mutate(data, text), yaml_form=True)


@pytest.mark.parametrize(
    "body",
    [
        "-" * 3000 + "1",
        "not " * 3000 + "true",
        "f(" * 2000 + "x" + ")" * 2000,
        "[" * 2000 + "]" * 2000,
        "relu ^ " * 2000 + "1",
        "if true then " * 1000 + "relu" + " else relu" * 1000,
    ],
)
def test_deep_nesting_is_a_spec_error(body):
    text = f"model m : Tensor[4] -> Tensor[4] = {body}\n"
    with pytest.raises(SpecError) as info:
        module_from_text(text, "<deep>")
    assert info.value.message == "expression nested too deeply"
    assert info.value.span is not None


def test_parentheses_alone_add_no_depth():
    text = "model m : Tensor[4] -> Tensor[4] = " + "(" * 3000 + "relu" + ")" * 3000
    assert elaborate(module_from_text(text)).name == "m"


def test_deep_yaml_nesting_is_a_spec_error():
    text = "- model: m\n  type: Tensor[4] -> Tensor[4]\n  body: " + "[" * 5000 + "]" * 5000
    with pytest.raises(SpecError) as info:
        parse_yaml(text, "<deep>.yaml")
    assert info.value.message == "expression nested too deeply"


def test_exponential_recursion_is_bounded():
    text = (
        "def f(c: int) = if c == 0 then relu else (f(c - 1) >> f(c - 1))\n"
        "model m(depth: int = 40) : Tensor[4] -> Tensor[4] = f(depth)\n"
    )
    with pytest.raises(SpecError) as info:
        elaborate(module_from_text(text, "<exp>"))
    assert info.value.message == "elaboration needs more than 20,000 definition calls (in `f`)"


def test_nested_repetition_is_refused_before_it_unrolls():
    text = "model m : Tensor[4] -> Tensor[4] = ((relu ^ 1000) ^ 1000) ^ 1000\n"
    with pytest.raises(SpecError) as info:
        elaborate(module_from_text(text, "<rep>"))
    assert info.value.render() == (
        "<rep>:1:37: error: `^ 1000` would unroll to about 1,000,001 nodes; a graph holds at "
        "most 500,000\n"
        "    model m : Tensor[4] -> Tensor[4] = ((relu ^ 1000) ^ 1000) ^ 1000\n"
        "                                        ^^^^^^^^^^^^^^^^^^^^\n"
        "hint: one copy is 1,000 node(s); lower the count, or fold a recurrence with `fold`")


def test_integer_literals_have_a_length_limit():
    text = "model m : Tensor[4] -> Tensor[4] = relu ^ " + "9" * 5000 + "\n"
    with pytest.raises(SpecError) as info:
        module_from_text(text, "<long>")
    assert (info.value.message, info.value.hint) == (
        "an integer of 5000 digits is too long", "integers have at most 100 digits")


@pytest.mark.parametrize(("value", "message", "hint"), [
    ("!!float abc", "`abc` is not a YAML float", "drop the `!!float` tag, or write a float"),
    ("!!bool maybe", "`maybe` is not a YAML bool", "drop the `!!bool` tag, or write a bool"),
    ("!!int 0x1G", "`0x1G` is not a YAML int", "drop the `!!int` tag, or write an int"),
    ("!!int " + "9" * 5000, "an integer of 5000 digits is too long",
     "integers have at most 100 digits"),
])
def test_yaml_scalar_tags_that_do_not_fit_their_value_are_spec_errors(value, message, hint):
    text = ("- model: m\n  params: {w: {type: int, default: " + value + "}}\n"
            "  type: Tensor[4] -> Tensor[4]\n  body: relu\n")
    with pytest.raises(SpecError) as info:
        parse_yaml(text, "<tag>.yaml")
    assert (info.value.message, info.value.hint, info.value.span.line) == (message, hint, 2)


def test_yaml_aliases_of_aliases_are_bounded():
    text = "- model: m\n  type: Tensor[4] -> Tensor[4]\n  body:\n    seq: &l0 [relu, relu]\n"
    for i in range(1, 20):  # 2^20 relus if expanded
        text += f"- def: d{i}\n  body:\n    seq: &l{i} [{{seq: *l{i - 1}}}, {{seq: *l{i - 1}}}]\n"
    with pytest.raises(SpecError) as info:
        parse_yaml(text, "<laughs>.yaml")
    assert info.value.message == "the spec expands to more than 200,000 expression nodes"


def test_yaml_tags_on_lists_and_mappings_are_refused_not_ignored():
    text = ("- model: m\n  type: Tensor[4] -> Tensor[4]\n  body:\n"
            "    seq: !!python/object/apply:os.system [relu, relu]\n")
    with pytest.raises(SpecError) as info:
        parse_yaml(text, "<tag>.yaml")
    assert info.value.message == ("unsupported YAML tag "
                                  "`tag:yaml.org,2002:python/object/apply:os.system` on a list")
    assert (info.value.span.line, info.value.span.col) == (4, 10)


def test_a_file_that_is_not_utf8_is_refused_with_the_position(tmp_path):
    from catspec.grammar.loader import load_ast

    path = tmp_path / "latin.cat"
    path.write_bytes(b"model m : Tensor[4] -> Tensor[4] =\n    relu # caf\xe9\n")
    with pytest.raises(SpecError) as info:
        load_ast(path)
    assert (info.value.message, info.value.hint) == (
        f"`{path}` is not UTF-8 text: byte 0xe9 at line 2, byte 15 of the line (invalid "
        "continuation byte)", "save the file as UTF-8")
