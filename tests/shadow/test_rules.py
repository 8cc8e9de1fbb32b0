"""Comparison rules validate themselves and answer the engine's questions."""

from __future__ import annotations

from typing import Any

import pytest

from shadow._exceptions import RulesError, ShadowError
from shadow._rules import DEFAULT_HEADERS, CompareRules


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        ({"headers": ("content type",)}, "headers[0]"),
        ({"ignore_headers": ("ok", "")}, "ignore_headers[1]"),
        ({"ignore": ("items/*",)}, "ignore[0]"),
        ({"ignore": ("/a", "/b**")}, "ignore[1]"),
        ({"unordered": ("/a~2",)}, "unordered[0]"),
        ({"scrub": ("uuid", "guid")}, "scrub[1]"),
        ({"scrub": (("(unclosed", "x"),)}, "scrub[0]"),
        ({"scrub": ((r"(a)", r"\2"),)}, "scrub[0]"),
        ({"scrub": (("a", "b", "c"),)}, "scrub[0]"),
        ({"tolerance": -1}, "tolerance"),
        ({"tolerance": True}, "tolerance"),
        ({"tolerance": {"/price": "0.1"}}, "tolerance['/price']"),
        ({"tolerance": {"price": 0.1}}, "tolerance['price']"),
        ({"max_body": -1}, "max_body"),
        ({"max_body": 1.5}, "max_body"),
        ({"ignore": "/a"}, "ignore"),
    ],
    ids=[
        "header-space",
        "empty-ignored-header",
        "relative-path",
        "partial-double-star",
        "bad-escape",
        "unknown-scrubber",
        "bad-regex",
        "bad-group-reference",
        "triple",
        "negative-tolerance",
        "bool-tolerance",
        "string-tolerance",
        "relative-tolerance-path",
        "negative-max-body",
        "float-max-body",
        "string-not-list",
    ],
)
def test_invalid_rules_name_their_key(settings: dict[str, Any], key: str) -> None:
    """Each invalid rule raises a RulesError (a ValueError) naming the offending key."""
    with pytest.raises(RulesError) as caught:
        CompareRules(**settings)
    assert caught.value.key == key
    assert str(caught.value).startswith(f"{key}: ")
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, ShadowError)


def test_lists_become_tuples() -> None:
    """Lists from a config file are accepted and stored as tuples."""
    rules = CompareRules(
        headers=["ETag"],  # type: ignore[arg-type]
        scrub=["uuid", ["a+", "a"]],  # type: ignore[arg-type]
        ignore=["/x"],  # type: ignore[arg-type]
    )
    assert rules.headers == ("ETag",)
    assert rules.ignore == ("/x",)
    assert rules.compared_headers == ("etag",)
    assert rules.scrub_text("aaa-123e4567-e89b-12d3-a456-426614174000") == "a-<uuid>"


def test_defaults() -> None:
    """By default the usual headers are compared, nothing ignored, no tolerance."""
    rules = CompareRules()
    assert rules.compared_headers == DEFAULT_HEADERS
    assert not rules.is_ignored("")
    assert rules.tolerance_at("/price") == 0.0
    assert not rules.scrubs


@pytest.mark.parametrize(
    ("pattern", "pointer", "matches"),
    [
        ("/items/*/ts", "/items/12/ts", True),
        ("/items/*/ts", "/items/12/ts/x", False),
        ("/items/*/ts", "/items/ts", False),
        ("/meta/**", "/meta", True),
        ("/meta/**", "/meta/a/b", True),
        ("/meta/**", "/metadata", False),
        ("/a/**/id", "/a/id", True),
        ("/a/**/id", "/a/x/y/id", True),
        ("/*_at", "/created_at", True),
        ("/a~1b", "/a~1b", True),
        ("/a.b", "/axb", False),
        ("", "", True),
        ("/**", "", True),
    ],
    ids=[
        "star",
        "star-not-deeper",
        "star-needs-segment",
        "subtree-root",
        "subtree-deep",
        "subtree-prefix-only",
        "middle-zero",
        "middle-many",
        "glob-in-segment",
        "escaped-slash",
        "literal-dot",
        "root",
        "everything",
    ],
)
def test_path_patterns(pattern: str, pointer: str, matches: bool) -> None:
    """``*`` matches within a segment, a ``**`` segment any number of segments."""
    assert CompareRules(ignore=(pattern,)).is_ignored(pointer) is matches


def test_tolerance_first_matching_pattern() -> None:
    """A per-path tolerance is the first matching pattern's, ``/**`` a fallback."""
    rules = CompareRules(tolerance={"/price": 0.5, "/**": 0.01})
    assert rules.tolerance_at("/price") == 0.5
    assert rules.tolerance_at("/qty") == 0.01
    assert CompareRules(tolerance=2).tolerance_at("/any") == 2.0
