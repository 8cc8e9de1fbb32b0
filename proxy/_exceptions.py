"""Errors of the proxy itself (not of a backend).

StranglerError
├── ConfigError        a configuration file is invalid: names the file, key path and reason
└── StartupError       the proxy could not start: names what failed (bind, backend, worker)
"""

from __future__ import annotations


class StranglerError(Exception):
    """Base class of the proxy's own errors."""


class ConfigError(StranglerError):
    """A configuration value was rejected at load time.

    Args:
        source: the file (or ``<string>``) the value came from.
        key: the key path, e.g. ``routes[3].mode``; empty for file-level errors.
        reason: what is wrong, in words a user can act on.
    """

    def __init__(self, source: str, key: str, reason: str) -> None:
        self.source = source
        self.key = key
        self.reason = reason
        where = f"{source}: {key}" if key else source
        super().__init__(f"{where}: {reason}")


class StartupError(StranglerError):
    """The proxy could not start; the message says what failed."""
