"""ShadowRecord and Skip to JSON bytes and back (SQLite rows, Kafka values, JSONL files).

Strategy: one JSON object per item, compact, on one line (so a JSONL file is
just the values joined by newlines), with a version ``"v"`` and a ``"type"``
(``record`` or ``skip``).  Bodies are bytes: valid UTF-8 is written as a plain
string (readable in ``sqlite3`` and ``kcat``), anything else as
``{"base64": ...}``, so ``decode(encode(x)) == x`` for every value.  Pure:
no I/O, no event loop.
"""

from __future__ import annotations

import base64
import json
from typing import Any, cast

from ._model import (
    Answer,
    Comparison,
    Difference,
    DifferenceKind,
    Mirrored,
    ShadowRecord,
    SideEffect,
    Skip,
    SkipReason,
)

VERSION = 1
Item = ShadowRecord | Skip


class CodecError(ValueError):
    """The bytes are not an encoded ShadowRecord or Skip; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"not a shadow record: {reason}")


def encode(item: Item) -> bytes:
    """One record or skip as compact UTF-8 JSON (no newline inside)."""
    return json.dumps(to_json(item), separators=(",", ":"), ensure_ascii=False).encode()


def decode(data: bytes | str) -> Item:
    """The record or skip encoded by ``encode``.

    Raises:
        CodecError: not JSON, an unknown version or type, or a field is missing.
    """
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CodecError(f"invalid JSON: {exc}") from None
    if not isinstance(obj, dict) or obj.get("v") != VERSION:
        raise CodecError("not an object of version 1")
    try:
        return from_json(obj)
    except (KeyError, TypeError, ValueError) as exc:
        raise CodecError(f"bad field: {exc!r}") from None


def to_json(item: Item) -> dict[str, Any]:
    """The JSON-ready dict of a record or skip."""
    if isinstance(item, Skip):
        return {
            "v": VERSION,
            "type": "skip",
            "route": item.route,
            "reason": item.reason,
            "at": item.at,
            "count": item.count,
        }
    return {
        "v": VERSION,
        "type": "record",
        "mirrored": _mirrored_out(item.mirrored),
        "comparison": _comparison_out(item.comparison),
    }


def from_json(obj: dict[str, Any]) -> Item:
    """The record or skip of a dict made by ``to_json`` (KeyError/TypeError if malformed)."""
    if obj["type"] == "skip":
        count = int(obj.get("count", 1))
        if count < 1:
            raise ValueError(f"skip count {count} is not positive")
        reason = cast(SkipReason, obj["reason"])
        return Skip(str(obj["route"]), reason, float(obj["at"]), count)
    if obj["type"] != "record":
        raise ValueError(f"unknown type {obj['type']!r}")
    return ShadowRecord(_mirrored_in(obj["mirrored"]), _comparison_in(obj["comparison"]))


def differences_out(differences: tuple[Difference, ...]) -> list[dict[str, str]]:
    """Differences as JSON-ready dicts (also used for the store's signature rows)."""
    return [
        {"kind": d.kind, "where": d.where, "control": d.control, "candidate": d.candidate}
        for d in differences
    ]


def differences_in(items: list[dict[str, str]]) -> tuple[Difference, ...]:
    """The inverse of ``differences_out``."""
    return tuple(
        Difference(cast(DifferenceKind, d["kind"]), d["where"], d["control"], d["candidate"])
        for d in items
    )


def _bytes_out(data: bytes) -> str | dict[str, str]:
    try:
        return data.decode()
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(data).decode("ascii")}


def _bytes_in(value: str | dict[str, str]) -> bytes:
    if isinstance(value, str):
        return value.encode()
    return base64.b64decode(value["base64"], validate=True)


def _answer_out(answer: Answer) -> dict[str, Any]:
    return {
        "status": answer.status,
        "headers": [list(h) for h in answer.headers],
        "body": _bytes_out(answer.body),
        "seconds": answer.seconds,
        "error": answer.error,
        "traceback": answer.traceback,
    }


def _answer_in(obj: dict[str, Any]) -> Answer:
    return Answer(
        status=int(obj["status"]),
        headers=tuple((str(k), str(v)) for k, v in obj["headers"]),
        body=_bytes_in(obj["body"]),
        seconds=float(obj["seconds"]),
        error=obj["error"],
        traceback=obj.get("traceback"),  # absent from records written before
    )


def _effect_out(effect: SideEffect) -> dict[str, Any]:
    return {
        "topic": effect.topic,
        "key": None if effect.key is None else _bytes_out(effect.key),
        "value": _bytes_out(effect.value),
        "headers": [[k, _bytes_out(v)] for k, v in effect.headers],
    }


def _effect_in(obj: dict[str, Any]) -> SideEffect:
    return SideEffect(
        topic=str(obj["topic"]),
        key=None if obj["key"] is None else _bytes_in(obj["key"]),
        value=_bytes_in(obj["value"]),
        headers=tuple((str(k), _bytes_in(v)) for k, v in obj["headers"]),
    )


def _mirrored_out(m: Mirrored) -> dict[str, Any]:
    second = m.second_control
    return {
        "route": m.route,
        "request_id": m.request_id,
        "at": m.at,
        "method": m.method,
        "path": m.path,
        "query": m.query,
        "request_headers": [list(h) for h in m.request_headers],
        "request_body": _bytes_out(m.request_body),
        "control": _answer_out(m.control),
        "candidate": _answer_out(m.candidate),
        "reverse": m.reverse,
        "second_control": None if second is None else _answer_out(second),
        "side_effects": [_effect_out(e) for e in m.side_effects],
    }


def _mirrored_in(obj: dict[str, Any]) -> Mirrored:
    second = obj["second_control"]
    return Mirrored(
        route=str(obj["route"]),
        request_id=str(obj["request_id"]),
        at=float(obj["at"]),
        method=str(obj["method"]),
        path=str(obj["path"]),
        query=str(obj["query"]),
        request_headers=tuple((str(k), str(v)) for k, v in obj["request_headers"]),
        request_body=_bytes_in(obj["request_body"]),
        control=_answer_in(obj["control"]),
        candidate=_answer_in(obj["candidate"]),
        reverse=bool(obj["reverse"]),
        second_control=None if second is None else _answer_in(second),
        side_effects=tuple(_effect_in(e) for e in obj["side_effects"]),
    )


def _comparison_out(c: Comparison) -> dict[str, Any]:
    return {
        "matched": c.matched,
        "differences": differences_out(c.differences),
        "noise": differences_out(c.noise),
        "signature": c.signature,
    }


def _comparison_in(obj: dict[str, Any]) -> Comparison:
    return Comparison(
        matched=bool(obj["matched"]),
        differences=differences_in(obj["differences"]),
        noise=differences_in(obj["noise"]),
        signature=str(obj["signature"]),
    )
