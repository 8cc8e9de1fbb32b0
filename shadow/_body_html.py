"""Bodies as HTML with the places that differ marked, on both sides of an example.

Strategy: a JSON body is printed here as ``json.dumps(indent=2)`` would print
it, but walking the value with its JSON pointer, so the member or element at
a pointer named by one of the record's differences is wrapped in a ``<mark>``.
Each side marks what it has: a value, type or order change on both, a
``missing`` field on the control's side, an ``extra`` one on the candidate's;
differences excused as learned noise are marked too, in a quieter colour.
Changed headers and statuses are marked by ``changed_headers`` and
``status_changed``.  Bodies that are not JSON, too long, or too deep are shown
as plain escaped text.  Unordered arrays name a changed pair by the control's
index, so on the candidate's side such a mark can sit on a neighbour.
"""

from __future__ import annotations

import contextlib
import html
import json
from collections.abc import Iterable
from typing import Any, Literal

from ._model import Difference
from ._normalize import escape_token

Side = Literal["control", "candidate"]
MAX_BODY_CHARS = 20_000
_ON_SIDE: dict[str, frozenset[Side]] = {
    "value": frozenset({"control", "candidate"}),
    "type": frozenset({"control", "candidate"}),
    "order": frozenset({"control", "candidate"}),
    "missing": frozenset({"control"}),
    "extra": frozenset({"candidate"}),
}
_e = html.escape


def body_marks(
    differences: Iterable[Difference], noise: Iterable[Difference], side: Side
) -> dict[str, str]:
    """JSON pointer to mark class (``diff`` or ``noise``) for one side's body."""
    marks: dict[str, str] = {}
    for cls, found in (("noise", noise), ("diff", differences)):
        for d in found:
            if (d.where == "body" or d.where.startswith("body/")) and side in _ON_SIDE.get(
                d.kind, ()
            ):
                marks[d.where[len("body") :]] = cls
    return marks


def changed_headers(differences: Iterable[Difference]) -> frozenset[str]:
    """The lower-cased names of the headers that differ."""
    return frozenset(
        d.where.removeprefix("header:").lower() for d in differences if d.kind == "header"
    )


def status_changed(differences: Iterable[Difference]) -> bool:
    """Whether the status (or an error on one side) differs."""
    return any(d.kind == "status" for d in differences)


def body_html(data: bytes, marks: dict[str, str] | None = None) -> str:
    """A body as a ``<pre>``: JSON pretty-printed with ``marks``, text escaped, bytes as hex."""
    if not data:
        return '<p class="muted">(empty body)</p>'
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return f'<pre class="body">({len(data)} bytes, not UTF-8)\n{_e(data[:512].hex(" "))}</pre>'
    value: Any = None
    with contextlib.suppress(ValueError):
        value = json.loads(text)
        text = json.dumps(value, indent=2, ensure_ascii=False)
    if len(text) > MAX_BODY_CHARS:
        cut = f"\n… ({len(text) - MAX_BODY_CHARS} more characters)"
        return f'<pre class="body">{_e(text[:MAX_BODY_CHARS])}{_e(cut)}</pre>'
    shown = _e(text)
    if marks and value is not None:
        with contextlib.suppress(RecursionError):
            shown = _value(value, "", marks, 0)
    return f'<pre class="body">{shown}</pre>'


def _mark(inner: str, pointer: str, marks: dict[str, str]) -> str:
    cls = marks.get(pointer)
    if cls is None:
        return inner
    return f'<mark class="{cls}" data-where="{_e("body" + pointer)}">{inner}</mark>'


def _value(value: Any, pointer: str, marks: dict[str, str], depth: int) -> str:
    return _mark(_bare(value, pointer, marks, depth), pointer, marks)


def _bare(value: Any, pointer: str, marks: dict[str, str], depth: int) -> str:
    inner, outer = "  " * (depth + 1), "  " * depth
    if isinstance(value, dict) and value:
        members = []
        for key, item in value.items():
            child = f"{pointer}/{escape_token(key)}"
            text = f"{_e(json.dumps(key, ensure_ascii=False))}: "
            text += _bare(item, child, marks, depth + 1)
            members.append(inner + _mark(text, child, marks))
        return "{\n" + ",\n".join(members) + "\n" + outer + "}"
    if isinstance(value, list) and value:
        items = [
            inner + _value(item, f"{pointer}/{i}", marks, depth + 1) for i, item in enumerate(value)
        ]
        return "[\n" + ",\n".join(items) + "\n" + outer + "]"
    return _e(json.dumps(value, ensure_ascii=False))
