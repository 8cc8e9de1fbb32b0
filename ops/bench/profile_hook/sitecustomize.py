"""Profile a strangler worker (cProfile, or tracemalloc for ``--soak-trace``) when asked.

bench.py puts this directory on ``PYTHONPATH`` and sets
``STRANGLER_BENCH_PROFILE`` to an output directory; Python imports
``sitecustomize`` at startup, so every ``python -m proxy worker`` process
profiles itself and writes ``worker-<pid>.prof`` when it exits.  Other
processes (the supervisor) are left alone.  Nothing in the proxy knows.

A server that re-raises the SIGTERM it caught once it has shut down (the
uvicorn of a ``--baseline`` build does) ends the process without running
``atexit``; ``signal.raise_signal`` is wrapped so the profile is written first.
"""

import atexit
import cProfile
import os
import signal
import sys

_OUT = os.environ.get("STRANGLER_BENCH_PROFILE")

if _OUT and "worker" in sys.argv[1:2]:
    _profiler = cProfile.Profile()
    _raise_signal = signal.raise_signal
    _dumped = []

    def _dump() -> None:
        if not _dumped:
            _dumped.append(True)
            _profiler.disable()
            _profiler.dump_stats(os.path.join(_OUT, f"worker-{os.getpid()}.prof"))

    def _dump_then_raise(signum: int) -> None:
        _dump()
        _raise_signal(signum)

    atexit.register(_dump)
    signal.raise_signal = _dump_then_raise
    _profiler.enable()

# ``bench.py --soak --soak-trace``: tracemalloc in each worker.  A daemon thread
# waits for ``take-<tag>`` files in the directory and answers each with
# ``worker-<pid>-<tag>.snap``; the bench compares the first and last snapshots.
_TRACE = os.environ.get("STRANGLER_BENCH_TRACEMALLOC")

if _TRACE and "worker" in sys.argv[1:2]:
    import threading
    import time
    import tracemalloc

    def _snapshots() -> None:
        taken = set()
        while True:
            for name in sorted(os.listdir(_TRACE)):
                tag = name.removeprefix("take-")
                if name.startswith("take-") and tag not in taken:
                    taken.add(tag)
                    target = os.path.join(_TRACE, f"worker-{os.getpid()}-{tag}.snap")
                    tracemalloc.take_snapshot().dump(target + ".tmp")
                    os.replace(target + ".tmp", target)
            time.sleep(0.2)

    tracemalloc.start(12)
    threading.Thread(target=_snapshots, name="bench-tracemalloc", daemon=True).start()
