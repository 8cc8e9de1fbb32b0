"""Making invisible differences visible: two strings that differ but read alike.

Strategy: two renderings *read alike* when their visual skeletons are equal:
compatibility-normalised (NFKC, so NFC and NFD forms meet), with format
characters (zero-width spaces and joiners, soft hyphens, byte-order marks)
and all whitespace dropped, typographic quotes and dashes folded to ASCII,
and the Cyrillic and Greek letters that look Latin folded to Latin.  Only
then does a report print escapes and code points: shown for every
difference, they would bury the ordinary ones.  What is printed is the
differing middle of each string (the common prefix and suffix cut off), as
an escaped literal and as ``U+XXXX`` code points, so ``"José"`` in NFC and
in NFD read ``U+00E9`` against ``U+0065 U+0301``.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

# Written as escapes on purpose: this table is made of characters that look alike.
_QUOTES = "\u2018\u2019\u201a\u201b\u2032\u00b4`"
_DOUBLE_QUOTES = "\u201c\u201d\u201e\u201f\u2033\u00ab\u00bb"
_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2043"
_CYRILLIC = (
    "\u0430\u0435\u043e\u0440\u0441\u0443\u0445\u0456\u0458\u0455\u0501\u051b"
    "\u051d\u0410\u0412\u0415\u041a\u041c\u041d\u041e\u0420\u0421\u0422\u0425"
    "\u0406\u0408\u0405"
)
_GREEK = (
    "\u0391\u0392\u0395\u0396\u0397\u0399\u039a\u039c\u039d\u039f\u03a1\u03a4"
    "\u03a5\u03a7\u03bf\u03b9\u03bd"
)
_FOLD = str.maketrans(
    {
        **dict.fromkeys(_QUOTES, "'"),
        **dict.fromkeys(_DOUBLE_QUOTES, '"'),
        **dict.fromkeys(_DASHES, "-"),
        **dict(zip(_CYRILLIC, "aeopcyxijsdqwABEKMHOPCTXIJS", strict=True)),
        **dict(zip(_GREEK, "ABEZHIKMNOPTYXoiv", strict=True)),
    }
)


@dataclass(frozen=True, slots=True)
class Revealed:
    """The differing middle of one side: as an escaped literal and as code points."""

    escaped: str
    points: str

    def __str__(self) -> str:
        return f"{self.escaped} {self.points}"


def skeleton(text: str) -> str:
    """What a person sees of ``text``: the form two look-alike strings share."""
    text = unicodedata.normalize("NFKC", text).translate(_FOLD)
    return "".join(c for c in text if not c.isspace() and unicodedata.category(c) != "Cf")


def reveal(control: str, candidate: str) -> tuple[Revealed, Revealed] | None:
    """Escapes and code points of both sides, when they differ but read alike.

    Args:
        control: the control's rendering of a value.
        candidate: the candidate's rendering of the same value.

    Returns:
        None when the strings are equal or visibly different.
    """
    if control == candidate or skeleton(control) != skeleton(candidate):
        return None
    start = _common_prefix(control, candidate)
    end = _common_suffix(control[start:], candidate[start:])
    return (
        _side(control[start : len(control) - end]),
        _side(candidate[start : len(candidate) - end]),
    )


def escape(text: str) -> str:
    """``text`` as a double-quoted literal, every character but printable ASCII escaped."""
    out = []
    for c in text:
        if c in '"\\':
            out.append("\\" + c)
        elif " " <= c <= "~":
            out.append(c)
        elif ord(c) <= 0xFFFF:
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(f"\\U{ord(c):08x}")
    return '"' + "".join(out) + '"'


def code_points(text: str) -> str:
    """``U+0065 U+0301``; ``(nothing)`` for an empty string."""
    return " ".join(f"U+{ord(c):04X}" for c in text) or "(nothing)"


def _side(middle: str) -> Revealed:
    return Revealed(escape(middle), code_points(middle))


def _common_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    while n and (_combining_at(a, n) or _combining_at(b, n)):
        n -= 1  # keep a base letter with the marks that follow it
    return n


def _combining_at(text: str, i: int) -> bool:
    return i < len(text) and unicodedata.combining(text[i]) != 0


def _common_suffix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(reversed(a), reversed(b), strict=False):
        if x != y:
            break
        n += 1
    return n
