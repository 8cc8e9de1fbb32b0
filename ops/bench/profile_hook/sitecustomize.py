"""Profile a strangler worker with cProfile when ``bench.py --profile`` asks for it.

bench.py puts this directory on ``PYTHONPATH`` and sets
``STRANGLER_BENCH_PROFILE`` to an output directory; Python imports
``sitecustomize`` at startup, so every ``python -m proxy worker`` process
profiles itself and writes ``worker-<pid>.prof`` when it exits.  Other
processes (the supervisor) are left alone.  Nothing in the proxy knows.
"""

import atexit
import cProfile
import os
import sys

_OUT = os.environ.get("STRANGLER_BENCH_PROFILE")

if _OUT and "worker" in sys.argv[1:2]:
    _profiler = cProfile.Profile()

    def _dump() -> None:
        _profiler.disable()
        _profiler.dump_stats(os.path.join(_OUT, f"worker-{os.getpid()}.prof"))

    atexit.register(_dump)
    _profiler.enable()
