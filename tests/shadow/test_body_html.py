"""Bodies with their differing fields marked, on the side that has them."""

from __future__ import annotations

import json
import re
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from shadow._body_html import body_html, body_marks, changed_headers, status_changed
from shadow._model import Difference

BODY = {"name": "<b>Ana</b>", "tags": ["a", "b"], "age": 41, "a/b": {"c": 1}}
DIFFS = (
    Difference("value", "body/name", '"x"', '"y"'),
    Difference("missing", "body/age", "41", "<absent>"),
    Difference("extra", "body/tags/1", "<absent>", '"b"'),
    Difference("type", "body/a~1b/c", "1", '"1"'),
    Difference("header", "header:content-type", "a", "b"),
)
NOISE = (Difference("value", "body/tags/0", '"a"', '"z"'),)


def _plain(html: str) -> str:
    text = re.sub(r"<[^>]+>", "", html)
    return (
        text.replace("&quot;", '"')
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
        .replace("&#x27;", "'")
    )


def test_each_side_marks_what_it_has() -> None:
    """Value and type changes are marked on both sides, missing on control, extra on candidate."""
    control = body_marks(DIFFS, NOISE, "control")
    candidate = body_marks(DIFFS, NOISE, "candidate")
    assert control == {"/name": "diff", "/age": "diff", "/a~1b/c": "diff", "/tags/0": "noise"}
    assert candidate == {"/name": "diff", "/tags/1": "diff", "/a~1b/c": "diff", "/tags/0": "noise"}


def test_marked_members_wrap_key_and_value_escaped() -> None:
    """A marked member shows ``"key": value`` inside the mark, markup escaped."""
    page = body_html(json.dumps(BODY).encode(), body_marks(DIFFS, NOISE, "control"))
    assert (
        '<mark class="diff" data-where="body/name">&quot;name&quot;: '
        "&quot;&lt;b&gt;Ana&lt;/b&gt;&quot;</mark>" in page
    )
    assert '<mark class="noise" data-where="body/tags/0">&quot;a&quot;</mark>' in page
    assert '<mark class="diff" data-where="body/a~1b/c">&quot;c&quot;: 1</mark>' in page
    assert "<b>" not in page


def test_headers_and_status() -> None:
    """Changed headers are named in lower case; a status difference is noticed."""
    assert changed_headers(DIFFS) == {"content-type"}
    assert not status_changed(DIFFS)
    assert status_changed([Difference("status", "status", "200", "500")])


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=12,
)


@settings(deadline=None)
@given(JSON, st.data())
def test_marked_body_reads_as_json_dumps(value: Any, data: st.DataObject) -> None:
    """Marks only wrap text: with them stripped, the body is ``json.dumps(indent=2)`` exactly."""
    pointers = data.draw(st.lists(st.sampled_from(["", "/0", "/1/0", "/a", "/0/a"]), max_size=3))
    marks = dict.fromkeys(pointers, "diff")
    page = body_html(json.dumps(value).encode(), marks)
    inner = page.removeprefix('<pre class="body">').removesuffix("</pre>")
    assert _plain(inner) == json.dumps(value, indent=2, ensure_ascii=False)
