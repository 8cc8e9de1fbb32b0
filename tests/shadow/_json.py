"""Hypothesis strategies for JSON documents and helpers to build answers around them."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

from shadow._model import Answer

JSON_HEADERS = (("content-type", "application/json"),)

leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10)
)
documents = st.recursive(
    leaves,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=25,
)
objects = st.dictionaries(st.text(max_size=6), documents, max_size=5)


def json_answer(value: Any, *, pretty: bool = False) -> Answer:
    """A 200 JSON answer (``pretty``: another valid spelling of the same document)."""
    if pretty:
        body = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=True)
    else:
        body = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return Answer(200, JSON_HEADERS, body.encode("utf-8"), 0.01)


def pointer(path: tuple[str | int, ...]) -> str:
    """``where`` of a body path: ``body`` plus a JSON pointer."""
    tokens = (str(t).replace("~", "~0").replace("/", "~1") for t in path)
    return "body" + "".join("/" + t for t in tokens)


def paths(value: Any, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    """Every path of a document, the root included, parents before children."""
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += paths(item, (*prefix, i))
    return found


def get(value: Any, path: tuple[str | int, ...]) -> Any:
    """The node of ``value`` at ``path``."""
    for token in path:
        value = value[token]
    return value


def replaced(value: Any, path: tuple[str | int, ...], new: Any) -> Any:
    """A copy of ``value`` with the node at ``path`` replaced by ``new``."""
    if not path:
        return new
    copy = json.loads(json.dumps(value))
    get(copy, path[:-1])[path[-1]] = new
    return copy


def kind(value: Any) -> str:
    """The JSON type of a value, telling booleans from numbers."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__
