"""`catspec fmt` and `catspec convert`: canonical layout, comments kept, --check/--write, YAML twins."""

from __future__ import annotations

from typer.testing import CliRunner

from catspec.cli import app
from catspec.grammar import parse_module
from catspec.grammar.formatter import format_module
from catspec.grammar.yaml_form import parse_yaml, to_yaml

MESSY = """\
# header comment
def   block(d:int){
  # first
  h = layer_norm(x)   # beside h
  y = x + attention(heads = 8)(h, h, h)
  # before return
  return y
}
model m(d: int = 16, vocab: int = 100, layers: int = 2, heads: int = 4, causal: bool = true)
  : Tensor[T, dtype=i32] -> Tensor[T, vocab] =
  embedding(vocab, d)
  # inside the expression
  >> block(d) ^ layers >> dense(vocab)
train {
  # about epochs
  epochs = 2
}
# the end
"""

CANONICAL = """\
# header comment
def block(d: int) {
    # first
    # beside h
    h = layer_norm(x)
    y = x + attention(heads=8)(h, h, h)
    # before return
    return y
}

# inside the expression
model m(d: int = 16, vocab: int = 100, layers: int = 2, heads: int = 4, causal: bool = true)
    : Tensor[T, dtype=i32] -> Tensor[T, vocab] =
    embedding(vocab, d) >> block(d) ^ layers >> dense(vocab)
train {
    # about epochs
    epochs = 2
}

# the end
"""


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_fmt_layout_and_comments_are_kept():
    assert format_module(parse_module(MESSY)) == CANONICAL


def test_fmt_is_idempotent_and_keeps_the_ast():
    once = format_module(parse_module(MESSY))
    assert format_module(parse_module(once)) == once
    assert parse_module(once) == parse_module(MESSY)


def test_long_calls_and_lists_put_one_argument_per_line():
    src = (
        "model m : Tensor[4] -> Tensor[4] = some_layer(first_argument_value, "
        "second_argument_value, [1, 2, 3], width=first_argument_value * 2, "
        "flag=true) >> relu\n"
    )
    assert format_module(parse_module(src)) == (
        "model m : Tensor[4] -> Tensor[4] =\n"
        "    some_layer(\n"
        "        first_argument_value,\n"
        "        second_argument_value,\n"
        "        [1, 2, 3],\n"
        "        width=first_argument_value * 2,\n"
        "        flag=true,\n"
        "    ) >> relu\n"
    )


def test_very_long_parameter_lists_go_one_per_line():
    ps = ", ".join(f"parameter_{i}: int = {i}" for i in range(5))
    src = f"model m({ps}) : Tensor[4] -> Tensor[4] = relu\n"
    out = format_module(parse_module(src))
    assert out == (
        "model m(\n"
        + "".join(f"    parameter_{i}: int = {i},\n" for i in range(5))
        + ") : Tensor[4] -> Tensor[4] =\n    relu\n"
    )
    assert format_module(parse_module(out)) == out


def test_check_and_write(tmp_path):
    f = tmp_path / "m.cat"
    f.write_text(MESSY)
    result = invoke("fmt", "--check", f)
    assert result.exit_code == 1
    assert result.stderr == f"{f}: not canonical\n"
    assert f.read_text() == MESSY  # --check never writes

    result = invoke("fmt", "--write", f)
    assert result.exit_code == 0, result.output
    assert result.stdout == f"formatted {f}\n"
    assert f.read_text() == CANONICAL

    assert invoke("fmt", "--check", f).exit_code == 0
    assert invoke("fmt", f).stdout == CANONICAL


def test_convert_to_yaml_and_back_gives_the_same_ast(tmp_path):
    f = tmp_path / "m.cat"
    f.write_text(MESSY)
    y = tmp_path / "m.yaml"
    result = invoke("convert", f, "--to", "yaml", "-o", y)
    assert result.exit_code == 0, result.output
    assert parse_yaml(y.read_text()) == parse_module(MESSY)
    back = invoke("convert", y, "--to", "cat")
    assert back.exit_code == 0
    assert parse_module(back.stdout) == parse_module(MESSY)
    # YAML has no comments: converting back gives the canonical text without them.
    uncommented = "".join(
        line for line in CANONICAL.splitlines(True) if not line.lstrip().startswith("#")
    )
    assert back.stdout == format_module(parse_module(uncommented))


def test_yaml_of_a_block_returning_one_list_literal_round_trips():
    module = parse_module("def f(n: int) {\n    return [x]\n}\n")
    assert parse_yaml(to_yaml(module)) == module


def test_a_def_without_parameters_leaves_out_the_parentheses_as_a_model_does():
    text = "def stem = dense(8) >> relu\n\nmodel m : Tensor[4] -> Tensor[8] =\n    stem\n"
    assert format_module(parse_module("def stem() = dense(8) >> relu\n\n"
                                      "model m : Tensor[4] -> Tensor[8] = stem\n")) == (
        "def stem =\n    dense(8) >> relu\n\nmodel m : Tensor[4] -> Tensor[8] =\n    stem\n")
    assert parse_module(text) == parse_module(text.replace("def stem =", "def stem() ="))
