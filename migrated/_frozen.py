"""Deep-freezing a cache's parsed data, once per load, so no handler can change it.

A snapshot is shared by every request of a worker; one handler mutating it
would change what every later request sees, differently per worker.  So the
parsed data is rebuilt immutable before it is swapped in: a ``dict`` becomes
a ``types.MappingProxyType`` over a dict of frozen values (a read-only view
nothing else holds), a ``list`` a ``tuple``, a ``set`` a ``frozenset``, a
``bytearray`` ``bytes``.  Reads cost what they cost on the plain containers;
the rebuild happens in the parse thread, once per changed version.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any


def freeze(value: Any) -> Any:
    """``value`` with every dict, list, set and bytearray in it replaced by a read-only one."""
    if isinstance(value, dict | MappingProxyType):
        return MappingProxyType({key: freeze(item) for key, item in value.items()})
    if isinstance(value, list | tuple):
        return tuple([freeze(item) for item in value])
    if isinstance(value, set | frozenset):
        return frozenset(value)  # members are hashable, so already immutable
    if isinstance(value, bytearray):
        return bytes(value)
    return value


def thaw(value: Any) -> Any:
    """A mutable deep copy of frozen data (plain dicts and lists), for a handler that edits."""
    if isinstance(value, Mapping):
        return {key: thaw(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [thaw(item) for item in value]
    return value
