"""Finding a handler from its ``package.module:function`` reference."""

from __future__ import annotations

import importlib
import inspect

from ._api import Handler
from ._exceptions import HandlerNotFound


def load_handler(reference: str) -> Handler:
    """Import ``package.module:function`` and check it is a handler function.

    A handler is an ``async def`` or an inline (plain) ``def`` taking
    ``(request, ctx)``; a generator, a class or another callable object is not.

    Raises:
        HandlerNotFound: the module cannot be imported, has no such attribute,
            or the attribute is not a function taking (request, ctx).
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
    if not _is_handler_function(handler):
        raise HandlerNotFound(f"{reference!r}: must be an 'async def' or 'def' function")
    if _arity(handler) not in (None, 2):
        raise HandlerNotFound(f"{reference!r}: must take (request, ctx)")
    return handler  # type: ignore[no-any-return]


def _is_handler_function(value: object) -> bool:
    if inspect.iscoroutinefunction(value):
        return True
    if inspect.isgeneratorfunction(value) or inspect.isasyncgenfunction(value):
        return False
    # A function compiled with mypyc is a builtin, as a C function is.
    return inspect.isfunction(value) or inspect.isbuiltin(value)


def _arity(handler: object) -> int | None:
    """How many parameters ``handler`` takes, or ``None`` when it cannot be told.

    A function compiled with mypyc (a team's handlers can be, as strangler's
    request path is) shows an empty signature; its parameters are then checked
    by the compiled code itself when it is called.
    """
    parameters = inspect.signature(handler).parameters  # type: ignore[arg-type]
    if not parameters and not inspect.isfunction(handler):
        return None
    return len(parameters)
