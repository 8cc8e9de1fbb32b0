"""prometheus-client's metric classes, for every metric of the project.

In multiprocess mode (``PROMETHEUS_MULTIPROC_DIR`` set, as in the proxy's
workers) prometheus-client's own value class asks ``os.getpid()`` on every
counter increment and histogram observation, to notice a fork (a dozen
system calls per request), and is interpreted Python on every request.
Its replacement, ``migrated._metric_values.MmapValue``, writes the same
files in the same format, sees a fork through ``os.register_at_fork``, and
is compiled in the production build.

This module swaps prometheus-client's value class before any of the
project's metrics exists, so every metric module imports its classes from
here; two value classes in one process would map the same file twice.
"""

from __future__ import annotations

import os

from prometheus_client import values

if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # single-process values stay prometheus-client's
    from ._metric_values import MmapValue

    values.ValueClass = MmapValue

from prometheus_client import Counter, Gauge, Histogram  # after the swap

__all__ = ["Counter", "Gauge", "Histogram"]
