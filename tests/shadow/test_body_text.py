"""Text and HTML bodies: same-shape tokens named by their place, learned as noise there."""

from __future__ import annotations

import pytest

from shadow._body_text import MAX_LINE_TOKENS, text_differences
from shadow._compare import compare
from shadow._model import Answer
from shadow._noise import NoiseModel
from shadow._normalize import text_lines
from shadow._rules import CompareRules
from shadow._signature import signature

RULES = CompareRules()
HTML = ("Content-Type", "text/html; charset=UTF-8")
TEXT = ("Content-Type", "text/plain; charset=UTF-8")


def _page(csrf: str, at: str, label: str = "Email", took: str = "12ms", extra: str = "") -> str:
    return (
        "<html><body><form action=/save>"
        f'<label for="email">{label}</label>'
        f'<input type="hidden" name="csrf" value="{csrf}">'
        '<input name="email" value=""><button>Save</button></form>'
        f"<p>Generated at {at} in {took}</p>{extra}</body></html>"
    )


def _html(body: str) -> Answer:
    return Answer(200, (HTML,), body.encode(), 0.01)


def _diffs(a: str, b: str, *, html: bool = True) -> list[tuple[str, str]]:
    found = text_differences(text_lines(a, html=html), text_lines(b, html=html), RULES, html=html)
    return [(d.kind, d.where) for d in found]


FIRST = _page("3f9a1c2b7d4e11aa", "2026-12-06T21:04:26.123Z")
SECOND = _page("77aa1c2b7d4e1100", "2026-12-06T21:04:27.523Z", took="7ms")


def test_tokens_are_named_by_element_attribute_and_stable_words() -> None:
    """A swapped attribute value names its element and attribute; a word, the words before it."""
    assert _diffs(FIRST, SECOND) == [
        ("token", "body:html/body/form/input[name=csrf]@value"),
        ("token", 'body:html/body/p after "Generated at"'),
        ("token", 'body:html/body/p after "at … in"'),
    ]


def test_plain_text_tokens_are_named_by_the_words_before_them() -> None:
    """Plain text has no elements: the stable words before a token name it."""
    assert _diffs("req 0a1b2c in 12 ms\nok", "req 9f8e7d in 7 ms\nok", html=False) == [
        ("token", 'body:after "req"'),
        ("token", 'body:after "req … in"'),
    ]


_LABEL, _P = "body:html/body/form/label", "body:html/body/p"


@pytest.mark.parametrize(
    ("candidate", "shown", "where"),
    [
        (_page("3f9a1c2b7d4e11aa", "2026-12-06T21:04:26.123Z", label="E-mail"), "E-mail", _LABEL),
        (_page("3f9a1c2b7d4e11aa", "2026-12-06T21:04:26.123Z", took="fast"), "fast", _P),
        (FIRST.replace("<label", "<span").replace("</label>", "</span>"), "<span", _LABEL),
        (
            FIRST.replace('name="csrf"', 'name="xsrf"'),
            "xsrf",
            "body:html/body/form/input[name=csrf]",
        ),
        (_page("3f9a1c2b7d4e11aa", "2026-12-06T21:04:26.123Z", extra="<p>new</p>"), "new", _P),
        (
            FIRST.replace("<p>Generated at 2026-12-06T21:04:26.123Z in 12ms</p>", ""),
            "Generated",
            _P,
        ),
    ],
    ids=["word", "shape", "tag", "attribute-name", "extra-line", "missing-line"],
)
def test_other_changes_are_text_differences(candidate: str, shown: str, where: str) -> None:
    """A changed word, shape, tag or attribute name, or a line added or lost, stays ``text``.

    It is placed by legacy's element (the candidate's, for a line it added).
    """
    (difference,) = text_differences(
        text_lines(FIRST, html=True), text_lines(candidate, html=True), RULES, html=True
    )
    assert difference.kind == "text"
    assert difference.where == where
    assert shown in difference.control + difference.candidate


def test_two_text_causes_on_one_page_make_two_signatures() -> None:
    """A changed label and a changed footer on the same route are two causes, not one."""
    label = _page("3f9a1c2b7d4e11aa", "2026-12-06T21:04:26.123Z", label="E-mail")
    footer = _page("3f9a1c2b7d4e11aa", "2026-12-06T21:04:26.123Z", took="fast")
    lines = text_lines(FIRST, html=True)
    first = list(text_differences(lines, text_lines(label, html=True), RULES, html=True))
    second = list(text_differences(lines, text_lines(footer, html=True), RULES, html=True))
    assert signature("form", first) != signature("form", second)
    again = _page("77aa1c2b7d4e1100", "2026-12-06T21:04:27.523Z", label="E-mail", took="7ms")
    third = list(
        text_differences(
            text_lines(SECOND, html=True), text_lines(again, html=True), RULES, html=True
        )
    )
    assert signature("form", third) == signature("form", first)  # one cause, one signature


