"""``migrated.php`` against real PHP: the same documents, the same answers, byte for byte.

Each hypothesis example is a batch of cases (a document, ``assoc``, ``depth``,
decode and encode flags) sent to ONE ``php`` process, which answers a line per
case: the ``json_last_error()`` of ``json_decode``, or of ``json_encode`` on
what it decoded, or the encoded bytes.  Python computes the same line with
``migrated.php``; the lines must be equal.  Documents are random JSON values
written by ``json.dumps`` in random layouts, then often damaged with
fragments PHP treats specially (big integers, ``NaN``, lone surrogate
escapes, NUL property names, control characters, bad UTF-8, deep nesting).
"""

from __future__ import annotations

import base64
import json
import math
import subprocess
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from migrated import php
from ops.services import find_binary
from tests.conftest import service_unavailable

PHP_SCRIPT = r"""
while (($line = fgets(STDIN)) !== false) {
    [$doc, $assoc, $depth, $dflags, $eflags] = explode(' ', trim($line));
    $assoc = $assoc === 'n' ? null : $assoc === '1';
    $value = json_decode(base64_decode($doc), $assoc, (int) $depth, (int) $dflags);
    if (json_last_error() !== JSON_ERROR_NONE) {
        echo 'D', json_last_error(), "\n";
        continue;
    }
    $out = json_encode($value, (int) $eflags);
    echo $out === false ? 'E' . json_last_error() : 'O' . base64_encode($out), "\n";
}
"""
Case = tuple[bytes, bool | None, int, int, int]
ENCODE_FLAGS = [
    php.JSON_HEX_TAG,
    php.JSON_HEX_AMP,
    php.JSON_HEX_APOS,
    php.JSON_HEX_QUOT,
    php.JSON_FORCE_OBJECT,
    php.JSON_UNESCAPED_SLASHES,
    php.JSON_PRETTY_PRINT,
    php.JSON_UNESCAPED_UNICODE,
    php.JSON_PRESERVE_ZERO_FRACTION,
    php.JSON_UNESCAPED_LINE_TERMINATORS,
]
FRAGMENTS = [
    b"NaN",
    b"-Infinity",
    b"1e400",
    b"-1e-400",
    b"-0",
    b"-0.0",
    b"9223372036854775807",
    b"9223372036854775808",
    b"-9223372036854775808",
    b"-9223372036854775809",
    b"123456789012345678901234567890",
    b'"\\ud800"',
    b'"\\udc00\\ud800"',
    b'"\\ud83d\\ude00"',
    b'{"\\u0000a":1}',
    b'{"":1,"a\\u0000":2}',
    b'{"0":"a","1":"b"}',
    b'{"1":"a","0":"b"}',
    b'{"0":1,"0":2}',
    b"{}",
    b"[]",
    b"[[[[[[[[[[]]]]]]]]]]",
    b'{"a":{"b":{"c":{"d":[[{}]]}}}}',
    b'"\x01"',
    b'"\x7f"',
    b'"\t"',
    b"\xff",
    b'"\xc3\x28"',
    b'"\xed\xa0\x80"',
    b"\xef\xbb\xbf",
    b"01",
    b"1.",
    b".5",
    b"+1",
    b"[1,]",
    b'{"a" 1}',
    b"'a'",
    b"tru",
    b'"\\/\\b\\f\\n\\r\\t\\"\\\\"',
    b'"\\x"',
    b"1E+2",
    b"0.1e-2",
    b'"\xe2\x80\xa8\xe2\x80\xa9</&\'"',
    b" ",
    b"",
]
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
    | st.sampled_from(["/", "\u2028", "<a href='x'>&amp;\"</a>", "\x7f\x00\x1f", "é😀"])
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["0", "1", "2", "a", "", "é/"]) | st.text(max_size=3), inner, max_size=4
        )
    ),
    max_leaves=12,
)


