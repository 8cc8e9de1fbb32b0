"""Errors of the shadow package.

ShadowError
├── RulesError      bad comparison rules (also a ValueError; at config load)
└── TriageError     a signature to accept or reopen is not in the store

Comparing never raises: any pair of answers, however malformed, yields a
``Comparison``.  Mirroring, storing and reporting add their branches here.
"""

from __future__ import annotations


class ShadowError(Exception):
    """Base class of errors in the shadow side."""


class RulesError(ShadowError, ValueError):
    """A comparison rule is invalid; ``key`` is its path inside the ``compare`` table.

    The config loader prefixes the file and route (``strangler.toml:
    routes[2].compare.ignore[0]: ...``), so ``key`` names only the rule
    (``ignore[0]``, ``tolerance['/price']``, ``max_body``).
    """

    def __init__(self, key: str, reason: str) -> None:
        self.key = key
        self.reason = reason
        super().__init__(f"{key}: {reason}")


class TriageError(ShadowError):
    """``signature`` cannot be accepted or reopened: the store holds no such signature."""

    def __init__(self, signature: str, reason: str) -> None:
        self.signature = signature
        self.reason = reason
        super().__init__(f"signature {signature}: {reason}")
