"""Invisible differences: strings that differ but read alike are shown by code point."""

from __future__ import annotations

import unicodedata

import pytest

from shadow._reveal import code_points, escape, reveal, skeleton


@pytest.mark.parametrize(
    ("control", "candidate", "shown"),
    [
        pytest.param(
            unicodedata.normalize("NFC", '"José"'),
            unicodedata.normalize("NFD", '"José"'),
            ('"\\u00e9" U+00E9', '"e\\u0301" U+0065 U+0301'),
            id="nfc-against-nfd",
        ),
        pytest.param('"Ana"', '"Ana\u200b"', ('"" (nothing)', '"\\u200b" U+200B'), id="zero-width"),
        pytest.param('"abc"', '"abc "', ('"" (nothing)', '" " U+0020'), id="trailing-space"),
        pytest.param(
            '"O\'Brien"', '"O\u2019Brien"', ('"\'" U+0027', '"\\u2019" U+2019'), id="quote"
        ),
        pytest.param('"9-5"', '"9\u20135"', ('"-" U+002D', '"\\u2013" U+2013'), id="dash"),
        pytest.param(
            '"paypal"', '"p\u0430ypal"', ('"a" U+0061', '"\\u0430" U+0430'), id="homoglyph"
        ),
        pytest.param('"a b"', '"a\u00a0b"', ('" " U+0020', '"\\u00a0" U+00A0'), id="nbsp"),
    ],
)
def test_look_alike_strings_are_revealed_by_code_point(
    control: str, candidate: str, shown: tuple[str, str]
) -> None:
    """Each side's differing middle is shown escaped and as code points."""
    found = reveal(control, candidate)
    assert found is not None
    assert (str(found[0]), str(found[1])) == shown


@pytest.mark.parametrize(
    ("control", "candidate"),
    [
        pytest.param('"José"', '"José"', id="equal"),
        pytest.param('"email is invalid"', '"invalid email"', id="visibly-different"),
        pytest.param("10", "10.0", id="numbers"),
        pytest.param('"Jose"', '"José"', id="an-accent-is-visible"),
    ],
)
def test_visible_or_no_differences_are_left_alone(control: str, candidate: str) -> None:
    """Only look-alikes get code points: ordinary differences stay uncluttered."""
    assert reveal(control, candidate) is None


def test_a_base_letter_stays_with_its_combining_mark() -> None:
    """The cut between the common prefix and the middle never splits a letter from its accent."""
    found = reveal("e\u0323\u0301", "e\u0301\u0323")  # the same marks in another order
    assert found is not None
    assert (found[0].points, found[1].points) == ("U+0065 U+0323 U+0301", "U+0065 U+0301 U+0323")


def test_skeleton_and_escape() -> None:
    """The skeleton folds what people cannot see; escapes keep printable ASCII only."""
    assert skeleton("\ufeffa\u00adb \u201cc\u201d") == 'ab"c"'
    assert escape('a"\\\U0001f600') == '"a\\"\\\\\\U0001f600"'
    assert code_points("") == "(nothing)"
