"""Removing secrets from a shadow record before it is stored or sent to Kafka.

Strategy: redaction keeps the *shape* of what it hides, so a stored example
still explains a difference: ``Authorization: Bearer [redacted]`` keeps its
scheme, cookies keep their names and attributes, a JSON body keeps its keys
and only the values of sensitive keys become ``"[redacted]"``.  Sensitive
headers are a fixed set plus names that look like keys or tokens
(``X-Api-Key``, ``X-Auth-Token``); sensitive JSON fields and query parameters
are the configured names, matched case-insensitively at any depth.  Bodies
that are not JSON are left alone (configure the route to not store them).  The
differences are redacted too: their rendered values may quote a secret.  So
are a failed side's error text and traceback (``redact_text``): whatever
follows a sensitive name and ``=`` or ``:`` (``password='hunter2'``,
``"token": "abc"``) and a bearer credential become ``[redacted]``.
Pure and idempotent.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, urlencode

from ._model import Answer, Comparison, Difference, LearnedNoise, ShadowRecord, SideEffect

REDACTED = "[redacted]"
SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "x-csrf-token"}
)
_SECRET_HEADER_NAME = re.compile(r"api[-_]?key|token|secret|password|session|signature", re.I)
_QUERY_SECRETS = frozenset({"api_key", "apikey", "access_token", "token", "password", "secret"})


@dataclasses.dataclass(frozen=True, slots=True)
class _Policy:
    fields: frozenset[str]
    headers: frozenset[str]

    def header(self, name: str) -> bool:
        lower = name.lower()
        return lower in self.headers or bool(_SECRET_HEADER_NAME.search(lower))


def redact(
    record: ShadowRecord, fields: Iterable[str] = (), headers: Iterable[str] = ()
) -> ShadowRecord:
    """The record with secrets replaced by ``"[redacted]"``.

    Args:
        record: the record as compared.
        fields: JSON field names (``"password"``, ``"card_number"``) to hide in
            request, response and side-effect bodies, and in the query string.
        headers: header names to hide besides the built-in ones.
    """
    policy = _Policy(
        fields=frozenset(f.lower() for f in fields),
        headers=SECRET_HEADERS | {h.lower() for h in headers},
    )
    m = record.mirrored
    mirrored = dataclasses.replace(
        m,
        query=_query(m.query, policy),
        request_headers=_headers(m.request_headers, policy),
        request_body=_body(m.request_body, policy),
        control=_answer(m.control, policy),
        candidate=_answer(m.candidate, policy),
        second_control=None if m.second_control is None else _answer(m.second_control, policy),
        side_effects=tuple(_effect(e, policy) for e in m.side_effects),
    )
    c = record.comparison
    comparison = dataclasses.replace(
        c,
        differences=tuple(_difference(d, policy) for d in c.differences),
        noise=tuple(_difference(d, policy) for d in c.noise),
    )
    return ShadowRecord(mirrored, comparison)


def redact_header(name: str, value: str) -> str:
    """One secret header's value with its harmless parts kept (scheme, cookie names)."""
    lower = name.lower()
    if lower == "cookie":
        names = [part.split("=", 1)[0].strip() for part in value.split(";") if part.strip()]
        return "; ".join(f"{n}={REDACTED}" for n in names)
    if lower == "set-cookie":
        first, sep, attributes = value.partition(";")
        return f"{first.split('=', 1)[0].strip()}={REDACTED}{sep}{attributes}"
    scheme, space, _ = value.partition(" ")
    if lower in ("authorization", "proxy-authorization") and space:
        return f"{scheme} {REDACTED}"
    return REDACTED


def _headers(headers: tuple[tuple[str, str], ...], policy: _Policy) -> tuple[tuple[str, str], ...]:
    return tuple((k, redact_header(k, v) if policy.header(k) else v) for k, v in headers)


def _answer(answer: Answer, policy: _Policy) -> Answer:
    return dataclasses.replace(
        answer,
        headers=_headers(answer.headers, policy),
        body=_body(answer.body, policy),
        error=None if answer.error is None else _text(answer.error, policy),
        traceback=None if answer.traceback is None else _text(answer.traceback, policy),
    )


