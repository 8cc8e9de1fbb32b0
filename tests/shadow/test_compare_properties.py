"""Properties of the JSON diff engine, checked by hypothesis on arbitrary documents."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from shadow._compare import compare, iter_differences
from shadow._model import Answer, Difference, DifferenceKind
from shadow._rules import CompareRules
from shadow._signature import signature

from ._json import documents, get, json_answer, kind, objects, paths, pointer, replaced

RELAXED = settings(deadline=None)
"""No deadline: timing varies on a shared machine; the strategies bound the sizes instead."""
PLAIN = CompareRules()
EVERYTHING = CompareRules(unordered=("/**",), scrub=("uuid", "timestamp", "hex_id"))


_SWAPPED: dict[DifferenceKind, DifferenceKind] = {"missing": "extra", "extra": "missing"}
_SAME_KIND = {
    "boolean": st.booleans(),
    "number": st.integers() | st.floats(allow_nan=False, allow_infinity=False),
    "str": st.text(max_size=10),
}


def _mirror(difference: Difference) -> Difference:
    swapped = _SWAPPED.get(difference.kind, difference.kind)
    return Difference(swapped, difference.where, difference.candidate, difference.control)


@pytest.mark.parametrize("rules", [PLAIN, EVERYTHING], ids=["plain", "unordered-scrubbed"])
@RELAXED
@given(document=documents)
def test_same_document_matches(rules: CompareRules, document: Any) -> None:
    """A document compared with another spelling of itself always matches."""
    result = compare(json_answer(document), json_answer(document, pretty=True), rules)
    assert result.matched
    assert result.differences == ()
    assert result.signature == ""


@RELAXED
@given(a=documents, b=documents)
def test_differences_mirror(a: Any, b: Any) -> None:
    """Swapping the sides swaps missing and extra and the rendered values, nothing else."""
    forward = compare(json_answer(a), json_answer(b), PLAIN).differences
    backward = compare(json_answer(b), json_answer(a), PLAIN).differences
    key = lambda d: (d.where, d.kind)  # noqa: E731
    assert sorted(map(_mirror, forward), key=key) == sorted(backward, key=key)


@RELAXED
@given(data=st.data(), document=documents)
def test_changed_leaf_is_one_value_difference(data: st.DataObject, document: Any) -> None:
    """Changing one leaf to another value of its type gives one value difference there."""
    leaf_paths = [p for p in paths(document) if kind(get(document, p)) in _SAME_KIND]
    assume(leaf_paths)
    path = data.draw(st.sampled_from(leaf_paths))
    old = get(document, path)
    new = data.draw(_SAME_KIND[kind(old)].filter(lambda v: v != old))
    result = compare(json_answer(document), json_answer(replaced(document, path, new)), PLAIN)
    assert [(d.kind, d.where) for d in result.differences] == [("value", pointer(path))]


@RELAXED
@given(data=st.data(), document=documents)
def test_changed_type_is_one_type_difference(data: st.DataObject, document: Any) -> None:
    """Replacing any node by a value of another JSON type gives one type difference there."""
    path = data.draw(st.sampled_from(paths(document)))
    old = get(document, path)
    new = data.draw(documents.filter(lambda v: kind(v) != kind(old)))
    result = compare(json_answer(document), json_answer(replaced(document, path, new)), PLAIN)
    assert [(d.kind, d.where) for d in result.differences] == [("type", pointer(path))]


@RELAXED
@given(data=st.data(), document=objects)
def test_dropped_key_is_one_missing_difference(data: st.DataObject, document: Any) -> None:
    """Dropping one key of an object gives one missing difference at that key."""
    keyed = [p for p in paths(document) if p and isinstance(get(document, p[:-1]), dict)]
    assume(keyed)
    path = data.draw(st.sampled_from(keyed))
    mutated = json.loads(json.dumps(document))
    del get(mutated, path[:-1])[path[-1]]
    result = compare(json_answer(document), json_answer(mutated), PLAIN)
    assert [(d.kind, d.where) for d in result.differences] == [("missing", pointer(path))]
    assert result.differences[0].candidate == "<absent>"


@RELAXED
@given(data=st.data(), document=objects, value=documents)
def test_added_key_is_one_extra_difference(data: st.DataObject, document: Any, value: Any) -> None:
    """Adding one key to an object gives one extra difference at that key."""
    holders = [p for p in paths(document) if isinstance(get(document, p), dict)]
    holder = data.draw(st.sampled_from(holders))
    key = data.draw(st.text(max_size=6).filter(lambda k: k not in get(document, holder)))
    mutated = json.loads(json.dumps(document))
    get(mutated, holder)[key] = value
    result = compare(json_answer(document), json_answer(mutated), PLAIN)
    assert [(d.kind, d.where) for d in result.differences] == [("extra", pointer((*holder, key)))]


@RELAXED
@given(items=st.lists(documents, max_size=8), data=st.data())
def test_unordered_arrays_ignore_permutations(items: list[Any], data: st.DataObject) -> None:
    """An array named unordered matches any permutation of itself."""
    shuffled = data.draw(st.permutations(items))
    rules = CompareRules(unordered=("/items",))
    result = compare(json_answer({"items": items}), json_answer({"items": shuffled}), rules)
    assert result.matched


@RELAXED
@given(items=st.lists(st.integers(0, 5), min_size=1, max_size=8), extra=st.integers(6, 9))
def test_unordered_arrays_count_duplicates(items: list[int], extra: int) -> None:
    """Unordered arrays are multisets: one more copy of an element is one extra difference."""
    rules = CompareRules(unordered=("/items",))
    result = compare(
        json_answer({"items": items}), json_answer({"items": [*items, items[0]]}), rules
    )
    assert [(d.kind, d.where) for d in result.differences] == [
        ("extra", f"body/items/{len(items)}")
    ]
    changed = compare(
        json_answer({"items": items}), json_answer({"items": [*items[1:], extra]}), rules
    )
    assert [d.kind for d in changed.differences] == ["value"]


@RELAXED
@given(
    price=st.floats(-1e6, 1e6),
    small=st.floats(-0.4, 0.4),
    large=st.floats(0.6, 100) | st.floats(-100, -0.6),
)
def test_tolerance_ignores_small_deltas(price: float, small: float, large: float) -> None:
    """Numbers within the path's tolerance match; beyond it, and on other paths, they differ."""
    rules = CompareRules(tolerance={"/items/*/price": 0.5})
    control = json_answer({"items": [{"price": price, "qty": price}]})
    near = json_answer({"items": [{"price": price + small, "qty": price}]})
    far = json_answer({"items": [{"price": price + large, "qty": price + large}]})
    assert compare(control, near, rules).matched
    assert [d.where for d in compare(control, far, rules).differences] == [
        "body/items/0/price",
        "body/items/0/qty",
    ]


