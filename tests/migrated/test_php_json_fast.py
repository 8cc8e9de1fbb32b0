"""``json_encode``'s fast path (json's C encoder) against its exact walk.

The exact walk is proved against real PHP in ``test_php.py``; here every
flag combination the fast path takes must give the exact walk's answer, the
same text or the same refusal, for generated values that mix what it takes
with what it must hand back (floats out of ``repr``'s range, surrogates,
line terminators, slashes, non-string keys, ``PhpArray``, tuples, depth).
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from migrated import _php_json, php

OPTIONAL = (
    php.JSON_UNESCAPED_SLASHES,
    php.JSON_UNESCAPED_LINE_TERMINATORS,
    php.JSON_PRESERVE_ZERO_FRACTION,
)
FAST_FLAGS = [
    php.JSON_UNESCAPED_UNICODE | sum(chosen)
    for n in range(len(OPTIONAL) + 1)
    for chosen in itertools.combinations(OPTIONAL, n)
]

strings = st.text(max_size=6) | st.sampled_from(
    ["/", "a/b", "\u2028", "x\u2029", "é😀", '\x7f\x00\x1f"\\', chr(0xD800), "a" + chr(0xDFFF)]
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.sampled_from([0.0, -0.0, 1e-4, 9.9e-5, 1e16, 1e15, 1.0, 100000.0, math.inf])
    | strings
)
keys = strings | st.integers(min_value=-3, max_value=3) | st.booleans()
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.lists(inner, max_size=3).map(tuple)
        | st.dictionaries(strings, inner, max_size=4)
        | st.dictionaries(keys, inner, max_size=3)
        | st.dictionaries(st.sampled_from(["0", "1", "a"]), inner, max_size=3).map(php.PhpArray)
    ),
    max_leaves=12,
)


def exact(value: Any, flags: int, depth: int) -> str:
    """The exact walk's answer, or its refusal's code."""
    try:
        return _php_json.exact_json(value, flags, depth)
    except php.JsonException as exc:
        return f"refused {exc.code}"


def encoded(value: Any, flags: int, depth: int) -> str:
    """``json_encode``'s answer, or its refusal's code."""
    try:
        return php.json_encode(value, flags, depth)
    except php.JsonException as exc:
        return f"refused {exc.code}"


@pytest.mark.parametrize("flags", FAST_FLAGS, ids=[f"flags={f}" for f in FAST_FLAGS])
@given(value=values, depth=st.sampled_from([1, 2, 3, 512]))
def test_fast_path_answers_as_the_exact_walk(flags: int, value: Any, depth: int) -> None:
    """For every flag combination the fast path takes, json_encode equals the exact walk."""
    assert encoded(value, flags, depth) == exact(value, flags, depth)


@pytest.mark.parametrize("flags", FAST_FLAGS, ids=[f"flags={f}" for f in FAST_FLAGS])
def test_fast_path_takes_the_common_answer(flags: int) -> None:
    """An object of strings, integers, booleans and nulls is written by json's encoder."""
    value = {"ok": True, "errors": [{"field": "a/b", "n": 1, "x": None}], "s": "é\u2028"}
    fast = _php_json.plain_json(value, flags, 512)
    assert fast is not None
    assert fast == _php_json.exact_json(value, flags, 512)