def test_plain_text_changes_are_placed_by_their_first_stable_words() -> None:
    """In text, a changed line is named by its first words without digits."""
    found = _diffs("total due: 12 EUR\nok", "total due: 12 USD\nok", html=False)
    assert found == [("text", 'body:line "total due:"')]


def test_learned_token_places_excuse_only_same_shape_swaps_there() -> None:
    """Two legacy pages teach the token places; a candidate differing there matches."""
    noise = NoiseModel()
    learned = noise.learn("form", _html(FIRST), _html(SECOND), RULES)
    assert learned == {
        ("body:html/body/form/input[name=csrf]@value", "token"),
        ('body:html/body/p after "Generated at"', "token"),
        ('body:html/body/p after "at … in"', "token"),
    }
    third = _page("0c0ffee0c0ffee01", "2026-12-06T22:00:00.000Z", took="30ms")
    result = compare(_html(FIRST), _html(third), RULES, noise=noise, route="form")
    assert result.matched
    assert len(result.noise) == 3
    relabelled = _page("0c0ffee0c0ffee01", "2026-12-06T22:00:00.000Z", label="E-mail")
    result = compare(_html(FIRST), _html(relabelled), RULES, noise=noise, route="form")
    assert [(d.kind, d.where) for d in result.differences] == [("text", _LABEL)]
    assert len(result.noise) == 2


def test_a_token_at_an_unlearned_place_still_counts() -> None:
    """A same-shape swap elsewhere (a price) is a counted ``token`` difference."""
    noise = NoiseModel()
    noise.learn("form", _html(FIRST), _html(SECOND), RULES)
    priced = FIRST.replace("<button>Save</button>", "<button>Pay 10 EUR</button>")
    changed = FIRST.replace("<button>Save</button>", "<button>Pay 12 EUR</button>")
    result = compare(_html(priced), _html(changed), RULES, noise=noise, route="form")
    assert [(d.kind, d.where) for d in result.differences] == [
        ("token", 'body:html/body/form/button after "Pay"')
    ]


def test_scrubbed_tokens_are_no_differences() -> None:
    """The route's scrubbers apply before tokens are compared."""
    rules = CompareRules(scrub=("csrf", "timestamp"))
    found = text_differences(
        text_lines(FIRST, html=True), text_lines(SECOND, html=True), rules, html=True
    )
    assert [(d.kind, d.where) for d in found] == [
        ("token", 'body:html/body/p after "<timestamp> in"')
    ]


def test_plain_text_keeps_its_learned_places() -> None:
    """Plain text learns by the stable words before a token, across requests."""
    noise = NoiseModel()
    text = [Answer(200, (TEXT,), f"done in {n} ms\n".encode(), 0.01) for n in (12, 7, 30)]
    assert noise.learn("t", text[0], text[1], RULES) == {('body:after "done in"', "token")}
    assert compare(text[0], text[2], RULES, noise=noise, route="t").matched


def test_a_very_long_changed_line_is_a_text_difference() -> None:
    """A changed line beyond ``MAX_LINE_TOKENS`` tokens is not aligned: one ``text`` difference."""
    words = " ".join(f"w{i}" for i in range(MAX_LINE_TOKENS + 1))
    (difference,) = text_differences([words, "end"], [words + "1", "end"], RULES, html=False)
    assert (difference.kind, difference.where) == ("text", "body")


def test_a_large_page_names_each_swapped_token() -> None:
    """Thousands of repeated rows: each swapped token is found at its own place."""
    rows = "".join("<tr><td>item</td><td>ok</td></tr>" for _ in range(2000))
    a = _page("3f9a1c2b7d4e11aa", "2026-12-06T21:04:26.123Z", extra=f"<table>{rows}</table>")
    b = _page("77aa1c2b7d4e1100", "2026-12-06T21:04:26.123Z", extra=f"<table>{rows}</table>")
    assert _diffs(a, b) == [("token", "body:html/body/form/input[name=csrf]@value")]


def test_items_without_end_tags_keep_one_place() -> None:
    """``<li>`` and ``<td>`` without end tags (valid HTML) do not nest one level per item."""

    def page(n: int, stamp: str) -> str:
        items = "".join(f"<li>item {i}" for i in range(n))
        cells = "".join(f"<tr><td>{stamp}<td>x" for _ in range(n))
        return f"<html><body><ul>{items}<li>at {stamp}</ul><table>{cells}</table></body></html>"

    short = _diffs(page(1, "10:00:01"), page(1, "10:00:02"))
    long = _diffs(page(9, "10:00:01"), page(9, "10:00:02"))
    assert ("token", 'body:html/body/ul/li after "at"') in short
    assert set(short) == set(long)  # the same places, whatever the list's length
