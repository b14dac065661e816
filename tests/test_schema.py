"""`catspec schema`: the JSON Schema of the YAML form accepts every shipped spec and rejects junk."""

from __future__ import annotations

import json

import jsonschema
import pytest
import yaml
from conftest import SPECS
from typer.testing import CliRunner

from catspec.cli import app
from catspec.grammar.loader import load_ast
from catspec.grammar.schema import json_schema
from catspec.grammar.yaml_form import to_yaml

VALIDATOR = jsonschema.Draft202012Validator(json_schema())


def _errors(doc) -> list[str]:
    return [e.message for e in VALIDATOR.iter_errors(doc)]


def test_schema_is_a_valid_draft_2020_12_schema():
    jsonschema.Draft202012Validator.check_schema(json_schema())


@pytest.mark.parametrize("path", sorted(SPECS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_yaml_spec_validates(path):
    assert _errors(yaml.safe_load(path.read_text())) == []


@pytest.mark.parametrize("path", sorted(SPECS.glob("*.cat")), ids=lambda p: p.name)
def test_yaml_printed_from_every_shipped_cat_spec_validates(path):
    assert _errors(yaml.safe_load(to_yaml(load_ast(path)))) == []


@pytest.mark.parametrize(
    "doc",
    [
        {"model": "m"},  # not a list of items
        [{"model": "m", "type": "Tensor[4] -> Tensor[4]"}],  # no body
        [{"model": "m", "type": "Tensor[4] -> Tensor[4]", "body": "relu", "block": []}],
        [{"model": "m", "type": "Tensor[4] -> Tensor[4]", "body": "relu", "bogus": 1}],
        [{"def": "f", "body": {"seq": ["relu"]}}],  # seq needs two terms
        [{"def": "f", "body": {"repeat": "relu", "times": 2, "as": "r"}}],  # unknown mix
        [{"def": "f", "body": {"dense": 4, "relu": []}}],  # two layer names in one mapping
        [{"def": "f", "params": {"w": "integer"}, "body": "relu"}],
        [{"import": "a.cat"}],  # import without `as`
        [{"def": "f", "block": [{"return": "x"}, {"1x": "y"}]}],
    ],
)
def test_schema_rejects_malformed_documents(doc):
    assert _errors(doc)


def test_cli_schema_prints_the_schema_as_json():
    result = CliRunner().invoke(app, ["schema"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == json_schema()