@st.composite
def documents(draw: st.DrawFn) -> bytes:
    """A JSON text in a random layout, often damaged with a fragment PHP treats specially."""
    value = draw(values)
    indent = draw(st.sampled_from([None, 1, "\t"]))
    text = json.dumps(value, ensure_ascii=draw(st.booleans()), indent=indent)
    doc = text.encode("utf-8", "surrogatepass")
    how = draw(st.sampled_from(["keep", "keep", "insert", "replace", "fragment", "utf16"]))
    fragment = draw(st.sampled_from(FRAGMENTS))
    at = draw(st.integers(min_value=0, max_value=len(doc)))
    if how == "insert":
        return doc[:at] + fragment + doc[at:]
    if how == "replace":
        end = draw(st.integers(min_value=at, max_value=len(doc)))
        return doc[:at] + fragment + doc[end:]
    if how == "fragment":
        return fragment
    if how == "utf16":
        return text.encode("utf-16")
    return doc


cases = st.tuples(
    documents(),
    st.sampled_from([None, True, False]),
    st.sampled_from([1, 2, 3, 5, 512]),
    st.sampled_from([0, php.JSON_OBJECT_AS_ARRAY, php.JSON_BIGINT_AS_STRING, 3]),
    st.lists(st.sampled_from(ENCODE_FLAGS), max_size=4).map(lambda fs: sum(set(fs))),
)


