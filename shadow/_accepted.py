"""Accepting a signature, and taking it back: the store's one triage write.

Strategy: an acceptance is a row of ``accepted`` per route the signature was
seen on, with the engineer's reason and the time; the readers set its
records aside (``_triage``).  These run inside one write transaction on the
writer's connection, so the check that the signature exists and the write
see the same store even while the proxy's workers write.
"""

from __future__ import annotations

import sqlite3

from ._exceptions import TriageError


def accept_signature(db: sqlite3.Connection, signature: str, reason: str, at: float) -> list[str]:
    """Accept ``signature`` on every route it was seen on (a new reason replaces the old).

    Returns:
        Those routes.

    Raises:
        TriageError: the reason is empty, or the store has no such signature.
    """
    if not reason.strip():
        raise TriageError(signature, "accepting needs a reason")
    rows = db.execute(
        "SELECT DISTINCT route FROM signatures WHERE signature = ? ORDER BY route", (signature,)
    ).fetchall()
    if not rows:
        raise TriageError(signature, "not in the store (see the report's signatures)")
    routes = [route for (route,) in rows]
    accepted = [(route, signature, reason.strip(), at) for route in routes]
    db.executemany("INSERT OR REPLACE INTO accepted VALUES (?, ?, ?, ?)", accepted)
    return routes


def reopen_signature(db: sqlite3.Connection, signature: str) -> list[str]:
    """Take back the acceptance of ``signature``; the routes it was accepted on.

    Raises:
        TriageError: the signature was not accepted.
    """
    cursor = db.execute("DELETE FROM accepted WHERE signature = ? RETURNING route", (signature,))
    routes = sorted(route for (route,) in cursor.fetchall())
    if not routes:
        raise TriageError(signature, "was not accepted")
    return routes
