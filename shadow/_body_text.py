"""Text and HTML bodies compared token by token, each changed token named by its place.

Strategy: both bodies are cut into lines (``text_lines``, so layout never
matters; HTML one tag a line), the route's scrubbers are applied to the lines
that differ, and the lines are aligned with ``difflib``.  Changed lines
paired one for one are cut into tokens and aligned again, token by token;
every differing stretch becomes one of two differences:

* ``token``: the stretch swaps tokens one for one, and each pair has the same
  *shape*: both hold a digit and the same punctuation skeleton (``9f3a-…``
  against ``07c1-…``, ``12ms`` against ``7ms``).  Such a pair is named by a
  *place* that survives from one request to the next: for HTML the element
  path and the attribute (``body:html/body/form/input[name=csrf]@value``), or
  the path and the stable words before it (``body:html/body/p after
  "Generated in"``); for plain text those words alone (``body:after "took"``).
  "Stable" words hold no digit, so a place never rests on a volatile value
  (the volatile tokens skipped between them show as ``…``).
  These are what legacy varies by itself (ids, times, tokens), so the noise
  model can learn them per place, like a JSON ``value``.
* ``text``: anything else (a line added or lost, a word changed for another
  shape, a tag or attribute name changed): one difference showing the first
  such line with some context, placed by its element path (HTML) or first
  stable words (text), so that two causes on one page are two signatures.
  Never learned as noise.

Tag and attribute names are structure, never tokens; only attribute values
and the words of text are.  Aligning lines first keeps the work near linear
on large pages (token alignment is quadratic at worst, and a page repeats
``>`` thousands of times); a changed line of more than ``MAX_LINE_TOKENS``
tokens is a ``text`` difference without being aligned.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

from ._model import Difference
from ._normalize import ABSENT, shorten
from ._rules import CompareRules
from ._scrub import PLACEHOLDERS

MAX_LINE_TOKENS: Final = 2_000
"""Tokens per line above which a changed line is a ``text`` difference, not aligned."""

_SCAN = re.compile(r"""<(?:"[^"]*"|'[^']*'|[^'">])*>|[^<\s]+|<""")
_TAG = re.compile(r"<\s*(/?)\s*([A-Za-z][\w:.-]*)(.*?)(/?)\s*>\Z", re.S)
_ATTR = re.compile(r"""([^\s=/>"']+)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s"'>]+))?""")
_ALNUM = re.compile(r"[0-9A-Za-z]+")
_DIGIT = re.compile(r"[0-9]")
_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param"}
    | {"source", "track", "wbr"}
)
# Elements an opening tag closes when they are the innermost open one (HTML's
# optional end tags): a new item, cell, row, option or term; a block closes a <p>.
_BLOCKS = (
    "address",
    "article",
    "aside",
    "blockquote",
    "div",
    "dl",
    "fieldset",
    "footer",
    "form",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hr",
    "main",
    "nav",
    "ol",
    "p",
    "pre",
    "section",
    "table",
    "ul",
)
_IMPLIED_BY: Final[dict[str, frozenset[str]]] = {
    "li": frozenset({"li"}),
    "dt": frozenset({"dt", "dd"}),
    "dd": frozenset({"dt", "dd"}),
    "option": frozenset({"option"}),
    "td": frozenset({"td", "th"}),
    "th": frozenset({"td", "th"}),
    "tr": frozenset({"td", "th", "tr"}),
    **{block: frozenset({"p"}) for block in _BLOCKS},
}
_ANCHOR_WORDS = 2
_WORD_MAX = 32  # a longer "word" is data, not a name for its line
_SKIPPED = "…"  # stands for the volatile tokens between two stable words


@dataclass(frozen=True, slots=True)
class Token:
    """One token: its text, its line, and its place (None for structure: tags, names)."""

    text: str
    line: int
    place: str | None


def text_differences(
    a: list[str], b: list[str], rules: CompareRules, *, html: bool
) -> Iterator[Difference]:
    """Token differences at their places, then at most one ``text`` difference.

    Args:
        a: the control's lines (``text_lines``).
        b: the candidate's lines.
        rules: the route's rules (their scrubbers apply to the differing lines).
        html: whether either body is HTML (tags are then structure).
    """
    if a == b:
        return
    if rules.scrubs:
        a, b = _scrubbed(a, set(b), rules), _scrubbed(b, set(a), rules)
        if a == b:
            return
    tokens_a, tokens_b = _by_line(tokenise(a, html=html), a), _by_line(tokenise(b, html=html), b)
    first_real: tuple[int, int, list[list[Token]]] | None = None
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b).get_opcodes():
        if op == "equal":
            continue
        if op != "replace" or i2 - i1 != j2 - j1:
            # placed by legacy's lines, or by the candidate's when it added them
            block = tokens_b[j1:j2] if op == "insert" else tokens_a[i1:i2]
            first_real = first_real or (i1, j1, block)
            continue
        for i, j in zip(range(i1, i2), range(j1, j2), strict=True):
            swapped = _swaps(tokens_a[i], tokens_b[j])
            if swapped is None:
                first_real = first_real or (i, j, [tokens_a[i]])
            else:
                yield from swapped
    if first_real is not None:
        line_a, line_b, block = first_real
        yield _text_at(a, b, line_a, line_b, _block_place(block, html=html))


