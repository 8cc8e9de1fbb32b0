"""The diff engine: two answers and the route's rules in, a ``Comparison`` out.

Strategy: ``iter_differences`` yields every difference, in a fixed order
(status, configured headers, body), and ``compare`` splits them into counted
differences and learned noise, keeping at most ``MAX_DIFFERENCES`` of each
while the signature is computed over all of them.  Comparing never raises.

* An error on either side (``Answer.error``) is a single difference and
  nothing else is compared, since a failed side has no headers or body worth
  diffing.  A candidate that raised is an ``error`` difference at
  ``error:<exception type>`` (its message as the candidate's value), so each
  kind of failure is its own signature; a failed control is a ``status``
  difference rendered ``error: <message>``.  The store counts candidate
  errors apart as well.
* Bodies equal byte for byte are equal.  Otherwise a body larger than
  ``max_body`` is compared by sha256 only; two JSON bodies structurally
  (JSON pointers, kinds missing / extra / type / value; ``true`` and ``1``
  differ in type, ``1`` and ``1.0`` are the same number); two textual bodies
  token by token after normalisation (``_body_text``: a same-shape token
  swapped at its place is a ``token`` difference, anything else one ``text``
  difference, the first differing line); anything else by sha256 (``digest``).
* Unordered arrays first match equal elements (by a canonical text that
  already applies ignores and scrubbers), then compare the leftovers pairwise
  in order so a changed element reports the changed field; these pairs are
  named by the control's index.  Tolerances apply only to such pairs.
* Any other array holding the same elements (by that canonical text) in
  another order is one ``order`` difference at the array, not a value
  difference per index.  An array at a place the noise model learned as
  shuffled (``shuffled``) is otherwise walked as unordered, so a lost, added
  or changed element is reported as such and never passes as reordering.
* A route's own comparator (``rules.custom``, see ``_comparator``) gets the
  differences the rules found and returns those that count.
* Learned noise (``NoiseModel.is_noise``) excuses a difference by its place
  *and* kind: a value or order change where legacy itself changed them,
  never a missing, extra or retyped field.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Collection, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Final

from ._body_text import text_differences
from ._comparator import run_comparator
from ._model import Answer, Comparison, Difference
from ._normalize import (
    ABSENT,
    NOT_JSON,
    content_type,
    decode_json,
    decode_text,
    escape_token,
    header_value,
    media_type,
    render,
    shorten,
    text_lines,
)
from ._rules import CompareRules
from ._signature import signature_key, signature_of_keys

if TYPE_CHECKING:
    from ._noise import NoiseModel

MAX_DIFFERENCES: Final = 200
"""Differences (and noise) kept per comparison; the signature covers them all."""
MATCHED: Final = Comparison(True, (), (), "")

Shuffled = Callable[[str], bool]
"""Whether the array at a body pointer (``/items``) was learned as shuffled."""


def _never(pointer: str) -> bool:
    return False


def compare(
    control: Answer,
    candidate: Answer,
    rules: CompareRules,
    *,
    noise: NoiseModel | None = None,
    route: str = "",
) -> Comparison:
    """Compare the candidate's answer with the control's under ``rules``.

    Args:
        control: the answer the client got.
        candidate: the answer computed on the copy.
        rules: the route's comparison rules.
        noise: the learned noise; differences of the learned kind at its
            places are listed as noise and do not count.
        route: the route name, for the noise model and the signature.

    Returns:
        ``matched`` iff no difference counts; ``signature`` is ``""`` then.
    """
    if rules.custom is None and _same_as_sent(control, candidate, rules.compared_headers):
        return MATCHED
    kept: list[Difference] = []
    noisy: list[Difference] = []
    keys: set[tuple[str, str]] = set()
    shuffled = noise.shuffled(route) if noise is not None else None
    found: Iterable[Difference] = iter_differences(control, candidate, rules, shuffled=shuffled)
    if rules.custom is not None:
        found = run_comparator(rules.custom, control, candidate, tuple(found))
    for difference in found:
        if noise is not None and noise.is_noise(route, difference):
            if len(noisy) < MAX_DIFFERENCES:
                noisy.append(difference)
            continue
        keys.add(signature_key(difference))
        if len(kept) < MAX_DIFFERENCES:
            kept.append(difference)
    return Comparison(not kept, tuple(kept), tuple(noisy), signature_of_keys(route, keys))


def _same_as_sent(control: Answer, candidate: Answer, names: Collection[str]) -> bool:
    """Whether two answers are equal as sent, where ``iter_differences`` finds nothing at once.

    Most comparisons of a route ready to move are this: no walk, no generator
    (``ops/bench/engine_cpu.py --shadow``).
    """
    return (
        control.error is None
        and candidate.error is None
        and control.status == candidate.status
        and control.body == candidate.body
        and _raw_values(control.headers, names) == _raw_values(candidate.headers, names)
    )


def iter_differences(
    control: Answer, candidate: Answer, rules: CompareRules, *, shuffled: Shuffled | None = None
) -> Iterator[Difference]:
    """Every difference between two answers: status, then headers, then body.

    Args:
        control: the first answer.
        candidate: the second answer.
        rules: the route's comparison rules.
        shuffled: arrays learned as shuffled (walked as unordered); none by default.
    """
    if control.error is None and candidate.error is not None:
        where = f"error:{error_type(candidate.error)}"
        yield Difference("error", where, _outcome(control), shorten(candidate.error))
        return
    if control.error is not None or candidate.error is not None:
        if control.error != candidate.error:
            yield Difference("status", "status", _outcome(control), _outcome(candidate))
        return
    if control.status != candidate.status:
        yield Difference("status", "status", str(control.status), str(candidate.status))
    names = rules.compared_headers
    raw_a, raw_b = _raw_values(control.headers, names), _raw_values(candidate.headers, names)
    for name in names:
        if raw_a.get(name) == raw_b.get(name):
            continue  # the same values read the same once normalised
        a = header_value(control.headers, name, rules)
        b = header_value(candidate.headers, name, rules)
        if a != b:
            where = f"header:{name}"
            yield Difference("header", where, shorten(a or ABSENT), shorten(b or ABSENT))
    yield from _body_differences(control, candidate, rules, shuffled or _never)


def _raw_values(
    headers: tuple[tuple[str, str], ...], names: Collection[str]
) -> dict[str, list[str]]:
    """The values of the compared headers as sent, in one pass over the answer's headers."""
    found: dict[str, list[str]] = {}
    for key, value in headers:
        name = key.lower()
        if name in names:
            found.setdefault(name, []).append(value)
    return found


