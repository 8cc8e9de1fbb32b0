"""Canary bucketing: share, stickiness and monotonic growth, as properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proxy._canary import bucket, forced_side, goes_to_new, sticky_key

KEYS = [f"user-{i}" for i in range(20_000)]


@pytest.mark.parametrize("percent", [1, 5, 10, 25, 50, 90], ids=lambda p: f"{p}pct")
def test_share_matches_percentage(percent: float) -> None:
    """Over many keys the share on the new side is the percentage within 1 point."""
    share = sum(goes_to_new(percent, "route", k) for k in KEYS) / len(KEYS) * 100
    assert abs(share - percent) < 1.0


@given(st.text(max_size=40), st.floats(0, 100))
def test_same_key_same_side(key: str, percent: float) -> None:
    """A key always lands on the same side for the same route and percentage."""
    assert goes_to_new(percent, "r", key) == goes_to_new(percent, "r", key)


@given(st.text(max_size=40), st.floats(0, 100), st.floats(0, 100))
def test_raising_percentage_keeps_earlier_keys(key: str, low: float, high: float) -> None:
    """A key on the new side at a lower percentage stays there at any higher one."""
    low, high = min(low, high), max(low, high)
    if goes_to_new(low, "r", key):
        assert goes_to_new(high, "r", key)


def test_extremes() -> None:
    """0% sends nobody and 100% sends everybody."""
    assert not any(goes_to_new(0, "r", k) for k in KEYS[:1000])
    assert all(goes_to_new(100, "r", k) for k in KEYS[:1000])


def test_routes_are_independent() -> None:
    """Different routes bucket the same key independently."""
    same = sum(bucket("a", k) == bucket("b", k) for k in KEYS[:1000])
    assert same < 10


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("client", "10.0.0.1"),
        ("header:X-User", "alice"),
        ("cookie:uid", "42"),
        ("query:u", "bob"),
        ("cookie:missing", "10.0.0.1"),
    ],
    ids=["client", "header", "cookie", "query", "fallback"],
)
def test_sticky_key(spec: str, expected: str) -> None:
    """Each key kind reads its value, and a missing one falls back to the client."""
    headers = [(b"x-user", b"alice"), (b"cookie", b"a=1; uid=42")]
    assert sticky_key(spec, headers, b"u=bob&x=1", "10.0.0.1") == expected


CUSTOM = b"qa-7f3e"


@pytest.mark.parametrize(
    ("headers", "value", "expected"),
    [
        ([(b"x-canary", b"always")], b"", (True, "header")),
        ([(b"x-canary", b"never")], b"", (False, "header")),
        ([(b"x-canary", b"yes")], b"", None),
        ([(b"x-canary", b"Always")], b"", None),
        ([(b"x-canary", CUSTOM)], CUSTOM, (True, "header")),
        ([(b"x-canary", b"always")], CUSTOM, None),
        ([(b"x-canary", b"never")], CUSTOM, None),
        ([(b"cookie", b"a=1; canary=always")], b"", (True, "cookie")),
        ([(b"cookie", b"canary=never")], b"", (False, "cookie")),
        ([(b"cookie", b"canary=maybe")], b"", None),
        ([(b"x-canary", b"never"), (b"cookie", b"canary=always")], b"", (False, "header")),
        ([(b"x-canary", b"other"), (b"cookie", b"canary=always")], b"", (True, "cookie")),
        ([(b"x-canary", b"never"), (b"cookie", b"canary=always")], CUSTOM, (True, "cookie")),
        ([(b"x-user", b"always")], b"", None),
    ],
    ids=[
        "header-always",
        "header-never",
        "header-other-value",
        "header-case-matters",
        "custom-value",
        "custom-value-set-always-ignored",
        "custom-value-set-never-ignored",
        "cookie-always",
        "cookie-never",
        "cookie-other-value",
        "header-beats-cookie",
        "ignored-header-then-cookie",
        "ignored-never-then-cookie",
        "neither",
    ],
)
def test_forced_side(
    headers: list[tuple[bytes, bytes]], value: bytes, expected: tuple[bool, str] | None
) -> None:
    """Header, then cookie, pin a side as ingress-nginx's canary-by-header/-cookie do."""
    assert forced_side(b"x-canary", value, "canary", headers) == expected


def test_forcing_only_what_is_configured() -> None:
    """A route without a force header or cookie ignores both."""
    headers = [(b"x-canary", b"always"), (b"cookie", b"canary=always")]
    assert forced_side(b"", b"", "", headers) is None
    assert forced_side(b"", b"", "canary", headers) == (True, "cookie")
    assert forced_side(b"x-canary", b"", "", [(b"cookie", b"canary=never")]) is None
