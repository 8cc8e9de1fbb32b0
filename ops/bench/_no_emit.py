"""The batch route's handler without its messages, for ``cpu_per_request.py --batch --no-emit``.

The handler runs whole, emitting into an outbox of its own that is dropped
afterwards: the difference in CPU between the two routes is what the
messages cost from the outbox to the broker's acknowledgement (building them
is in both; ``ops/bench/producer_cpu.py`` measures ``emit`` too).  The outbox
is a real ``Outbox``: a compiled handler checks the type of ``ctx.outbox``.
"""

from __future__ import annotations

from typing import Any

from migrated import Context, Outbox, Request, Response
from ops.demo.handlers.batch import validate_batch


class _WithoutMessages:
    """``ctx`` with an outbox of its own, which nobody publishes."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self.outbox = Outbox()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ctx, name)


def validate_batch_without_messages(request: Request, ctx: Context) -> Response:
    """``validate_batch``, emitting nothing."""
    return validate_batch(request, _WithoutMessages(ctx))  # type: ignore[arg-type]
