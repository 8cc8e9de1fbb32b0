"""Finding a handler from its ``package.module:function`` reference."""

from __future__ import annotations

import importlib
import inspect

from ._api import Handler
from ._exceptions import HandlerNotFound


def load_handler(reference: str) -> Handler:
    """Import ``package.module:function`` and check it is an async function.

    Raises:
        HandlerNotFound: the module cannot be imported, has no such attribute,
            or the attribute is not an ``async def`` taking (request, ctx).
    """
    module_name, _, attr = reference.partition(":")
    if not module_name or not attr:
        raise HandlerNotFound(f"{reference!r}: expected 'package.module:function'")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # any import-time error of the user's module
        raise HandlerNotFound(f"{reference!r}: cannot import {module_name}: {exc!r}") from None
    handler = getattr(module, attr, None)
    if handler is None:
        raise HandlerNotFound(f"{reference!r}: module {module_name} has no {attr!r}")
    if not inspect.iscoroutinefunction(handler):
        raise HandlerNotFound(f"{reference!r}: must be an 'async def' function")
    if len(inspect.signature(handler).parameters) != 2:
        raise HandlerNotFound(f"{reference!r}: must take (request, ctx)")
    return handler  # type: ignore[no-any-return]
