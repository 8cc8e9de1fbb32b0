"""The noise model learns where legacy disagrees with itself and excuses those places."""

from __future__ import annotations

import json
from typing import Any, cast

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from shadow._compare import compare
from shadow._mirror import Mirror
from shadow._model import Answer, Comparison, Difference, LearnedNoise
from shadow._noise import NoiseModel, excused
from shadow._normalize import normalise_where
from shadow._rules import CompareRules
from shadow._runtime import ShadowRuntime

from ._json import documents, get, json_answer, kind, objects, paths, pointer, replaced

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
    assert learned == {("body/items/*/ts", "value"), ("header:expires", "header")}
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


def test_noise_is_matched_by_place_and_kind() -> None:
    """A learned place excuses its own kind of change there, nothing under, beside or else."""
    noise = NoiseModel()
    noise.learn("r", json_answer({"meta": {"a": 1}}), json_answer({"meta": {"a": 2}}), RULES)
    assert noise.learned("r") == {("body/meta/a", "value")}
    assert noise.is_noise("r", Difference("value", "body/meta/a", "1", "3"))
    assert not noise.is_noise("r", Difference("type", "body/meta/a", "1", '"1"'))
    assert not noise.is_noise("r", Difference("missing", "body/meta/a", "1", "<absent>"))
    assert not noise.is_noise("r", Difference("value", "body/meta/a/b", "1", "3"))
    assert not noise.is_noise("r", Difference("value", "body/meta", "1", "3"))


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


def _stats(took: object, friends: list[str]) -> Answer:
    return json_answer({"took_ms": took, "online_friends": friends, "user": "ann"})


def _learned_stats() -> NoiseModel:
    noise = NoiseModel()
    noise.learn("stats", _stats(12, ["bo", "cy"]), _stats(13, ["bo", "di"]), RULES)
    assert noise.learned("stats") == {
        ("body/took_ms", "value"),
        ("body/online_friends/*", "value"),
    }
    return noise


@pytest.mark.parametrize(
    ("candidate", "reported"),
    [
        (_stats("12", ["bo", "cy"]), [("type", "body/took_ms")]),
        (
            json_answer({"took_ms": 12, "user": "ann"}),
            [("missing", "body/online_friends")],
        ),
        (
            json_answer({"online_friends": ["bo", "cy"], "user": "ann"}),
            [("missing", "body/took_ms")],
        ),
        (_stats(12, ["bo"]), [("missing", "body/online_friends/1")]),
        (_stats(12, ["bo", "cy", "ed"]), [("extra", "body/online_friends/2")]),
        (_stats(None, ["bo", "cy"]), [("type", "body/took_ms")]),
    ],
    ids=["number-to-string", "dropped-array", "dropped-number", "shorter", "longer", "null"],
)
def test_only_same_type_value_changes_are_noise_at_a_learned_place(
    candidate: Answer, reported: list[tuple[str, str]]
) -> None:
    """A type change, a lost field or a changed array length at a learned place still counts."""
    noise = _learned_stats()
    control = _stats(12, ["bo", "cy"])
    result = compare(control, candidate, RULES, noise=noise, route="stats")
    assert [(d.kind, d.where) for d in result.differences] == reported
    assert not result.matched
    same_type = compare(control, _stats(99, ["zo", "cy"]), RULES, noise=noise, route="stats")
    assert same_type.matched
    assert [d.where for d in same_type.noise] == ["body/took_ms", "body/online_friends/0"]


def test_a_header_present_on_one_side_only_is_never_noise() -> None:
    """A header whose value varies is learned, but the candidate dropping it is reported."""
    noise = NoiseModel()
    noise.learn("r", _page("1", 3, "a"), _page("1", 3, "b"), RULES)
    assert noise.learned("r") == {("header:expires", "header")}
    noise.learn("r", _page("1", 3, "a"), json_answer(json.loads(_page("1", 3, "a").body)), RULES)
    assert noise.learned("r") == {("header:expires", "header")}
    without = json_answer(json.loads(_page("1", 3, "c").body))
    result = compare(_page("1", 3, "a"), without, RULES, noise=noise, route="r")
    assert [(d.kind, d.where, d.candidate) for d in result.differences] == [
        ("header", "header:expires", "<absent>")
    ]


