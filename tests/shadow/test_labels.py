"""Signature labels: one distinct name per cause, however alike the causes begin."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from shadow._model import Difference, DifferenceKind
from shadow._signature import describe, labels, signature

NAME = Difference("value", "body/name", '"a"', '"b"')
CAUSES = [
    [NAME, Difference("missing", "body/email", '"x@y"', "<absent>")],
    [NAME, Difference("type", "body/age", "41", '"41"')],
    [NAME, Difference("value", "body/nick", '"ob"', '"obrien"')],
]


def _labels(causes: list[tuple[str, list[Difference]]]) -> dict[str, str]:
    return labels((signature(route, diffs), route, diffs) for route, diffs in causes)


def test_causes_sharing_their_first_place_get_distinct_labels() -> None:
    """Three causes that all begin with ``value body/name`` are named by all their places."""
    named = _labels([("user", diffs) for diffs in CAUSES])
    assert sorted(named.values()) == [
        "user · value body/name, missing body/email",
        "user · value body/name, type body/age",
        "user · value body/name, value body/nick",
    ]


def test_labels_group_indices_like_the_signature() -> None:
    """A label names the normalised place, so it reads the same for every request."""
    found = [Difference("value", "body/items/3/price", "1", "2")]
    assert describe("orders", found) == "orders · value body/items/*/price"


def test_labels_cut_alike_are_told_apart_by_signature_id() -> None:
    """Causes that differ only beyond the places shown get the shortest distinct id."""
    head = [Difference("value", f"body/f{i}", "1", "2") for i in range(3)]
    one = [*head, Difference("value", "body/x", "1", "2")]
    two = [*head, Difference("value", "body/y", "1", "2")]
    named = _labels([("r", one), ("r", two)])
    first, second = named[signature("r", one)], named[signature("r", two)]
    assert first != second
    assert first.startswith("r · value body/f0, value body/f1, value body/f2 +1 more · #")
    assert first.rsplit("#", 1)[1] == signature("r", one)[: len(first.rsplit("#", 1)[1])]


KINDS: list[DifferenceKind] = ["value", "missing", "extra", "type", "order", "header"]
DIFFERENCES = st.builds(
    Difference,
    st.sampled_from(KINDS),
    st.sampled_from(["body/name", "body/age", "body/a/1", "body/a/2", "header:etag", "status"]),
    st.just("1"),
    st.just("2"),
)


@settings(deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["r", "s"]), st.lists(DIFFERENCES, min_size=1))))
def test_distinct_signatures_always_get_distinct_labels(
    causes: list[tuple[str, list[Difference]]],
) -> None:
    """Whatever the mix of routes, kinds and places, no two signatures share a label."""
    named = _labels(causes)
    assert set(named) == {signature(route, diffs) for route, diffs in causes}
    assert len(set(named.values())) == len(named)
