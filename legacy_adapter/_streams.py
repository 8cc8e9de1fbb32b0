"""Small async byte streams: an answer's body from chunks already in memory.

Kept apart from ``_types`` because it is an async generator, which the
compiled build (``setup.py``) leaves to the interpreter.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence


async def iter_bytes(chunks: Sequence[bytes]) -> AsyncIterator[bytes]:
    """An async iterator over fixed chunks (small bodies, tests)."""
    for chunk in chunks:
        yield chunk
