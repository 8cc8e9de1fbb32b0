"""Profile a strangler worker with cProfile when ``bench.py --profile`` asks for it.

bench.py puts this directory on ``PYTHONPATH`` and sets
``STRANGLER_BENCH_PROFILE`` to an output directory; Python imports
``sitecustomize`` at startup, so every ``python -m proxy worker`` process
profiles itself and writes ``worker-<pid>.prof`` when it exits.  Other
processes (the supervisor) are left alone.  Nothing in the proxy knows.

uvicorn re-raises the SIGTERM it caught once it has shut down, which ends the
process without running ``atexit``; ``signal.raise_signal`` is wrapped so the
profile is written first.
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