def php_answers(batch: Sequence[Case]) -> list[str]:
    """One PHP process answers every case of the batch, a line each."""
    try:
        binary = find_binary("php")
    except Exception as exc:  # the service helper's own error: no PHP on this machine
        service_unavailable(f"php CLI: {exc}")
    lines = [
        " ".join(
            [
                base64.b64encode(doc).decode() or "=",
                "n" if assoc is None else str(int(assoc)),
                str(depth),
                str(dflags),
                str(eflags),
            ]
        )
        for doc, assoc, depth, dflags, eflags in batch
    ]
    command = [binary, "-d", "serialize_precision=-1", "-d", "precision=14", "-r", PHP_SCRIPT]
    done = subprocess.run(
        command,
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.splitlines()


def python_answer(case: Case) -> str:
    """The line PHP's script writes, computed with ``migrated.php``."""
    doc, assoc, depth, dflags, eflags = case
    try:
        value = php.json_decode(doc, assoc, depth, dflags)
    except php.JsonException as exc:
        return f"D{exc.code}"
    try:
        out = php.json_encode(value, eflags)
    except php.JsonException as exc:
        return f"E{exc.code}"
    return "O" + base64.b64encode(out.encode()).decode()


def _same_refusal(ours: str, theirs: str) -> bool:
    """Both refuse the document; with several faults, each may name another one first.

    PHP reports the first fault its scanner meets; the port finds a lone
    surrogate escape or a mismatched bracket in another order (docs/handlers.md,
    "Known differences").  ``test_decode_errors_carry_php_codes`` checks the
    code of each fault alone.
    """
    return ours.startswith("D") and theirs.startswith("D")


# No shrinking: every attempt runs PHP, and the assertion names the failing case.
@settings(
    max_examples=60,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.lists(cases, min_size=20, max_size=40))
def test_decode_then_encode_matches_php_byte_for_byte(batch: list[Case]) -> None:
    """For random documents and flags, json_decode + json_encode answer exactly what PHP does."""
    expected = php_answers(batch)
    assert len(expected) == len(batch)
    for case, theirs in zip(batch, expected, strict=True):
        ours = python_answer(case)
        assert ours == theirs or _same_refusal(ours, theirs), (case, ours, theirs)


@pytest.mark.parametrize(
    ("doc", "code"),
    [
        pytest.param(b"[", php.JSON_ERROR_SYNTAX, id="syntax"),
        pytest.param(b"NaN", php.JSON_ERROR_SYNTAX, id="nan"),
        pytest.param(b'"\\ud800"', php.JSON_ERROR_UTF16, id="lone-surrogate"),
        pytest.param(b'{"\\u0000a":1}', php.JSON_ERROR_INVALID_PROPERTY_NAME, id="nul-name"),
        pytest.param(b'"\xc3\x28"', php.JSON_ERROR_UTF8, id="bad-utf8-in-string"),
        pytest.param(b'["\x01"]', php.JSON_ERROR_CTRL_CHAR, id="control-char"),
        pytest.param(b"[[1]]", php.JSON_ERROR_DEPTH, id="depth"),
        pytest.param(b"[[[1,", php.JSON_ERROR_DEPTH, id="too-deep-before-a-syntax-error"),
        pytest.param('{"a":1}'.encode("utf-16-le"), php.JSON_ERROR_CTRL_CHAR, id="utf-16-nul"),
        pytest.param('{"a":"\xe9"}'.encode("utf-16"), php.JSON_ERROR_UTF8, id="utf-16-bom"),
        pytest.param(b'["\xe9", x]', php.JSON_ERROR_UTF8, id="bad-byte-before-a-syntax-error"),
    ],
)
def test_decode_errors_carry_php_codes(doc: bytes, code: int) -> None:
    """Each kind of refusal carries the json_last_error() PHP reports for it."""
    depth = 2 if code == php.JSON_ERROR_DEPTH else 512
    with pytest.raises(php.JsonException) as caught:
        php.json_decode(doc, depth=depth)
    assert caught.value.code == code
    assert php_answers([(doc, None, depth, 0, 0)]) == [f"D{code}"]


def test_encode_takes_python_shapes_php_has_no_literal_for() -> None:
    """Tuples are arrays, bytes are UTF-8 strings, integer and boolean keys are digits."""
    assert php.json_encode((1, b"a/b", {1: "x", False: None})) == '[1,"a\\/b",{"1":"x","0":null}]'
    assert php.json_encode(php.PhpArray({"0": 1, "1": 2})) == "[1,2]"
    assert php.json_encode(php.PhpArray({"1": 1, "0": 2})) == '{"1":1,"0":2}'


@pytest.mark.parametrize(
    ("value", "code"),
    [
        pytest.param(math.inf, php.JSON_ERROR_INF_OR_NAN, id="inf"),
        pytest.param([math.nan], php.JSON_ERROR_INF_OR_NAN, id="nan"),
        pytest.param("\ud800", php.JSON_ERROR_UTF8, id="surrogate"),
        pytest.param({"a": b"\xff"}, php.JSON_ERROR_UTF8, id="bad-bytes"),
        pytest.param({1.5}, php.JSON_ERROR_UNSUPPORTED_TYPE, id="set"),
        pytest.param([[[]]], php.JSON_ERROR_DEPTH, id="depth"),
    ],
)
def test_encode_errors_carry_php_codes(value: Any, code: int) -> None:
    """What json_encode refuses raises JsonException with PHP's code."""
    with pytest.raises(php.JsonException) as caught:
        php.json_encode(value, depth=2)
    assert caught.value.code == code


@pytest.mark.parametrize(
    ("call", "flag"),
    [
        pytest.param(lambda f: php.json_encode(1, f), php.JSON_NUMERIC_CHECK, id="numeric-check"),
        pytest.param(
            lambda f: php.json_encode(1, f), php.JSON_PARTIAL_OUTPUT_ON_ERROR, id="partial"
        ),
        pytest.param(
            lambda f: php.json_decode("1", flags=f), php.JSON_INVALID_UTF8_IGNORE, id="ignore"
        ),
    ],
)
def test_unsupported_flags_are_refused_by_name(call: Any, flag: int) -> None:
    """A flag the port does not implement is a ValueError, never silently ignored."""
    with pytest.raises(ValueError, match="not supported"):
        call(flag)


def test_decode_depth_below_one_is_refused() -> None:
    """As PHP: depth must be greater than 0."""
    with pytest.raises(ValueError, match="greater than 0"):
        php.json_decode("1", depth=0)
