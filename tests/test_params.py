"""Declared parameters: parsing, checks, defaults and labels."""

from __future__ import annotations

import pytest

from bfcbench.errors import ConfigError
from bfcbench.params import Param, label, parse_assignments, resolve

GAP = Param("gap", float, 0.3, "gap", low=0, high=1, low_open=True, high_open=True)
SKIP = Param("skip", str, "dense", "skip", choices=("chain", "dense", "input"))
DEPTH = Param("depth", int, 3, "depth", low=1)
RIDGE = Param("ridge", float, "auto", "ridge", low=0, auto=True)
FLAG = Param("center", bool, True, "centre")
DECLARED = (GAP, SKIP, DEPTH, RIDGE, FLAG)


def test_strings_are_parsed_to_declared_types():
    values = resolve(
        DECLARED, {"gap": "0.5", "depth": "4", "ridge": "1e-3", "center": "no"}, "t"
    )
    assert values == {
        "gap": 0.5,
        "skip": "dense",
        "depth": 4,
        "ridge": 1e-3,
        "center": False,
    }


def test_auto_is_accepted_only_where_declared():
    assert resolve(DECLARED, {"ridge": "auto"}, "t")["ridge"] == "auto"
    with pytest.raises(ConfigError, match="'depth'"):
        resolve(DECLARED, {"depth": "auto"}, "t")


@pytest.mark.parametrize(
    ("key", "text", "allowed"),
    [
        ("gap", "1", r"a number in \(0, 1\)"),
        ("gap", "0", r"a number in \(0, 1\)"),
        ("gap", "nan", r"a number in \(0, 1\)"),
        ("gap", "abc", r"a number in \(0, 1\)"),
        ("depth", "0", "an integer >= 1"),
        ("depth", "2.5", "an integer >= 1"),
        ("skip", "sideways", "one of 'chain', 'dense', 'input'"),
        ("center", "maybe", "a boolean"),
    ],
)
def test_bad_values_name_parameter_value_and_allowed(key, text, allowed):
    with pytest.raises(ConfigError, match=allowed) as caught:
        resolve(DECLARED, {key: text}, "task 'x'")
    message = str(caught.value)
    assert f"parameter {key!r}" in message
    assert repr(text) in message
    assert message.endswith(".")
    assert "\n" not in message


def test_unknown_key_suggests_the_closest():
    with pytest.raises(ConfigError, match="Did you mean 'depth'"):
        resolve(DECLARED, {"dept": "3"}, "task 'x'")


def test_misspelt_choice_suggests_the_closest():
    with pytest.raises(ConfigError, match="Did you mean 'dense'"):
        resolve(DECLARED, {"skip": "dence"}, "task 'x'")


@pytest.mark.parametrize("item", ["gap", "=3", "gap=", " = "])
def test_malformed_assignments_are_refused(item):
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_assignments([item], "--task-param")


def test_label_shows_only_changed_values():
    values = resolve(DECLARED, {"depth": 5, "gap": 0.3}, "t")
    assert label("hierarchical", values, DECLARED) == "hierarchical[depth=5]"
    assert label("hierarchical", resolve(DECLARED, {}, "t"), DECLARED) == "hierarchical"
