"""Built-in scrubbers take whole tokens only and give the same text in any order."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shadow._rules import CompareRules

RELAXED = settings(deadline=None)
"""No deadline: timing varies on a shared machine; the strategies bound the sizes instead."""
NAMES = ("uuid", "timestamp", "csrf", "hex_id")
PLACEHOLDER = {"uuid": "<uuid>", "timestamp": "<timestamp>", "hex_id": "<hex>"}

_HEX = "0123456789abcdefABCDEF"
uuids = st.builds(lambda u, upper: str(u).upper() if upper else str(u), st.uuids(), st.booleans())
hex_ids = st.builds(
    lambda head, run, tail: head + run + tail,
    st.text(_HEX, max_size=8),
    st.sampled_from(["", "1700000000", "1712345678901", "2024"]),
    st.text(_HEX, max_size=24),
).filter(lambda s: len(s) >= 16 and any(c.isalpha() for c in s))
epochs = st.builds(
    lambda n, fraction: f"{n}{fraction}",
    st.integers(10**9, 2 * 10**9 - 1) | st.integers(10**12, 2 * 10**12 - 1),
    st.sampled_from(["", ".5", ".123456"]),
)
_ZONES = ["", "Z", "+01:00", "-0530", "+02"]
_FRACTIONS = ["", ".123", ",5", ".123456"]
iso_times = st.builds(
    lambda t, sep, seconds, fraction, zone: (
        t.strftime(f"%Y-%m-%d{sep}%H:%M") + (t.strftime(":%S") + fraction if seconds else "") + zone
    ),
    st.datetimes(datetime(1970, 1, 1), datetime(2100, 1, 1)),
    st.sampled_from(["T", " "]),
    st.booleans(),
    st.sampled_from(_FRACTIONS),
    st.sampled_from(_ZONES),
)
http_dates = st.datetimes(datetime(1970, 1, 1), datetime(2100, 1, 1)).map(
    lambda t: t.replace(tzinfo=UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
)
words = st.sampled_from(["id", "at", "order-17", "v2", "cafe", "2024", "1700", "user_1"])
tokens = (
    st.tuples(st.just("uuid"), uuids)
    | st.tuples(st.just("hex_id"), hex_ids)
    | st.tuples(st.just("timestamp"), epochs | iso_times | http_dates)
    | st.tuples(st.just("word"), words)
)
Piece = tuple[str, str, str]  # (wrapper: "" or "csrf", kind, token)
pieces = st.tuples(st.sampled_from(["", "", "csrf"]), *[tokens]).map(lambda p: (p[0], *p[1]))
separators = st.text(" \t;/=()\"'[]{}|<>&#!?", min_size=1, max_size=3)
mixes = st.lists(st.tuples(separators, pieces), max_size=8)

_CSRF_TAG = '<input type="hidden" name="csrf_token" value="{}">'


def _text(mix: list[tuple[str, Piece]], enabled: frozenset[str] | None = None) -> str:
    """The mix as text; with ``enabled``, as the scrubbers ``enabled`` should leave it."""
    out = []
    for separator, (wrapper, kind, token) in mix:
        if enabled is not None and kind in enabled:
            token = PLACEHOLDER[kind]
        if wrapper == "csrf":
            token = _CSRF_TAG.format("<csrf>" if enabled and "csrf" in enabled else token)
        out.append(separator + token)
    return "".join(out)


@RELAXED
@given(mix=mixes, order=st.permutations(NAMES))
def test_any_order_of_the_scrubbers_gives_the_same_text(
    mix: list[tuple[str, Piece]], order: list[str]
) -> None:
    """Listing the built-in scrubbers in any order scrubs a text the same way."""
    text = _text(mix)
    assert CompareRules(scrub=tuple(order)).scrub_text(text) == CompareRules(
        scrub=NAMES
    ).scrub_text(text)


@RELAXED
@given(mix=mixes, order=st.permutations(NAMES))
def test_each_token_is_scrubbed_by_its_own_scrubber(
    mix: list[tuple[str, Piece]], order: list[str]
) -> None:
    """With every built-in on, each token becomes its own placeholder and nothing else changes."""
    expected = _text(mix, frozenset(NAMES))
    assert CompareRules(scrub=tuple(order)).scrub_text(_text(mix)) == expected


@RELAXED
@given(mix=mixes, name=st.sampled_from(NAMES))
def test_a_scrubber_alone_leaves_other_tokens_whole(
    mix: list[tuple[str, Piece]], name: str
) -> None:
    """One scrubber takes only its own whole tokens: never a run inside another token."""
    expected = _text(mix, frozenset({name}))
    assert CompareRules(scrub=(name,)).scrub_text(_text(mix)) == expected


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("timestamp", "id deadbeef1700000000cafe01 at", "id deadbeef1700000000cafe01 at"),
        ("timestamp", "t=2024-01-02T03:04:05Zx", "t=2024-01-02T03:04:05Zx"),
        ("timestamp", "n=17000000001234", "n=17000000001234"),
        ("timestamp", "v1.1700000000", "v1.1700000000"),
        ("timestamp", "t=1700000000123;", "t=<timestamp>;"),
        ("uuid", "x123e4567-e89b-12d3-a456-426614174000", "x123e4567-e89b-12d3-a456-426614174000"),
        ("hex_id", "sha_0123456789abcdef01", "sha_0123456789abcdef01"),
    ],
    ids=[
        "epoch-in-hex",
        "iso-followed-by-letter",
        "fourteen-digits",
        "epoch-after-dot",
        "epoch-ms",
        "uuid-in-word",
        "hex-in-word",
    ],
)
def test_scrubbers_take_whole_tokens_only(name: str, text: str, expected: str) -> None:
    """A built-in scrubber never rewrites part of a longer token."""
    assert CompareRules(scrub=(name,)).scrub_text(text) == expected


def test_an_all_digit_epoch_is_a_timestamp_before_a_hex_id() -> None:
    """Sixteen digits starting with 1 (microseconds) are a timestamp in any order."""
    for order in (("hex_id", "timestamp"), ("timestamp", "hex_id")):
        assert CompareRules(scrub=order).scrub_text("1700000000123456") == "<timestamp>"
    assert CompareRules(scrub=("hex_id",)).scrub_text("1700000000123456") == "<hex>"


def test_custom_pairs_run_after_the_built_ins() -> None:
    """A custom pair sees the built-ins' placeholders, whatever its place in the list."""
    for scrub in (("uuid", ("<uuid>", "U")), (("<uuid>", "U"), "uuid")):
        rules = CompareRules(scrub=scrub)
        assert rules.scrub_text("a 123e4567-e89b-12d3-a456-426614174000") == "a U"
