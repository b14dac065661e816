"""Imports (`import "path.cat" as name`) and `-s name=value` overrides, with exact error text."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import catspec
from catspec.cli import app
from catspec.compiler.elaborate import elaborate, load_module
from catspec.errors import SpecError

BLOCKS = """\
def mlp_block(width: int = 8) =
    dense(width) >> relu
"""


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def error_of(path: Path) -> SpecError:
    with pytest.raises(SpecError) as info:
        elaborate(load_module(path))
    return info.value


def test_imported_definitions_are_used_through_the_alias(tmp_path):
    write(tmp_path, {
        "lib/blocks.cat": BLOCKS,
        "main.cat": 'import "lib/blocks.cat" as blocks\n'
                    "model m : Tensor[4] -> Tensor[8] =\n"
                    "    blocks.mlp_block(8) >> blocks.mlp_block(width=8) >> blocks.mlp_block\n",
    })
    graph = catspec.load(tmp_path / "main.cat")
    assert [n.op for n in graph.nodes()].count("nn.dense") == 3


def test_a_file_imported_twice_is_loaded_once(tmp_path):
    write(tmp_path, {
        "lib/blocks.cat": BLOCKS,
        "lib/more.cat": 'import "blocks.cat" as b\ndef twice() = b.mlp_block >> b.mlp_block\n',
        "main.cat": 'import "lib/blocks.cat" as blocks\nimport "lib/more.cat" as more\n'
                    "model m : Tensor[4] -> Tensor[8] = blocks.mlp_block >> more.twice()\n",
    })
    module = load_module(tmp_path / "main.cat")
    assert module.imports["blocks"] is module.imports["more"].imports["b"]
    elaborate(module)


def test_import_escaping_the_root_is_refused(tmp_path):
    write(tmp_path, {"x.cat": BLOCKS,
                     "spec/main.cat": 'import "../x.cat" as x\n'
                                      "model m : Tensor[4] -> Tensor[4] = relu\n"})
    err = error_of(tmp_path / "spec/main.cat")
    assert err.message == f"import `../x.cat` escapes the spec root `{tmp_path / 'spec'}`"
    assert err.hint == "specs may only import files under the directory of the main spec"
    assert (err.span.line, err.span.col) == (1, 1)


def test_import_escaping_through_a_subdirectory_is_refused(tmp_path):
    write(tmp_path, {"x.cat": BLOCKS,
                     "spec/lib/inner.cat": 'import "../../x.cat" as x\ndef f() = relu\n',
                     "spec/main.cat": 'import "lib/inner.cat" as inner\n'
                                      "model m : Tensor[4] -> Tensor[4] = inner.f()\n"})
    err = error_of(tmp_path / "spec/main.cat")
    assert err.message == f"import `../../x.cat` escapes the spec root `{tmp_path / 'spec'}`"
    assert err.span.file == str(tmp_path / "spec/lib/inner.cat")


def test_import_of_an_absolute_path_is_refused(tmp_path):
    write(tmp_path, {"main.cat": f'import "{tmp_path}/x.cat" as x\n'
                                 "model m : Tensor[4] -> Tensor[4] = relu\n"})
    err = error_of(tmp_path / "main.cat")
    assert err.message == f"import of an absolute path `{tmp_path}/x.cat`"
    assert err.hint == "imports are relative to the importing file"


def test_import_cycles_are_reported_with_the_chain(tmp_path):
    write(tmp_path, {
        "a.cat": 'import "sub/b.cat" as b\nmodel m : Tensor[4] -> Tensor[4] = relu\n',
        "sub/b.cat": 'import "c.cat" as c\ndef f() = relu\n',
        "sub/c.cat": 'import "../a.cat" as a\ndef g() = relu\n',
    })
    err = error_of(tmp_path / "a.cat")
    assert err.message == "import cycle: a.cat -> sub/b.cat -> sub/c.cat -> a.cat"
    assert err.span.file == str(tmp_path / "sub/c.cat")
    assert err.hint == "move shared definitions into a third file that both import"


def test_a_file_importing_itself_is_a_cycle(tmp_path):
    write(tmp_path, {"a.cat": 'import "a.cat" as me\nmodel m : Tensor[4] -> Tensor[4] = relu\n'})
    assert error_of(tmp_path / "a.cat").message == "import cycle: a.cat -> a.cat"


def test_missing_imported_file(tmp_path):
    write(tmp_path, {"main.cat": 'import "nope.cat" as n\n'
                                 "model m : Tensor[4] -> Tensor[4] = relu\n"})
    err = error_of(tmp_path / "main.cat")
    assert err.message == "imported file `nope.cat` does not exist"
    assert str(err.span) == f"{tmp_path / 'main.cat'}:1:1"


def test_unknown_definition_of_a_module(tmp_path):
    write(tmp_path, {"lib.cat": BLOCKS,
                     "main.cat": 'import "lib.cat" as lib\n'
                                 "model m : Tensor[4] -> Tensor[8] = lib.mlp_blok\n"})
    err = error_of(tmp_path / "main.cat")
    assert err.message == "module `lib` has no definition `mlp_blok`"
    assert err.hint == "did you mean `mlp_block`?"


def test_yaml_specs_import_text_specs(tmp_path):
    write(tmp_path, {"lib.cat": BLOCKS,
                     "main.yaml": "- import: lib.cat\n  as: lib\n- model: m\n"
                                  "  type: Tensor[4] -> Tensor[8]\n  body: lib.mlp_block(8)\n"})
    assert catspec.load(tmp_path / "main.yaml").name == "m"


# ---- -s overrides on every command ---------------------------------------------------

MLP = """\
model mlp(width: int = 8, act: str = "relu", bias: bool = true, scale: float = 1.0)
    : Tensor[4] -> Tensor[width] =
    dense(width, bias=bias)
"""


@pytest.fixture
def mlp(tmp_path) -> Path:
    path = tmp_path / "mlp.cat"
    path.write_text(MLP)
    return path


@pytest.mark.parametrize("command", ["check", "show", "run"])
def test_unknown_override_names_get_a_did_you_mean(mlp, command):
    result = CliRunner().invoke(app, [command, str(mlp), "-s", "widht=4"])
    assert result.exit_code == 2
    assert (
        "<-s>:1:1: error: model `mlp` has no parameter `widht`\n"
        "    widht=4\n"
        "    ^^^^^\n"
        "hint: did you mean `width`?\n"
    ) in result.stderr


@pytest.mark.parametrize("command", ["check", "show", "run"])
@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("width=true", "override `-s width=…` must be an int, got a bool `true`"),
        ("width=1.5", "override `-s width=…` must be an int, got a float `1.5`"),
        ("bias=3", "override `-s bias=…` must be a bool, got an int `3`"),
        ("scale=\"x\"", "override `-s scale=…` must be a number, got a string `\"x\"`"),
        ("width=x", "override value `x` is not a literal"),
    ],
)
def test_ill_typed_overrides_are_type_errors(mlp, command, setting, message):
    result = CliRunner().invoke(app, [command, str(mlp), "-s", setting])
    assert result.exit_code == 2
    assert f"error: {message}" in result.stderr


def test_well_typed_overrides_apply(mlp):
    graph = catspec.load(mlp, width=16, bias=False, scale=2)
    assert graph.spec_params == {"width": 16, "act": "relu", "bias": False, "scale": 2.0}
    result = CliRunner().invoke(app, ["check", str(mlp), "-s", "width=16", "-s", "act=gelu",
                                      "-s", "scale=1e-3", "-s", "bias=false"])
    assert result.exit_code == 0, result.output
