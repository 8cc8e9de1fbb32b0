"""A route's own comparator: Python for what the rules cannot express.

A route's ``compare`` table may name ``comparator = "package.module:function"``.
The function is imported once, when the config is loaded (a bad reference is
a config error naming the file and the key), and called on every comparison
of the route after the rules have run::

    def compare_prices(control: Answer, candidate: Answer,
                       differences: tuple[Difference, ...]) -> Iterable[Difference]:
        ...

It receives both answers and the differences the rules found, and returns
the differences that count: it may drop some (two spellings the rules
cannot equate), keep them, or add its own (a check the rules cannot make).
Learned noise is applied to what it returns.  Comparing never raises: a
comparator that raises or returns something else than differences yields
one ``error`` difference at ``comparator:<exception type>``, its own
signature, so a broken comparator is seen and never silently matches.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterable

from ._exceptions import RulesError
from ._model import Answer, Difference

Comparator = Callable[[Answer, Answer, tuple[Difference, ...]], Iterable[Difference]]
"""``(control, candidate, differences found by the rules)`` to the differences that count."""


def load_comparator(reference: object) -> Comparator:
    """Import ``package.module:function`` and check it can be a comparator.

    Raises:
        RulesError: with key ``comparator``: not a reference, not importable,
            no such function, or not a plain function of three parameters.
    """
    if not isinstance(reference, str):
        raise RulesError("comparator", f"expected 'package.module:function', got {reference!r}")
    module_name, _, attr = reference.partition(":")
    if not module_name or not attr:
        raise RulesError("comparator", f"expected 'package.module:function', got {reference!r}")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # any import-time error of the team's module
        raise RulesError("comparator", f"cannot import {module_name}: {exc!r}") from None
    function = getattr(module, attr, None)
    if function is None:
        raise RulesError("comparator", f"module {module_name} has no {attr!r}")
    if not callable(function) or inspect.iscoroutinefunction(function) or inspect.isclass(function):
        raise RulesError("comparator", f"{reference!r} must be a plain 'def' function")
    try:
        inspect.signature(function).bind(None, None, ())
    except TypeError:
        raise RulesError(
            "comparator", f"{reference!r} must take (control, candidate, differences)"
        ) from None
    except ValueError:
        pass  # no signature to read (a compiled function): its call will tell
    return function  # type: ignore[no-any-return]


def run_comparator(
    comparator: Comparator,
    control: Answer,
    candidate: Answer,
    differences: tuple[Difference, ...],
) -> list[Difference]:
    """The differences that count according to ``comparator``, or why it failed."""
    try:
        kept = list(comparator(control, candidate, differences))
        if not all(isinstance(d, Difference) for d in kept):
            raise TypeError("returned something other than Difference values")
    except Exception as exc:  # a team's code: its failure is shown, never raised
        name = type(exc).__name__
        return [Difference("error", f"comparator:{name}", "", f"{name}: {exc}"[:120])]
    return kept
