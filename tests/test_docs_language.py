"""Every example in docs/LANGUAGE.md is checked: parse, canonical fmt, YAML round trip, elaboration.

Fences: ```cat (text form), ```yaml (YAML form), ```cat-error followed by a
```text block holding the exact rendered error. ```cat file=NAME saves the
example as NAME so later examples can import it. The ops table must list
every registered op.
"""

from __future__ import annotations

import re
from pathlib import Path

import jsonschema
import pytest
import yaml
from conftest import ROOT

from catspec.compiler.elaborate import elaborate, load_module
from catspec.compiler.ops.registry import SURFACE
from catspec.errors import SpecError
from catspec.grammar import parse_module
from catspec.grammar.formatter import format_module
from catspec.grammar.schema import json_schema
from catspec.grammar.yaml_form import parse_yaml, to_yaml

DOC = ROOT / "docs" / "LANGUAGE.md"
FENCE = re.compile(r"^```([\w-]+)([^\n]*)\n(.*?)^```$", re.S | re.M)


def _blocks() -> list[tuple[str, str, str, int]]:
    text = DOC.read_text()
    return [(m[1], m[2].strip(), m[3], text.count("\n", 0, m.start()) + 1)
            for m in FENCE.finditer(text)]


BLOCKS = _blocks()
CHECKED = [b for b in BLOCKS if b[0] in ("cat", "yaml", "cat-error")]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """One directory for all examples, holding the `file=` examples first."""
    root = tmp_path_factory.mktemp("language_md")
    for lang, info, body, _ in BLOCKS:
        if lang == "cat" and info.startswith("file="):
            path = root / info.removeprefix("file=")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(body)
    return root


def _elaborate_all(path: Path) -> int:
    module = load_module(path)
    for m in module.ast.models:
        elaborate(module, m.name).verify()
    return len(module.ast.models)


def test_the_document_has_examples_of_every_kind():
    kinds = {b[0] for b in BLOCKS}
    assert {"cat", "yaml", "cat-error", "text"} <= kinds
    assert len(CHECKED) >= 20


@pytest.mark.parametrize("lang,info,body,line", CHECKED, ids=[f"L{b[3]}" for b in CHECKED])
def test_example(lang, info, body, line, workdir, monkeypatch):
    monkeypatch.chdir(workdir)
    if lang == "cat":
        module = parse_module(body, "example.cat")
        assert format_module(module) == body, "not in canonical fmt layout"
        assert parse_yaml(to_yaml(module)) == module
        if module.models:
            Path("example.cat").write_text(body)
            _elaborate_all(Path("example.cat"))
    elif lang == "yaml":
        jsonschema.validate(yaml.safe_load(body), json_schema())
        module = parse_yaml(body, "example.yaml")
        assert parse_yaml(to_yaml(module)) == module
        assert parse_module(format_module(module)) == module
        Path("example.yaml").write_text(body)
        assert _elaborate_all(Path("example.yaml")) == len(module.models)
    else:
        following = BLOCKS[BLOCKS.index((lang, info, body, line)) + 1]
        assert following[0] == "text", "a cat-error block must be followed by a text block"
        Path("example.cat").write_text(body)
        with pytest.raises(SpecError) as info_:
            _elaborate_all(Path("example.cat"))
        expected = following[2].replace("{root}", str(workdir)).rstrip("\n")
        # Files are loaded by absolute path; the document shows them relative.
        assert info_.value.render().replace(f"{workdir}/", "") == expected


def test_every_registered_op_is_in_the_ops_reference():
    text = DOC.read_text()
    missing = [name for name in SURFACE if f"| `{name}(" not in text]
    assert missing == []