@RELAXED
@given(first=st.lists(documents, max_size=4), meta_a=documents, meta_b=documents, data=st.data())
def test_ignore_wildcards(first: list[Any], meta_a: Any, meta_b: Any, data: st.DataObject) -> None:
    """Ignored paths (``*`` one segment, ``**`` a subtree) never differ, whatever they hold."""
    second = data.draw(st.lists(documents, min_size=len(first), max_size=len(first)))
    rules = CompareRules(ignore=("/items/*/ts", "/meta/**"))
    control = {"items": [{"id": i, "ts": ts} for i, ts in enumerate(first)], "meta": meta_a}
    candidate = {"items": [{"id": i, "ts": ts} for i, ts in enumerate(second)]}
    if data.draw(st.booleans()):
        candidate["meta"] = meta_b
    assert compare(json_answer(control), json_answer(candidate), rules).matched


@RELAXED
@given(
    rows=st.lists(st.tuples(st.integers(0, 10_000), st.integers(), st.integers()), min_size=1),
    route=st.text(max_size=10),
)
def test_signature_ignores_indices_and_values(rows: list[tuple[int, int, int]], route: str) -> None:
    """Differences that only move index or value share the signature of one of them."""
    found = [Difference("value", f"body/items/{i}/price", str(a), str(b)) for i, a, b in rows]
    one = signature(route, [Difference("value", "body/items/0/price", "1", "2")])
    assert signature(route, found) == one
    assert len(one) == 12
    assert signature(route, [*found, Difference("missing", "body/items/0/price", "1", "")]) != one
    assert signature(route + "x", found) != one


@RELAXED
@given(items=st.lists(documents, max_size=8), data=st.data())
def test_permuted_arrays_differ_by_order_only(items: list[Any], data: st.DataObject) -> None:
    """A permutation of an array is one order difference there, or a match if it reads the same."""
    shuffled = data.draw(st.permutations(items))
    result = compare(json_answer({"items": items}), json_answer({"items": shuffled}), PLAIN)
    assert [(d.kind, d.where) for d in result.differences] in ([], [("order", "body/items")])
    if json.dumps(items) == json.dumps(shuffled):
        assert result.matched


_HEADER_NAMES = st.sampled_from(["Content-Type", "content-type", "Location", "X-Other", "Vary"])
_HEADERS = st.lists(
    st.tuples(_HEADER_NAMES, st.sampled_from(["a", "A", "text/html", "a, b", ""])), max_size=4
).map(tuple)
_ANSWERS = st.builds(
    Answer,
    status=st.sampled_from([200, 404]),
    headers=_HEADERS,
    body=st.sampled_from([b"", b"x", b'{"a":1}', b'{"a": 1}']),
    seconds=st.just(0.01),
    error=st.none() | st.sampled_from(["KeyError: 'a'", "ValueError: b"]),
)


@pytest.mark.parametrize("rules", [PLAIN, EVERYTHING], ids=["plain", "unordered-scrubbed"])
@RELAXED
@given(control=_ANSWERS, data=st.data())
def test_answers_equal_as_sent_take_no_walk_and_give_what_the_walk_gives(
    rules: CompareRules, control: Answer, data: st.DataObject
) -> None:
    """compare's shortcut for identical answers agrees with the walk of every difference."""
    candidate = data.draw(st.just(control) | _ANSWERS)
    walked = list(iter_differences(control, candidate, rules))
    result = compare(control, candidate, rules)
    assert result.matched == (not walked)
    assert result.differences == tuple(walked)
    assert result.signature == signature("", walked)
