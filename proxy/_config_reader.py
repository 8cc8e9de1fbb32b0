"""Strict reading of a parsed TOML document.

Strategy: every table is wrapped in a ``Table`` that knows the file and its key
path.  Values are *taken* with their expected kind; ``finish()`` then rejects
whatever was not taken, so a typo is an error naming the exact key
(``strangler.toml: routes[3].mdoe: unknown key``), never silently ignored.
``${VAR}`` / ``${VAR:-default}`` in strings is replaced from the environment.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from ._exceptions import ConfigError

T = TypeVar("T")
_MISSING: Any = object()
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([KMG]i?B|B|[KMG])?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1000, "kib": 1024, "m": 1024**2}
_SIZE_UNITS |= {"mb": 1000**2, "mib": 1024**2, "g": 1024**3, "gb": 1000**3, "gib": 1024**3}
_DURATION = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|h|d)?\s*$")
_DURATION_UNITS = {"": 1.0, "s": 1.0, "ms": 0.001, "m": 60.0, "h": 3600.0, "d": 86400.0}


class Table:
    """A TOML table being read; tracks which keys were used."""

    def __init__(self, data: Mapping[str, Any], source: str, path: str = "") -> None:
        self.data = data
        self.source = source
        self.path = path
        self._taken: set[str] = set()

    def key(self, name: str) -> str:
        """The full key path of ``name`` inside this table."""
        return f"{self.path}.{name}" if self.path else name

    def error(self, name: str, reason: str) -> ConfigError:
        """A ``ConfigError`` about key ``name`` of this table."""
        return ConfigError(self.source, self.key(name) if name else self.path, reason)

    def has(self, name: str) -> bool:
        """Whether the key is present (does not mark it used)."""
        return name in self.data

    def take(self, name: str, kind: type[T] | tuple[type, ...], default: Any = _MISSING) -> Any:
        """Return the value of ``name`` checked against ``kind``; interpolate env in strings."""
        self._taken.add(name)
        if name not in self.data:
            if default is _MISSING:
                raise self.error(name, "required key is missing")
            return default
        value = self.data[name]
        if isinstance(value, str):
            value = self._interpolate(name, value)
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool) and bool not in kinds:
            raise self.error(name, f"expected {_kind_names(kinds)}, got a boolean")
        if float in kinds and int not in kinds and type(value) is int:
            value = float(value)
        if not isinstance(value, kinds):
            raise self.error(name, f"expected {_kind_names(kinds)}, got {type(value).__name__}")
        return value

    def take_with(self, name: str, parse: Callable[[Any], T], default: Any = _MISSING) -> T:
        """Take a raw value and convert it with ``parse`` (``ValueError`` -> ``ConfigError``)."""
        raw = self.take(name, (str, int, float, bool, list, dict), default)
        if raw is default and default is not _MISSING:
            return raw  # type: ignore[no-any-return]
        try:
            return parse(raw)
        except (ValueError, TypeError) as exc:
            raise self.error(name, str(exc)) from None

    def table(self, name: str, *, required: bool = False) -> Table:
        """Take a sub-table (empty when absent and not required)."""
        data = self.take(name, dict, _MISSING if required else {})
        return Table(data, self.source, self.key(name))

    def tables(self, name: str) -> list[Table]:
        """Take an array of tables (``[[routes]]``)."""
        items = self.take(name, list, [])
        out = []
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise ConfigError(self.source, f"{self.key(name)}[{i}]", "expected a table")
            out.append(Table(item, self.source, f"{self.key(name)}[{i}]"))
        return out

    def strings(self, name: str, default: Any = _MISSING) -> tuple[str, ...]:
        """Take a list of strings (a single string is accepted as a list of one)."""
        value = self.take(name, (list, str), default)
        if isinstance(value, str):
            return (value,)
        for i, item in enumerate(value):
            if not isinstance(item, str):
                raise ConfigError(self.source, f"{self.key(name)}[{i}]", "expected a string")
        return tuple(self._interpolate(name, v) for v in value)

    def finish(self) -> None:
        """Reject keys nobody took: they are typos or unsupported settings."""
        unknown = sorted(set(self.data) - self._taken)
        if unknown:
            raise self.error(unknown[0], "unknown key" + _suggest(unknown[0], self._taken))

    def _interpolate(self, name: str, value: str) -> str:
        def substitute(m: re.Match[str]) -> str:
            var, default = m.group(1), m.group(2)
            if var in os.environ:
                return os.environ[var]
            if default is not None:
                return default
            raise self.error(name, f"environment variable {var} is not set")

        return _ENV.sub(substitute, value)


def parse_size(value: object) -> int:
    """Parse ``1048576``, ``"64MiB"``, ``"10MB"``, ``"512k"`` into bytes."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    m = _SIZE.match(value) if isinstance(value, str) else None
    if not m:
        raise ValueError(f"not a size: {value!r} (use bytes or e.g. '64MiB')")
    return int(float(m.group(1)) * _SIZE_UNITS[(m.group(2) or "").lower()])


def parse_duration(value: object) -> float:
    """Parse seconds (``5``, ``0.5``) or ``"500ms"``, ``"30s"``, ``"2m"``, ``"1h"``, ``"7d"``."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    m = _DURATION.match(value) if isinstance(value, str) else None
    if not m:
        raise ValueError(f"not a duration: {value!r} (use seconds or e.g. '500ms', '2m')")
    return float(m.group(1)) * _DURATION_UNITS[m.group(2) or ""]


def one_of(*choices: str) -> Callable[[object], str]:
    """A parser accepting only the given strings."""

    def parse(value: object) -> str:
        if value not in choices:
            raise ValueError(f"unknown value {value!r}; expected one of {', '.join(choices)}")
        return str(value)

    return parse


def _kind_names(kinds: tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "a boolean"}
    names |= {list: "a list", dict: "a table"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _suggest(name: str, known: set[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, sorted(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
