"""Turning raw answers into values that compare the way people mean "the same".

Strategy: small pure functions, each owning one question the comparison engine
asks: what kind of body is this (JSON, text, binary), how does a header read
once its incidental spelling is removed, what are the lines of a text body
once whitespace and scrubbed tokens are gone, and how is a value shown to a
person (compact JSON, at most ``SHORT`` characters, built lazily so a huge
array is never encoded whole just to be cut).

``where`` strings (``body/items/3/price``) are normalised for grouping by
replacing every all-digit segment with ``*``: array indices, and also numeric
object keys, which in practice are ids and should group the same way.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

from ._rules import CompareRules

SHORT: Final = 120
"""Longest rendering of a value in a ``Difference``."""
ABSENT: Final = "<absent>"

NOT_JSON: Final[Any] = object()
"""Returned by ``decode_json`` for a body that is not (or not declared as) JSON."""

_SNIFFED = frozenset({"", "text/plain", "application/octet-stream"})
_COMMA_LISTS = frozenset({"cache-control", "vary"})
_COOKIE_VALUED = frozenset({"max-age", "path", "domain", "samesite"})
_PARAM_SEP = re.compile(r"\s*;\s*")
_JSON_START = re.compile(rb"[ \t\r\n]*[\[{]")
_DIGITS = re.compile(r"(?<=/)\d+(?=/|$)")
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def escape_token(key: str) -> str:
    """Escape an object key as a JSON pointer segment (``~`` -> ``~0``, ``/`` -> ``~1``)."""
    if "~" in key or "/" in key:
        return key.replace("~", "~0").replace("/", "~1")
    return key


def normalise_where(where: str) -> str:
    """Replace all-digit segments of a body path with ``*`` (``body/items/*/price``)."""
    return _DIGITS.sub("*", where) if where.startswith("body/") else where


def shorten(text: str) -> str:
    """Cut ``text`` to ``SHORT`` characters, marking the cut with an ellipsis."""
    return text if len(text) <= SHORT else text[: SHORT - 1] + "…"


def render(value: object) -> str:
    """Compact JSON for a person, at most ``SHORT`` characters."""
    chunks: list[str] = []
    size = 0
    for chunk in _ENCODER.iterencode(value):
        chunks.append(chunk)
        size += len(chunk)
        if size > SHORT:
            break
    return shorten("".join(chunks))


def content_type(headers: tuple[tuple[str, str], ...]) -> str:
    """The first Content-Type value, lower-cased ("" when there is none)."""
    for name, value in headers:
        if name.lower() == "content-type":
            return value.strip().lower()
    return ""


def media_type(ctype: str) -> str:
    """The media type of a lower-cased Content-Type value, without parameters."""
    return ctype.partition(";")[0].strip()


def is_json_media(media: str) -> bool:
    """Whether a media type declares JSON (``application/json`` or ``*+json``)."""
    return media == "application/json" or media.endswith("+json")


def decode_json(body: bytes, media: str) -> Any:
    """The JSON value of a body declared JSON, or sniffed as JSON when its type is generic.

    Returns ``NOT_JSON`` when the body is not JSON (bad UTF-8, bad syntax,
    ``NaN``, nesting deeper than the interpreter allows).
    """
    sniffed = media in _SNIFFED and _JSON_START.match(body) is not None
    if not (sniffed or is_json_media(media)):
        return NOT_JSON
    try:
        return _DECODER.decode(body.decode("utf-8"))
    except (ValueError, RecursionError):
        return NOT_JSON


def decode_text(body: bytes, ctype: str) -> str | None:
    """The text of a textual body (by Content-Type, or UTF-8 when untyped), else None."""
    media = media_type(ctype)
    if not media:
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:
            return None
    textual = ("text/", "html", "xml", "javascript", "json", "x-www-form-urlencoded")
    if not any(marker in media for marker in textual):
        return None
    _, _, charset = ctype.partition("charset=")
    try:
        return body.decode(charset.split(";")[0].strip(" \"'") or "utf-8", errors="replace")
    except LookupError:
        return body.decode("utf-8", errors="replace")


def text_lines(text: str, *, html: bool) -> list[str]:
    """Lines of a text body, blank runs collapsed, empty lines dropped.

    HTML gets all whitespace runs collapsed and one tag per line, so
    indentation and line breaks never matter and a minified page still
    reports a short differing line.  Scrubbers are applied later, per line,
    and only to lines that differ (see ``CompareRules.scrub_text``).
    """
    if html:
        text = " ".join(text.split()).replace("> <", ">\n<").replace("><", ">\n<")
        return text.split("\n") if text else []  # no blanks left to trim
    lines = (" ".join(line.split()) for line in text.splitlines())
    return [line for line in lines if line]


def header_value(
    headers: tuple[tuple[str, str], ...], name: str, rules: CompareRules
) -> str | None:
    """How header ``name`` reads for comparison, or None when absent.

    ``set-cookie``: cookie names and attributes, never values (Expires by
    presence only); ``cache-control`` and ``vary``: the set of lower-cased
    directives; ``content-type``: lower-cased with parameters spaced evenly;
    others: the values joined by ``, ``.  Scrubbers apply to all but
    ``set-cookie``.
    """
    values = [value.strip() for key, value in headers if key.lower() == name]
    if not values:
        return None
    if name == "set-cookie":
        return " | ".join(sorted(_cookie_shape(value) for value in values))
    if name in _COMMA_LISTS:
        tokens = {t.strip().lower() for value in values for t in value.split(",")}
        joined = ", ".join(sorted(tokens - {""}))
    elif name == "content-type":
        joined = ", ".join(_PARAM_SEP.sub("; ", value.lower()) for value in values)
    else:
        joined = ", ".join(values)
    return rules.scrub_text(joined) if rules.scrubs else joined


def _cookie_shape(value: str) -> str:
    pair, *attributes = value.split(";")
    shape = [pair.partition("=")[0].strip()]
    for attribute in sorted(attributes, key=str.lower):
        key, _, val = attribute.partition("=")
        key = key.strip().lower()
        if key in _COOKIE_VALUED:
            shape.append(f"{key}={val.strip().lower() if key != 'path' else val.strip()}")
        elif key:
            shape.append(key)
    return "; ".join(shape)
