"""Comparators the tests name in compare rules (``tests.shadow.comparators:...``)."""

from __future__ import annotations

from collections.abc import Iterable

from shadow import Answer, Difference


def same_amount(
    control: Answer, candidate: Answer, differences: tuple[Difference, ...]
) -> Iterable[Difference]:
    """Drop value differences that spell one amount two ways ("3.50" and "3.5 EUR")."""
    for d in differences:
        if d.kind == "value" and _amount(d.control) == _amount(d.candidate):
            continue
        yield d


def _amount(rendered: str) -> float | None:
    try:
        return float(rendered.strip('"').removesuffix(" EUR"))
    except ValueError:
        return None


def body_never_empty(
    control: Answer, candidate: Answer, differences: tuple[Difference, ...]
) -> list[Difference]:
    """Keep every difference, and add one when the candidate's body is empty."""
    extra = [Difference("value", "body", "non-empty", "empty")] if not candidate.body else []
    return [*differences, *extra]


def broken(
    control: Answer, candidate: Answer, differences: tuple[Difference, ...]
) -> list[Difference]:
    """Fail as a team's comparator might."""
    return [differences[0]] if 1 / len(differences) else []


def two_arguments(control: Answer, candidate: Answer) -> list[Difference]:
    """Take the wrong parameters."""
    return []


async def asynchronous(
    control: Answer, candidate: Answer, differences: tuple[Difference, ...]
) -> list[Difference]:
    """Be a coroutine, which a comparator cannot be."""
    return []
