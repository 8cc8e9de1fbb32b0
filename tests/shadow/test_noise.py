"""The noise model learns where legacy disagrees with itself and excuses those places."""

from __future__ import annotations

from shadow._compare import compare
from shadow._model import Answer
from shadow._noise import NoiseModel
from shadow._rules import CompareRules

from ._json import json_answer

RULES = CompareRules()


def _with_expires(answer: Answer, expires: str) -> Answer:
    return Answer(answer.status, (*answer.headers, ("Expires", expires)), answer.body, 0.01)


def _page(ts: str, total: int, expires: str) -> Answer:
    body = {"items": [{"id": 1, "ts": ts}, {"id": 2, "ts": ts}], "total": total}
    return _with_expires(json_answer(body), expires)


def test_learned_noise_makes_a_comparison_match() -> None:
    """Differences only where legacy disagreed with itself are listed as noise and match."""
    noise = NoiseModel()
    learned = noise.learn(
        "orders",
        _page("10:00", 3, "Mon, 01 Jan 2024 00:00:00 GMT"),
        _page("10:01", 3, "Mon, 01 Jan 2024 00:00:01 GMT"),
        RULES,
    )
    assert learned == {"body/items/*/ts", "header:expires"}
    assert noise.learned("orders") == learned
    control = _page("10:02", 3, "a")
    result = compare(control, _page("10:03", 3, "b"), RULES, noise=noise, route="orders")
    assert result.matched
    assert result.signature == ""
    assert [d.where for d in result.noise] == [
        "header:expires",
        "body/items/0/ts",
        "body/items/1/ts",
    ]


def test_noise_does_not_hide_other_differences() -> None:
    """A difference outside the learned places still counts, and only on its route."""
    noise = NoiseModel()
    noise.learn("orders", _page("1", 3, "x"), _page("2", 3, "x"), RULES)
    result = compare(_page("1", 3, "x"), _page("2", 4, "x"), RULES, noise=noise, route="orders")
    assert [d.where for d in result.differences] == ["body/total"]
    assert [d.where for d in result.noise] == ["body/items/0/ts", "body/items/1/ts"]
    elsewhere = compare(_page("1", 3, "x"), _page("2", 3, "x"), RULES, noise=noise, route="other")
    assert not elsewhere.matched


def test_noise_covers_the_subtree() -> None:
    """A place learned as noise also excuses every place under it."""
    noise = NoiseModel()
    noise.learn("r", json_answer({"meta": {"a": 1}}), json_answer({"meta": [1]}), RULES)
    assert noise.learned("r") == {"body/meta"}
    assert noise.is_noise("r", "body/meta/a/0")
    assert not noise.is_noise("r", "body/metadata")
    assert not noise.is_noise("r", "body")


def test_status_whole_body_and_errors_are_never_learned() -> None:
    """Status, whole-body text differences, differing statuses and errors teach nothing."""
    noise = NoiseModel()
    text = ("Content-Type", "text/plain")
    assert not noise.learn("r", Answer(200, (text,), b"a", 0), Answer(200, (text,), b"b", 0), RULES)
    flaky = Answer(503, (), b"", 0)
    assert not noise.learn("r", json_answer({"a": 1}), flaky, RULES)
    failed = Answer(0, (), b"", 0, error="timeout")
    assert not noise.learn("r", json_answer({"a": 1}), failed, RULES)
    assert noise.learned("r") == frozenset()


def test_learning_is_bounded_per_route() -> None:
    """A route keeps at most ``max_paths`` learned places."""
    noise = NoiseModel(max_paths=3)
    first = json_answer({f"k{i}": i for i in range(10)})
    second = json_answer({f"k{i}": -i - 1 for i in range(10)})
    assert len(noise.learn("r", first, second, RULES)) == 3
    assert len(noise.learned("r")) == 3
    assert noise.learn("r", first, second, RULES) == frozenset()


def test_ignored_paths_are_not_learned() -> None:
    """The route's ignore rules apply while learning."""
    noise = NoiseModel()
    rules = CompareRules(ignore=("/ts",))
    assert not noise.learn("r", json_answer({"ts": 1}), json_answer({"ts": 2}), rules)
