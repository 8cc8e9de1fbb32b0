"""Signatures name a cause of mismatch: stable, short, blind to indices and values."""

from __future__ import annotations

from shadow._model import Difference
from shadow._signature import signature


def test_no_differences_no_signature() -> None:
    """A comparison without differences has the empty signature."""
    assert signature("r", []) == ""


def test_order_and_repetition_do_not_matter() -> None:
    """The signature depends on the set of (kind, place), not on order or count."""
    a = Difference("value", "body/a", "1", "2")
    b = Difference("header", "header:location", "/x", "/y")
    assert signature("r", [a, b]) == signature("r", [b, a, a])


def test_signature_is_stable() -> None:
    """The same input gives the same 12 hex digits across runs and versions."""
    found = [Difference("value", "body/items/7/price", "1", "2")]
    assert signature("orders", found) == "eb84965320a5"
