"""Route matching is first-match-wins over exact, prefix, pattern and regex matches."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proxy._routing import FixedStatus, Legacy, Match, Route, RouteTable, pattern_to_regex


def _table() -> RouteTable:
    return RouteTable(
        (
            Route("deny", Match.create("regex", r"/conf/"), FixedStatus(403)),
            Route("exact", Match.create("path", "/login", frozenset({"POST"})), Legacy("a")),
            Route("user", Match.create("pattern", "/users/{id:int}/{rest:path}"), Legacy("b")),
            Route("api", Match.create("prefix", "/api/", hosts=("*.example.com",)), Legacy("c")),
            Route("default", Match.create("prefix", "/"), Legacy("php")),
        )
    )


@pytest.mark.parametrize(
    ("method", "host", "path", "name", "params"),
    [
        ("GET", "h", "/app/conf/db.ini", "deny", {}),
        ("POST", "h", "/login", "exact", {}),
        ("GET", "h", "/login", "default", {}),
        ("GET", "h", "/users/7/files/a/b", "user", {"id": "7", "rest": "files/a/b"}),
        ("GET", "h", "/users/x/files", "default", {}),
        ("GET", "api.example.com", "/api/v1", "api", {}),
        ("GET", "example.org", "/api/v1", "default", {}),
    ],
    ids=["regex", "exact-method", "method-miss", "pattern", "pattern-miss", "host", "host-miss"],
)
def test_first_match_wins(
    method: str, host: str, path: str, name: str, params: dict[str, str]
) -> None:
    """Each request lands on the first route that matches all its conditions."""
    route, got = _table().match(method, host, path)
    assert (route.name, got) == (name, params)


def test_pattern_rejects_duplicates() -> None:
    """A pattern naming a parameter twice is refused."""
    with pytest.raises(ValueError, match="twice"):
        pattern_to_regex("/{a}/{a}")


@given(st.text(alphabet="abc/._-", max_size=30))
def test_default_route_always_matches(path: str) -> None:
    """With a catch-all default, every path finds a route."""
    route, _ = _table().match("GET", "h", "/" + path)
    assert route.name in {"deny", "exact", "user", "api", "default"}
