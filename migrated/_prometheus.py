"""prometheus-client's metric classes, for every metric of the project.

In multiprocess mode (``PROMETHEUS_MULTIPROC_DIR`` set, as in the proxy's
workers) prometheus-client asks ``os.getpid()`` on every counter increment
and histogram observation, to notice a fork and reopen its files: a request
updates about a dozen values, so that was a dozen system calls per request.
Here the process id is read once and refreshed by ``os.register_at_fork``
(a forked child then gets files of its own, as prometheus-client would do).

This module swaps prometheus-client's value class before any of the
project's metrics exists, so every metric module imports its classes from
here; two value classes in one process would map the same file twice.
"""

from __future__ import annotations

import os

from prometheus_client import values


def _pin_process_id() -> None:
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return  # single-process values never ask for the process id
    current = [os.getpid()]

    def refresh() -> None:
        current[0] = os.getpid()

    os.register_at_fork(after_in_child=refresh)
    pinned = values.MultiProcessValue(process_identifier=lambda: current[0])  # type: ignore[no-untyped-call]
    values.ValueClass = pinned


_pin_process_id()

from prometheus_client import Counter, Gauge, Histogram  # noqa: E402  (after the swap)

__all__ = ["Counter", "Gauge", "Histogram"]
