"""Which modules the compiled build turns into C, and whether this process runs them.

The request path's per-request work (HTTP parsing and checks, the engine,
routing, script resolution, CGI params, the FastCGI codec and client, the
pool, the request's count and access line, the timer wheel, the handler
runner, and shadow mode's offer, copies, candidate run, mirror and
comparison) is plain typed Python.  ``STRANGLER_COMPILE=1`` at build time
(``setup.py``) compiles these modules with mypyc, unchanged; ``ops/bench/run``
measures both builds.  The list lives here so the build, the worker's startup
log and the tests that check a compiled install read the same one.
``setup.py`` reads this file without importing the package, so it holds data
only.  It names library modules only: the demo's handlers are compiled beside
them by ``ops.compile`` (``ops.compile.DEMO_MODULES``), never shipped.

Per-request classes: ``@dataclass`` writes ``__init__`` as Python source at
import time, so in a compiled module it stays interpreted, and a request makes
about ten such objects (the request, its script, every FastCGI record and
event).  Those classes keep ``@dataclass`` for equality, ``repr`` and
``replace`` but write their ``__init__`` out (``init=False``), which mypyc
compiles; a frozen one sets its fields with ``object.__setattr__``, as the
generated one does.

No ``await`` inside an ``except`` or ``finally`` block of these modules
(``tests/test_build.py`` checks): a compiled coroutine suspended there leaves
the exception it handles set as the thread's current exception, so every other
task on the loop sees it in ``sys.exc_info()`` and chains it to what it raises,
and after a ``finally`` it can stay set (mypyc issues 1114 and 1177).  Catch
into a variable, clean up after the block, then raise it.  Nor ``is`` against
a tuple constant: a compiled tuple is kept unboxed and boxed anew when passed
on, so identity with the constant never holds.  Nor a call inside a slice's
bound: on a ``memoryview`` (or any object mypyc has no type for) the bound is
evaluated twice, so ``view[sock.send(view):]`` sent everything twice; name the
value first (``tests/test_build.py`` checks both rules).
"""

from __future__ import annotations

import importlib
import importlib.machinery

COMPILED_MODULES = (
    "legacy_adapter._types",
    "legacy_adapter._pool",
    "legacy_adapter._asyncio_stream",
    "legacy_adapter._trio_stream",
    "legacy_adapter._fastcgi_records",
    "legacy_adapter._fastcgi_proto",
    "legacy_adapter._fastcgi",
    "legacy_adapter._fastcgi_exchange",
    "legacy_adapter._fastcgi_backend",
    "legacy_adapter._streams",
    "legacy_adapter._transport",
    "legacy_adapter._cgi",
    "legacy_adapter._cgi_response",
    "legacy_adapter._client",
    "legacy_adapter._paths",
    "legacy_adapter._resolve",
    "legacy_adapter._locations",
    "proxy._http1",
    "proxy._body",
    "proxy._protocol",
    "proxy._trio",
    "proxy._cycle",
    "proxy._engine",
    "proxy._request",
    "proxy._request_log",
    "proxy._routing",
    "proxy._canary",
    "proxy._state",
    "proxy._metrics",
    "proxy._accounting",
    "proxy._migrated",
    "migrated._json",
    "migrated._api",
    "migrated._php_json",
    "migrated._wheel",
    "migrated._runner",
    "migrated._producer",
    "proxy._shadow_mode",
    "migrated._incoming",
    "shadow._capture",
    "shadow._candidate",
    "shadow._runtime",
    "shadow._metrics",
    "shadow._model",
    "shadow._mirror",
    "shadow._compare",
    "shadow._sums",
)


def build_kind() -> str:
    """``compiled`` when every listed module is an extension, ``interpreted`` when none is.

    A module that cannot be imported is left out.
    """
    loaded = []
    for name in COMPILED_MODULES:
        try:
            loaded.append(importlib.import_module(name))
        except ImportError:
            continue
    native = [m for m in loaded if _is_extension(getattr(m, "__file__", None) or "")]
    if loaded and len(native) == len(loaded):
        return "compiled"
    return "partly compiled" if native else "interpreted"


def _is_extension(path: str) -> bool:
    return path.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))