_EXCEPTION_NAME: Final = re.compile(r"[A-Za-z_][\w.]*(?=: |$)")


def error_type(error: str) -> str:
    """The exception's name heading an error text (``KeyError: 'x'``), else ``unknown``."""
    found = _EXCEPTION_NAME.match(error)
    return found.group() if found else "unknown"


def _outcome(answer: Answer) -> str:
    return shorten(f"error: {answer.error}" if answer.error is not None else str(answer.status))


def _body_differences(
    control: Answer, candidate: Answer, rules: CompareRules, shuffled: Shuffled
) -> Iterator[Difference]:
    a, b = control.body, candidate.body
    if a == b:
        return
    if max(len(a), len(b)) > rules.max_body:
        yield _digest(a, b)
        return
    ctype_a, ctype_b = content_type(control.headers), content_type(candidate.headers)
    json_a, json_b = decode_json(a, media_type(ctype_a)), decode_json(b, media_type(ctype_b))
    if json_a is not NOT_JSON and json_b is not NOT_JSON:
        try:
            found = list(_walk(json_a, json_b, "", rules, shuffled))
        except RecursionError:
            pass  # deeper than we can walk: fall back to text
        else:
            yield from found
            return
    text_a, text_b = decode_text(a, ctype_a), decode_text(b, ctype_b)
    if text_a is None or text_b is None:
        yield _digest(a, b)
        return
    html = "html" in ctype_a or "html" in ctype_b
    yield from text_differences(
        text_lines(text_a, html=html), text_lines(text_b, html=html), rules, html=html
    )


def _digest(a: bytes, b: bytes) -> Difference:
    def show(body: bytes) -> str:
        return f"sha256:{hashlib.sha256(body).hexdigest()[:16]} ({len(body)} bytes)"

    return Difference("digest", "body", show(a), show(b))


# --- JSON ----------------------------------------------------------------------


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if value is None:
        return "null"
    return type(value).__name__  # str, list, dict


def _walk(
    a: Any, b: Any, pointer: str, rules: CompareRules, shuffled: Shuffled
) -> Iterator[Difference]:
    if rules.is_ignored(pointer):
        return
    kind = _kind(a)
    if kind != _kind(b):
        yield Difference("type", "body" + pointer, render(a), render(b))
    elif kind in ("dict", "list") and _identical(a, b):
        return
    elif kind == "dict":
        yield from _walk_object(a, b, pointer, rules, shuffled)
    elif kind == "list":
        yield from _walk_list(a, b, pointer, rules, shuffled)
    elif not _same_scalar(a, b, kind, pointer, rules):
        yield Difference("value", "body" + pointer, render(a), render(b))


def _identical(a: Any, b: Any) -> bool:
    """Equal containers, checked at C speed (the dumps tell ``true`` from ``1``)."""
    return bool(a == b) and json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _same_scalar(a: Any, b: Any, kind: str, pointer: str, rules: CompareRules) -> bool:
    if a == b:
        return True
    if kind == "number":
        try:
            return bool(abs(a - b) <= rules.tolerance_at(pointer))
        except OverflowError:  # an integer beyond float range against a float
            return False
    return kind == "str" and rules.scrubs and rules.scrub_text(a) == rules.scrub_text(b)


