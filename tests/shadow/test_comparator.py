"""A route's own comparator: loaded at config time, applied after the rules."""

from __future__ import annotations

import pytest

from proxy import ConfigError
from proxy._config import parse_config
from shadow._compare import compare
from shadow._exceptions import RulesError
from shadow._model import Answer
from shadow._rules import CompareRules

from ._json import json_answer

HERE = "tests.shadow.comparators"


def test_a_comparator_drops_differences_the_rules_cannot_equate() -> None:
    """Two spellings of one amount match; another amount still differs."""
    rules = CompareRules(comparator=f"{HERE}:same_amount")
    same = compare(json_answer({"p": "3.50"}), json_answer({"p": "3.5 EUR"}), rules, route="/r")
    other = compare(json_answer({"p": "3.50"}), json_answer({"p": "4 EUR"}), rules, route="/r")
    plain = compare(json_answer({"p": "3.50"}), json_answer({"p": "3.5 EUR"}), CompareRules())
    assert same.matched
    assert not plain.matched
    assert [(d.kind, d.where) for d in other.differences] == [("value", "body/p")]


def test_a_comparator_adds_a_check_of_its_own() -> None:
    """Answers the rules call equal mismatch when the comparator finds a difference."""
    rules = CompareRules(comparator=f"{HERE}:body_never_empty")
    empty = Answer(200, (), b"", 0.01)
    result = compare(empty, empty, rules)
    assert [(d.where, d.candidate) for d in result.differences] == [("body", "empty")]


def test_a_raising_comparator_is_an_error_difference_of_its_own() -> None:
    """Comparing never raises: a broken comparator is one visible error difference."""
    rules = CompareRules(comparator=f"{HERE}:broken")
    result = compare(json_answer({"a": 1}), json_answer({"a": 1}), rules, route="/r")
    assert not result.matched
    [difference] = result.differences
    assert (difference.kind, difference.where) == ("error", "comparator:ZeroDivisionError")


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        pytest.param("no_colon", "expected 'package.module:function'", id="shape"),
        pytest.param(3, "expected 'package.module:function'", id="not-a-string"),
        pytest.param("tests.shadow.nowhere:f", "cannot import tests.shadow.nowhere", id="module"),
        pytest.param(f"{HERE}:missing", "has no 'missing'", id="attribute"),
        pytest.param(f"{HERE}:two_arguments", "must take (control, candidate", id="arity"),
        pytest.param(f"{HERE}:asynchronous", "plain 'def' function", id="async"),
    ],
)
def test_a_bad_reference_is_a_rules_error_naming_the_key(reference: object, message: str) -> None:
    """The comparator is imported and checked when the rules are built."""
    with pytest.raises(RulesError) as info:
        CompareRules(comparator=reference)  # type: ignore[arg-type]
    assert info.value.key == "comparator"
    assert message in info.value.reason


ROUTE = """
[server]
listen = "127.0.0.1:0"

[backends.legacy]
type = "http"
url = "http://127.0.0.1:9/"

[[routes]]
name = "quote"
match = {{ path = "/quote.php" }}
mode = "shadow"
handler = "tests.proxy.sample_handlers:hello"
[routes.compare]
comparator = "{reference}"
"""


def test_the_config_names_file_and_key_of_a_bad_comparator() -> None:
    """A config whose comparator cannot be loaded fails at load with file and key path."""
    with pytest.raises(ConfigError) as info:
        parse_config(ROUTE.format(reference=f"{HERE}:missing"), "strangler.toml")
    assert "strangler.toml: routes[0].compare.comparator: module" in str(info.value)


def test_the_config_carries_a_good_comparator_to_the_route() -> None:
    """A loadable comparator reaches the route's rules, ready to call."""
    config = parse_config(ROUTE.format(reference=f"{HERE}:same_amount"), "strangler.toml")
    rules = config.routes.routes[0].mode.rules  # type: ignore[union-attr]
    assert rules.comparator == f"{HERE}:same_amount"
    assert rules.custom is not None
