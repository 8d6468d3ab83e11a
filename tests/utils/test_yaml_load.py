"""The bounded YAML loader: plain data with lines, copies for aliases, and its bounds."""

from __future__ import annotations

import pytest

from automl.engine.utils.quoting import quote, shorten
from automl.engine.utils.yaml_load import YamlInputError, load_yaml


def test_plain_values_and_the_line_of_every_key_and_item():
    loaded = load_yaml("a: 1\nb:\n  - x\n  - {c: 2.5, d: null}\ne: 'yes'\n", "f.yml")
    assert loaded.data == {"a": 1, "b": ["x", {"c": 2.5, "d": None}], "e": "yes"}
    assert loaded.lines[("a",)] == 1 and loaded.lines[("b", 1)] == 4
    assert loaded.line_of(("b", 1, "d")) == 4
    assert loaded.line_of(("b", 7, "zz")) == 2  # deepest part present


def test_aliases_and_merge_keys_are_expanded_into_copies():
    text = "base: &b {x: 1, y: 2}\nc:\n  <<: *b\n  y: 3\nd: *b\n"
    loaded = load_yaml(text, "f.yml")
    assert loaded.data["c"] == {"x": 1, "y": 3}
    loaded.data["d"]["x"] = 9
    assert loaded.data["base"]["x"] == 1  # a copy, not the same object
    assert loaded.lines[("c", "x")] == 3  # merged keys point at the '<<' line


def test_every_duplicate_key_is_reported():
    with pytest.raises(YamlInputError) as caught:
        load_yaml("a: 1\na: 2\nb:\n  c: 1\n  c: 2\n", "f.yml")
    assert caught.value.problems == [
        "f.yml:2: duplicate key 'a' (first given on line 1); keep one of them",
        "f.yml:5: duplicate key 'c' (first given on line 4); keep one of them",
    ]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("a: !!python/object/apply:os.system [echo hi]\n", "tag"),
        ("a: !custom x\n", "could not determine a constructor"),
        ("a: &x [1, *x]\n", "alias *x refers to a node that contains it"),
        ("a: *nowhere\n", "alias *nowhere has no anchor"),
        ("a: 1\n---\nb: 2\n", "a second YAML document"),
        ("? [a]\n: 1\n", "a mapping key must be a plain value"),
        ("a: [1\n", "invalid YAML"),
    ],
)
def test_what_is_refused(text, fragment):
    with pytest.raises(YamlInputError, match=None) as caught:
        load_yaml(text, "f.yml")
    assert fragment in str(caught.value)
    assert str(caught.value).startswith("f.yml:")


def test_depth_bound_and_its_variable(monkeypatch):
    deep = "a: " + "[" * 64 + "]" * 64 + "\n"  # 65 levels with the root mapping
    with pytest.raises(YamlInputError, match=r"f.yml:1: nested deeper than 64 levels"):
        load_yaml(deep, "f.yml")
    assert load_yaml("[" * 64 + "]" * 64, "f.yml").data is not None
    monkeypatch.setenv("AUTOML_MAX_YAML_DEPTH", "100")
    assert load_yaml(deep, "f.yml").data["a"] is not None


def test_alias_bound_counts_the_nodes_aliases_add(monkeypatch):
    monkeypatch.setenv("AUTOML_MAX_YAML_ALIAS_NODES", "20")
    text = "a: &a [1, 2, 3, 4]\nb: [*a, *a, *a, *a]\n"  # each alias adds 5 nodes
    assert len(load_yaml(text, "f.yml").data["b"]) == 4
    with pytest.raises(YamlInputError) as caught:
        load_yaml(text + "c: *a\n", "f.yml")
    assert str(caught.value).startswith("f.yml:3: YAML aliases expand to more than 20 nodes")
    assert "AUTOML_MAX_YAML_ALIAS_NODES" in str(caught.value)


def test_quote_cuts_long_values():
    assert quote("short") == "'short'"
    long = quote("x" * 10_000)
    assert len(long) < 250 and long.endswith("(10,000 characters)")
    nested = quote({"k": [list(range(1000))] * 1000})
    assert len(nested) <= 200 and "..." in nested
    assert shorten("abc" * 100, 10) == "abcabca..."