def test_status_and_content_type_changes_are_never_learned() -> None:
    """Pairs with another media type teach nothing; a content-type change is never noise."""
    noise = NoiseModel()
    utf8 = Answer(200, (("Content-Type", "application/json; charset=utf-8"),), b'{"a":1}', 0)
    latin = Answer(200, (("Content-Type", "application/json; charset=latin-1"),), b'{"a":2}', 0)
    text = Answer(200, (("Content-Type", "text/plain"),), b'{"a":3}', 0)
    assert not noise.learn("r", utf8, text, RULES)
    assert noise.learn("r", utf8, latin, RULES) == {("body/a", "value")}
    result = compare(utf8, latin, RULES, noise=noise, route="r")
    assert [d.where for d in result.differences] == ["header:content-type"]
    assert [d.where for d in result.noise] == ["body/a"]
    moved = Answer(404, utf8.headers, b'{"a":5}', 0)
    assert [d.where for d in compare(utf8, moved, RULES, noise=noise, route="r").differences] == [
        "status"
    ]


def _tags(tags: list[str]) -> Answer:
    return json_answer({"tags": tags})


def test_a_shuffled_array_is_noise_only_as_an_order_change() -> None:
    """A set legacy shuffles excuses reordering; a lost, added or changed element counts."""
    noise = NoiseModel()
    learned = noise.learn("r", _tags(["a", "b", "c"]), _tags(["c", "a", "b"]), RULES)
    assert learned == {("body/tags", "order")}
    control = _tags(["a", "b", "c"])
    reordered = compare(control, _tags(["b", "c", "a"]), RULES, noise=noise, route="r")
    assert reordered.matched
    assert [(d.kind, d.where) for d in reordered.noise] == [("order", "body/tags")]
    for candidate, reported in [
        (["c", "a"], [("missing", "body/tags/1")]),
        (["c", "b", "a", "d"], [("extra", "body/tags/3")]),
        (["c", "x", "a"], [("value", "body/tags/1")]),
    ]:
        result = compare(control, _tags(candidate), RULES, noise=noise, route="r")
        assert [(d.kind, d.where) for d in result.differences] == reported, candidate


RELAXED = settings(deadline=None)
"""No deadline: timing varies on a shared machine; the strategies bound the sizes instead."""


def _shapes(result: Comparison) -> set[tuple[str, str]]:
    return {(d.kind, normalise_where(d.where)) for d in result.differences}


@RELAXED
@given(data=st.data(), document=documents, other=documents)
def test_a_type_change_is_reported_whatever_was_learned(
    data: st.DataObject, document: Any, other: Any
) -> None:
    """Whatever legacy varied in, retyping any node of the answer is a counted difference."""
    noise = NoiseModel()
    noise.learn("r", json_answer(document), json_answer(other), RULES)
    path = data.draw(st.sampled_from(paths(document)))
    new = data.draw(documents.filter(lambda v: kind(v) != kind(get(document, path))))
    candidate = json_answer(replaced(document, path, new))
    result = compare(json_answer(document), candidate, RULES, noise=noise, route="r")
    assert ("type", normalise_where(pointer(path))) in _shapes(result)


@RELAXED
@given(data=st.data(), document=objects, other=documents)
def test_a_dropped_key_is_reported_whatever_was_learned(
    data: st.DataObject, document: Any, other: Any
) -> None:
    """Whatever legacy varied in, dropping any key of the answer is a counted difference."""
    keyed = [p for p in paths(document) if p and isinstance(get(document, p[:-1]), dict)]
    assume(keyed)
    noise = NoiseModel()
    noise.learn("r", json_answer(document), json_answer(other), RULES)
    path = data.draw(st.sampled_from(keyed))
    mutated = json.loads(json.dumps(document))
    del get(mutated, path[:-1])[path[-1]]
    result = compare(json_answer(document), json_answer(mutated), RULES, noise=noise, route="r")
    assert ("missing", normalise_where(pointer(path))) in _shapes(result)