_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+")
_VALUE = (  # after a sensitive name: the separator, then the value (not one already hidden)
    r"""(\s*["']?\s*[:=]\s*)(?!\[redacted\]|(?i:bearer|basic)\s)"""
    r"""("[^"]*"|'[^']*'|[^\s,;&)}\]"']+)"""
)


def redact_text(text: str, fields: Iterable[str] = ()) -> str:
    """Free text (an error message, a traceback) with secret values hidden.

    Args:
        text: the text.
        fields: sensitive names besides the built-in ones (``password``, ``token``...).
    """
    return _text(text, _Policy(frozenset(f.lower() for f in fields), SECRET_HEADERS))


def _text(text: str, policy: _Policy) -> str:
    names = sorted(policy.fields | _QUERY_SECRETS | policy.headers, key=len, reverse=True)
    pattern = re.compile(
        r"(?i)(\b(?:" + "|".join(re.escape(n) for n in names) + r"|[\w-]*(?:api[-_]?key|token"
        r"|secret|password|session)[\w-]*)\b)" + _VALUE
    )
    text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    return pattern.sub(lambda m: m.group(1) + m.group(2) + _quoted(m.group(3)), text)


def _quoted(value: str) -> str:
    """``[redacted]`` in the quotes the value had, so the text still reads as code."""
    if value[:1] in "\"'" and value[-1:] == value[:1] and len(value) > 1:
        return f"{value[0]}{REDACTED}{value[0]}"
    return REDACTED


def _effect(effect: SideEffect, policy: _Policy) -> SideEffect:
    return dataclasses.replace(effect, value=_body(effect.value, policy))


def _body(body: bytes, policy: _Policy) -> bytes:
    if not policy.fields or not body or body.lstrip()[:1] not in (b"{", b"["):
        return body
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return body
    cleaned, changed = _json(data, policy.fields)
    return json.dumps(cleaned, ensure_ascii=False).encode() if changed else body


def _json(value: Any, fields: frozenset[str]) -> tuple[Any, bool]:
    """The value with sensitive keys' values replaced, and whether anything changed."""
    if isinstance(value, list):
        pairs = [_json(v, fields) for v in value]
        return [v for v, _ in pairs], any(c for _, c in pairs)
    if not isinstance(value, dict):
        return value, False
    out: dict[str, Any] = {}
    changed = False
    for key, item in value.items():
        if key.lower() in fields:
            out[key], changed = REDACTED, changed or item != REDACTED
        else:
            out[key], sub = _json(item, fields)
            changed = changed or sub
    return out, changed


def _query(query: str, policy: _Policy) -> str:
    secret = policy.fields | _QUERY_SECRETS
    pairs = parse_qsl(query, keep_blank_values=True)
    if not any(k.lower() in secret for k, _ in pairs):
        return query
    return urlencode([(k, REDACTED if k.lower() in secret else v) for k, v in pairs])


def _difference(d: Difference, policy: _Policy) -> Difference:
    if d.kind == "error":
        return dataclasses.replace(
            d, control=_text(d.control, policy), candidate=_text(d.candidate, policy)
        )
    if d.where.startswith("header:"):
        hide = policy.header(d.where.removeprefix("header:"))
    else:
        hide = any(part.lower() in policy.fields for part in d.where.split("/"))
    return dataclasses.replace(d, control=REDACTED, candidate=REDACTED) if hide else d


def redact_comparison(comparison: Comparison, fields: Iterable[str] = ()) -> Comparison:
    """The comparison's differences with secret values hidden (for signature rows)."""
    policy = _Policy(frozenset(f.lower() for f in fields), SECRET_HEADERS)
    return dataclasses.replace(
        comparison,
        differences=tuple(_difference(d, policy) for d in comparison.differences),
        noise=tuple(_difference(d, policy) for d in comparison.noise),
    )


def redact_noise(noise: LearnedNoise, fields: Iterable[str] = ()) -> LearnedNoise:
    """A learned place with the two values that taught it hidden where they may be secret."""
    policy = _Policy(frozenset(f.lower() for f in fields), SECRET_HEADERS)
    shown = _difference(Difference("value", noise.where, noise.first, noise.second), policy)
    return dataclasses.replace(noise, first=shown.control, second=shown.candidate)