def _one_side(kind: str, pointer: str, value: Any) -> Difference:
    shown = render(value)
    if kind == "missing":
        return Difference("missing", "body" + pointer, shown, ABSENT)
    return Difference("extra", "body" + pointer, ABSENT, shown)


def _walk_object(
    a: dict[str, Any], b: dict[str, Any], pointer: str, rules: CompareRules, shuffled: Shuffled
) -> Iterator[Difference]:
    for key, value in a.items():
        child = f"{pointer}/{escape_token(key)}"
        if key in b:
            yield from _walk(value, b[key], child, rules, shuffled)
        elif not rules.is_ignored(child):
            yield _one_side("missing", child, value)
    for key, value in b.items():
        child = f"{pointer}/{escape_token(key)}"
        if key not in a and not rules.is_ignored(child):
            yield _one_side("extra", child, value)


def _walk_list(
    a: list[Any], b: list[Any], pointer: str, rules: CompareRules, shuffled: Shuffled
) -> Iterator[Difference]:
    """A multiset if the rules say so; else reordered, or walked per shuffled, or per index."""
    if rules.is_unordered(pointer):
        yield from _walk_multiset(a, b, pointer, rules, shuffled)
    elif _reordered(a, b, pointer, rules):
        yield Difference("order", "body" + pointer, render(a), render(b))
    elif shuffled(pointer):
        yield from _walk_multiset(a, b, pointer, rules, shuffled)
    else:
        yield from _walk_array(a, b, pointer, rules, shuffled)


def _reordered(a: list[Any], b: list[Any], pointer: str, rules: CompareRules) -> bool:
    """Whether ``b`` holds the elements of ``a`` (as a multiset matches them) in another order."""
    if len(a) != len(b) or len(a) < 2:
        return False
    seen_a = [_canonical(x, f"{pointer}/{i}", rules) for i, x in enumerate(a)]
    seen_b = [_canonical(y, f"{pointer}/{j}", rules) for j, y in enumerate(b)]
    return seen_a != seen_b and sorted(seen_a) == sorted(seen_b)


def _walk_array(
    a: list[Any], b: list[Any], pointer: str, rules: CompareRules, shuffled: Shuffled
) -> Iterator[Difference]:
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        yield from _walk(x, y, f"{pointer}/{i}", rules, shuffled)
    yield from _leftovers(a, b, range(len(b), len(a)), range(len(a), len(b)), pointer, rules)


def _leftovers(
    a: list[Any],
    b: list[Any],
    only_a: range | list[int],
    only_b: range | list[int],
    pointer: str,
    rules: CompareRules,
) -> Iterator[Difference]:
    for i in only_a:
        if not rules.is_ignored(f"{pointer}/{i}"):
            yield _one_side("missing", f"{pointer}/{i}", a[i])
    for j in only_b:
        if not rules.is_ignored(f"{pointer}/{j}"):
            yield _one_side("extra", f"{pointer}/{j}", b[j])


def _walk_multiset(
    a: list[Any], b: list[Any], pointer: str, rules: CompareRules, shuffled: Shuffled
) -> Iterator[Difference]:
    waiting: dict[str, list[int]] = {}
    for j in reversed(range(len(b))):
        waiting.setdefault(_canonical(b[j], f"{pointer}/{j}", rules), []).append(j)
    only_a: list[int] = []
    for i, x in enumerate(a):
        matches = waiting.get(_canonical(x, f"{pointer}/{i}", rules))
        if matches:
            matches.pop()
        else:
            only_a.append(i)
    only_b = sorted(j for matches in waiting.values() for j in matches)
    pairs = min(len(only_a), len(only_b))
    for i, j in zip(only_a[:pairs], only_b[:pairs], strict=True):
        yield from _walk(a[i], b[j], f"{pointer}/{i}", rules, shuffled)
    yield from _leftovers(a, b, only_a[pairs:], only_b[pairs:], pointer, rules)


def _canonical(value: Any, pointer: str, rules: CompareRules) -> str:
    """Text equal for values that compare equal (ignores, scrubbers, 1 == 1.0)."""
    if isinstance(value, dict):
        items = (
            f"{json.dumps(key)}:{_canonical(item, child, rules)}"
            for key, item in sorted(value.items())
            if not rules.is_ignored(child := f"{pointer}/{escape_token(key)}")
        )
        return "{" + ",".join(items) + "}"
    if isinstance(value, list):
        parts = [_canonical(item, f"{pointer}/{i}", rules) for i, item in enumerate(value)]
        return "[" + ",".join(sorted(parts) if rules.is_unordered(pointer) else parts) + "]"
    if isinstance(value, str) and rules.scrubs:
        value = rules.scrub_text(value)
    elif isinstance(value, float) and value.is_integer():
        value = int(value)
    return json.dumps(value)