@RELAXED
@given(items=st.lists(documents, min_size=2, max_size=6), data=st.data())
def test_a_learned_shuffle_excuses_permutations_but_not_lost_elements(
    items: list[Any], data: st.DataObject
) -> None:
    """After legacy shuffled an array, any permutation matches and a lost element counts."""
    shuffled = data.draw(st.permutations(items))
    noise = NoiseModel()
    assume(noise.learn("r", json_answer({"a": items}), json_answer({"a": shuffled}), RULES))
    assert noise.learned("r") == {("body/a", "order")}
    control = json_answer({"a": items})
    again = json_answer({"a": data.draw(st.permutations(items))})
    assert compare(control, again, RULES, noise=noise, route="r").matched
    lost = data.draw(st.integers(0, len(items) - 1))
    fewer = json_answer({"a": [x for i, x in enumerate(items) if i != lost]})
    result = compare(control, fewer, RULES, noise=noise, route="r")
    assert [d.kind for d in result.differences] == ["missing"]


def test_loaded_places_excuse_their_kind_and_unknown_kinds_are_skipped() -> None:
    """Places read from the store are noise like learned ones; kinds never excused are not."""
    model = NoiseModel()
    rows = [
        LearnedNoise("/r", "body/items/*/ts", "value", 1.0),
        LearnedNoise("/r", "body/tags", "order", 1.0),
        LearnedNoise("/r", "status", "status", 1.0),
    ]
    assert model.load(rows) == 2
    assert model.load(rows) == 0
    assert model.is_noise("/r", Difference("value", "body/items/3/ts", "1", "2"))
    assert not model.is_noise("/r", Difference("type", "body/items/3/ts", "1", '"2"'))
    assert not model.is_noise("/r", Difference("status", "status", "200", "500"))
    assert model.shuffled("/r") is not None


@pytest.mark.parametrize(
    ("differences", "expected"),
    [
        pytest.param([Difference("value", "body/a/0/ts", "1", "2")], True, id="all-noise"),
        pytest.param(
            [Difference("value", "body/a/0/ts", "1", "2"), Difference("value", "body/n", "1", "2")],
            False,
            id="one-real",
        ),
        pytest.param([Difference("missing", "body/a/0/ts", "1", "∅")], False, id="other-kind"),
        pytest.param([], False, id="none"),
    ],
)
def test_excused_needs_every_difference_to_be_learned_noise(
    differences: list[Difference], expected: bool
) -> None:
    """A record is re-judged as matching only when all its differences are noise now."""
    places = frozenset({("body/a/*/ts", "value")})
    assert excused(differences, places) is expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("method", "idempotent", "rate", "asked_twice"),
    [
        ("GET", False, 1.0, True),
        ("HEAD", False, 1.0, True),
        ("POST", False, 1.0, False),
        ("PATCH", False, 1.0, False),
        ("POST", True, 1.0, True),
        ("DELETE", True, 1.0, True),
        ("POST", True, 0.0, False),
    ],
    ids=["get", "head", "post", "patch", "idempotent-post", "idempotent-delete", "rate-zero"],
)
def test_only_safe_or_declared_idempotent_requests_are_sent_twice(
    method: str, idempotent: bool, rate: float, asked_twice: bool
) -> None:
    """Legacy sees a request twice only if its method is safe or its route says idempotent."""
    mirror = Mirror(concurrency=1, queue_size=1, on_skip=lambda skip: None)
    runtime = ShadowRuntime(mirror, cast(Any, None), NoiseModel(), noise_rate=rate)
    assert runtime.wants_noise_sample(method, idempotent=idempotent) is asked_twice
