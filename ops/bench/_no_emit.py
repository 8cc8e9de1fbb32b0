"""The batch route's handler without its messages, for ``cpu_per_request.py --batch --no-emit``.

The handler runs whole, but what it emits goes nowhere: the difference in CPU
between the two routes is what the messages cost, from ``emit`` to the
broker's acknowledgement.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from migrated import Context, Request, Response
from ops.demo.handlers.batch import validate_batch


class _NoOutbox:
    """An outbox that drops what is emitted."""

    def emit(
        self,
        topic: str,
        value: bytes | str,
        *,
        key: bytes | str | None = None,
        headers: Iterable[tuple[str, bytes | str]] = (),
    ) -> None:
        pass


class _WithoutMessages:
    """``ctx`` with an outbox that drops every message."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self.outbox = _NoOutbox()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ctx, name)


def validate_batch_without_messages(request: Request, ctx: Context) -> Response:
    """``validate_batch``, emitting nothing."""
    return validate_batch(request, _WithoutMessages(ctx))  # type: ignore[arg-type]
