"""The fast lane: plain legacy requests to PHP-FPM on the uvicorn runtime, without ASGI.

Why it exists: on a pass-through the ASGI path (scope, messages, a task, the
app's coroutines and the backend's async iterators) costs several times the CPU
of the proxying itself, and on a machine shared with PHP-FPM that CPU is taken
from PHP (``ops/bench/cpu_per_request.py`` measures both; the README quotes
them).  So the uvicorn runtime's HTTP protocol takes the common request
straight from the parser to a callback-driven FastCGI exchange
(``legacy_adapter.LaneExchange``) and writes the answer itself.

What takes the lane is decided when the request head is complete; everything
else goes through the ASGI app exactly as before:

* HTTP/1.x without Upgrade, ``Expect`` or ``Transfer-Encoding``, a body of at
  most 64 KiB declared by Content-Length (and within ``max_body_size``), a
  request ``build_request`` accepts;
* a route in ``legacy`` or ``shadow`` mode, or the legacy share of a
  ``canary`` route, whose backend is FastCGI (a sampled shadow request is
  offered to the mirror as the ASGI path does), and a path that resolves to
  a PHP script (files, redirects and 404s are the ASGI path's);
* or a ``migrated`` route, or the new share of a ``canary`` route, without
  reverse shadow, whose fallback (when the method allows one) is a PHP script
  on a FastCGI backend: ``HandlerCycle`` (``_lane_handler``) runs the handler.

The answer is the ASGI path's by construction: the same request checks, route
table, params, codec, error pages, response headers, metrics and access log.
A whole answer goes out in one write with a Content-Length; a streamed one is
sent chunked as PHP flushes it, reading from PHP-FPM only while the client's
socket takes more.  ``LaneCycle`` (``_lane_cycle``) stands in for uvicorn's
request cycle, so keep-alive, pipelining, timeouts and graceful shutdown stay
uvicorn's (an idle connection's keep-alive timeout runs on the worker's
``TimerWheel``: a loop timer per answer was 3 µs of it).  ``server.fast_lane
= false`` turns the lane off.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ._app import ProxyApp
from ._lane_cycle import LaneCycle
from ._lane_parser import install


def lane_protocol(app: ProxyApp) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol with the fast lane in front of ``app``.

    The parser's callbacks, ``data_received`` and ``on_response_complete`` are
    compiled (``_lane_parser``); the head's check is ``_lane_begin``'s.
    """

    class LaneProtocol(HttpToolsProtocol):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            install(app, self)

        def connection_lost(self, exc: Exception | None) -> None:
            super().connection_lost(exc)  # drops the parser, which holds the hooks
            # The hooks' bound methods: without them the protocol and its hooks
            # no longer point at each other, and reference counting frees both.
            self.__dict__.pop("data_received", None)
            self.__dict__.pop("on_response_complete", None)

        def resume_writing(self) -> None:
            super().resume_writing()
            if isinstance(self.cycle, LaneCycle):
                self.cycle.writable()

    return LaneProtocol