def _by_line(tokens: list[Token], lines: list[str]) -> list[list[Token]]:
    """The tokens of each line, in order (a line of blanks only has none)."""
    grouped: list[list[Token]] = [[] for _ in lines]
    for token in tokens:
        grouped[token.line].append(token)
    return grouped


def _swaps(x: list[Token], y: list[Token]) -> list[Difference] | None:
    """The ``token`` differences of a changed line, or None if it changed in any other way."""
    if len(x) != len(y) or len(x) > MAX_LINE_TOKENS:
        return None
    found: list[Difference] = []
    matcher = difflib.SequenceMatcher(None, [t.text for t in x], [t.text for t in y], False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            continue
        pairs = list(zip(x[i1:i2], y[j1:j2], strict=False))
        if op != "replace" or i2 - i1 != j2 - j1 or not all(_same_shape(*p) for p in pairs):
            return None
        found += [
            Difference("token", t.place or "body", shorten(t.text), shorten(u.text))
            for t, u in pairs
        ]
    return found


def _scrubbed(lines: list[str], other: set[str], rules: CompareRules) -> list[str]:
    """Scrub only the lines the other side lacks (the rest are equal either way)."""
    return [line if line in other else rules.scrub_text(line) for line in lines]


def _same_shape(x: Token, y: Token) -> bool:
    """Both are value tokens holding a digit, with the same punctuation skeleton."""
    if x.place is None or y.place is None or x.place != y.place:
        return False
    if not (_DIGIT.search(x.text) and _DIGIT.search(y.text)):
        return False
    return _ALNUM.sub("x", x.text) == _ALNUM.sub("x", y.text)


def tokenise(lines: list[str], *, html: bool) -> list[Token]:
    """Cut lines into tokens, each value token with its place (see the module docstring)."""
    tokens: list[Token] = []
    path: list[tuple[str, str]] = []  # (tag name, its segment with qualifier)
    for number, line in enumerate(lines):
        words: list[str] = []  # stable words before the next token, in this text run
        for found in _SCAN.finditer(line):
            piece = found.group()
            tag = _TAG.match(piece) if html and piece not in PLACEHOLDERS else None
            if tag is None:
                tokens.append(Token(piece, number, _text_place(path, words, html=html)))
                if not _DIGIT.search(piece):
                    words.append(piece)
                elif words and words[-1] != _SKIPPED:
                    words.append(_SKIPPED)
                continue
            words.clear()
            _tag_tokens(tag, number, path, tokens)
    return tokens


def _text_place(path: list[tuple[str, str]], words: list[str], *, html: bool) -> str:
    """The element path and the last stable words before a token (``…`` for volatile ones)."""
    anchor = " ".join(_anchor(words))
    where = "/".join(segment for _, segment in path) if html else ""
    after = f'after "{anchor}"' if anchor else "at start"
    return f"body:{where} {after}" if where else f"body:{after}"


def _anchor(words: list[str]) -> list[str]:
    """The last ``_ANCHOR_WORDS`` stable words of ``words``, with the skips between them."""
    taken: list[str] = []
    stable = 0
    for word in reversed(words):
        if stable == _ANCHOR_WORDS:
            break
        taken.append(word)
        stable += word != _SKIPPED
    return taken[::-1]


def _tag_tokens(
    tag: re.Match[str], line: int, path: list[tuple[str, str]], tokens: list[Token]
) -> None:
    """Tokens of one tag (its name as structure, attribute values as places); moves ``path``."""
    closing, name, attributes, self_closing = tag.groups()
    name = name.lower()
    if closing:
        tokens.append(Token(f"</{name}>", line, None))
        names = [n for n, _ in path]
        if name in names:
            del path[len(names) - 1 - names[::-1].index(name) :]
        return
    _close_implied(name, path)
    pairs = [(k.lower(), v.strip("\"'") if v else "") for k, v in _ATTR.findall(attributes)]
    segment = name + _qualifier(dict(pairs))
    here = "/".join([*(s for _, s in path), segment])
    tokens.append(Token(f"<{name}", line, None))
    for key, value in pairs:
        tokens.append(Token(f"{key}=", line, None))
        tokens.extend(Token(word, line, f"body:{here}@{key}") for word in value.split())
    tokens.append(Token(">", line, None))
    if not self_closing and name not in _VOID:
        path.append((name, segment))


def _close_implied(name: str, path: list[tuple[str, str]]) -> None:
    """Close what opening ``name`` closes in HTML without an end tag (``<li>`` a ``<li>``).

    Without it, a list of ``<li>`` items with no ``</li>`` (valid HTML, common
    in PHP templates) would nest one level per item, and one cause would get a
    new place, and a new signature, for every length of the list.
    """
    closes = _IMPLIED_BY.get(name)
    while closes and path and path[-1][0] in closes:
        path.pop()
        if name not in ("tr", "td", "th"):
            return  # one level: a <li> closes the <li> it follows, nothing above


def _qualifier(attributes: dict[str, str]) -> str:
    """``[name=…]`` or ``#id``: what tells an element from its siblings across requests."""
    name, ident = attributes.get("name"), attributes.get("id")
    if name and not _DIGIT.search(name):
        return f"[name={name}]"
    if ident and not _DIGIT.search(ident):
        return f"#{ident}"
    return ""


def _text_at(a: list[str], b: list[str], line_a: int, line_b: int, where: str) -> Difference:
    x = a[line_a] if line_a < len(a) else None
    y = b[line_b] if line_b < len(b) else None
    return Difference("text", where, _context(line_a, x, y), _context(line_b, y, x))


def _block_place(lines: list[list[Token]], *, html: bool) -> str:
    """Where changed lines are, so that two causes on one page get two signatures.

    The lines are legacy's (the candidate's when it added them), which stay
    the same from one request to the next for one cause.  HTML: the element
    path of their first value (``body:html/body/form/label``); text: the first
    line's first stable words (``body:line "Total due"``); else ``body``.
    """
    for tokens in lines:
        if html:
            for token in tokens:
                if token.place is not None:
                    return token.place.split(" ", 1)[0].split("@", 1)[0]
        elif words := [t.text for t in tokens if _stable_word(t.text)][:_ANCHOR_WORDS]:
            return f'body:line "{" ".join(words)}"'
    return "body"


def _stable_word(text: str) -> bool:
    """A word that can name a line: short, without a digit."""
    return len(text) <= _WORD_MAX and not _DIGIT.search(text)


def _context(line: int, text: str | None, other: str | None) -> str:
    """``line N: …a few chars before the first differing char and after…``."""
    if text is None:
        return f"line {line + 1}: {ABSENT}"
    same = _common_prefix(text, other) if other is not None else 0
    start = max(0, same - 30)
    snippet = ("…" if start else "") + text[start:]
    return shorten(f"line {line + 1}: {snippet}")


def _common_prefix(a: str, b: str) -> int:
    """Length of the common prefix, by bisection on slices (C speed on long lines)."""
    low, high = 0, min(len(a), len(b))
    while low < high:
        middle = (low + high + 1) // 2
        if a[:middle] == b[:middle]:
            low = middle
        else:
            high = middle - 1
    return low
