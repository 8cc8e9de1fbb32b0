"""The lane protocol's per-request callbacks, compiled.

uvicorn's httptools protocol is interpreted Python, and the parser calls it
back several times per request: ``on_message_begin``, ``on_url``,
``on_header`` for every header, ``on_headers_complete``, ``on_body``,
``on_message_complete``; the transport calls ``data_received``, and the
cycle ``on_response_complete``.  Compiled, with the scope below no longer
built, they take 2,000 fewer instructions on the benchmark's four-header
request (counted with callgrind, ``ops/bench/lane_cpu.py``), and the saving
grows with each header.  ``install`` gives a lane connection a
``ParserHooks`` that the parser calls instead, and binds the protocol's
``data_received`` and ``on_response_complete`` to it; this module is one of
those the compiled build (``setup.py``) turns into C.

The hooks do what uvicorn 0.54's do (which is why uvicorn is pinned to
0.54.x), with three differences:

* the request head goes to the lane first (``_lane_begin.headers_complete``);
  only a request the lane leaves to the ASGI path gets uvicorn's
  ``on_headers_complete``;
* uvicorn builds the request's ASGI scope (a dictionary, with a copy of the
  app state) when the message begins.  The lane does not use it, so it is
  built by uvicorn's own ``on_message_begin`` only for a request the lane
  leaves to the ASGI path, with the URL and headers already parsed kept;
* a WebSocket handshake, which the proxy answers as plain HTTP (uvicorn runs
  with ``ws="none"``), is not followed by uvicorn's warning that a WebSocket
  library is missing.
"""

from __future__ import annotations

from typing import Any

import httptools
from uvicorn.protocols.http.flow_control import HIGH_WATER_LIMIT
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ._app import ProxyApp
from ._lane_begin import headers_complete, response_complete


def install(app: ProxyApp, protocol: HttpToolsProtocol) -> None:
    """Give ``protocol`` (just made, not yet connected) a parser calling compiled hooks."""
    hooks = ParserHooks(app, protocol)
    parser = httptools.HttpRequestParser(hooks)
    # As uvicorn does: answer the first of pipelined requests when the client closes.
    parser.set_dangerous_leniencies(lenient_data_after_close=True)  # httptools 0.6.3
    protocol.parser = parser
    # Bound to the instance: the transport and the cycles look them up on it.
    protocol.data_received = hooks.data_received  # type: ignore[method-assign]
    protocol.on_response_complete = hooks.response_complete  # type: ignore[method-assign]


class ParserHooks:
    """One connection's parser callbacks: uvicorn's, on its ``HttpToolsProtocol``."""

    def __init__(self, app: ProxyApp, protocol: Any) -> None:
        self.app = app
        self.protocol = protocol
        self.headers: list[tuple[bytes, bytes]] = []  # the protocol's, for the request being read

    def data_received(self, data: bytes) -> None:
        protocol = self.protocol
        keep_alive = protocol.timeout_keep_alive_task  # uvicorn's _unset_keepalive_if_required
        if keep_alive is not None:
            keep_alive.cancel()
            protocol.timeout_keep_alive_task = None
        try:
            protocol.parser.feed_data(data)
        except httptools.HttpParserError:
            message = "Invalid HTTP request received."
            protocol.logger.warning(message)
            protocol.send_400_response(message)
        except httptools.HttpParserUpgrade:
            # The proxy serves no WebSockets (uvicorn's ``ws="none"``): the request
            # was answered as plain HTTP, as nginx answers it in front of PHP-FPM,
            # without uvicorn's warning that a WebSocket library is missing.
            if protocol._should_upgrade():
                protocol.handle_websocket_upgrade()

    def on_message_begin(self) -> None:
        protocol = self.protocol
        protocol.url = b""
        protocol.expect_100_continue = False
        protocol.headers = self.headers = []

    def on_url(self, url: bytes) -> None:
        protocol = self.protocol
        protocol.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name == b"expect" and value.lower() == b"100-continue":
            self.protocol.expect_100_continue = True
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        protocol = self.protocol
        if headers_complete(self.app, protocol):
            return
        url, expect_100_continue = protocol.url, protocol.expect_100_continue
        HttpToolsProtocol.on_message_begin(protocol)  # the scope, with an empty header list
        protocol.url, protocol.expect_100_continue = url, expect_100_continue
        protocol.headers.extend(self.headers)  # the scope's list
        self.headers = protocol.headers
        HttpToolsProtocol.on_headers_complete(protocol)

    def _ignored(self) -> bool:
        """uvicorn's test of whether body bytes and the message's end go to the cycle."""
        protocol = self.protocol
        if protocol.parser.should_upgrade() and protocol._should_upgrade():
            return True  # a WebSocket upgrade: there may be no cycle
        return bool(protocol.cycle.response_complete)

    def on_body(self, body: bytes) -> None:
        if self._ignored():
            return
        cycle = self.protocol.cycle
        cycle.body += body
        if len(cycle.body) > HIGH_WATER_LIMIT:
            self.protocol.flow.pause_reading()
        cycle.message_event.set()

    def on_message_complete(self) -> None:
        if self._ignored():
            return
        cycle = self.protocol.cycle
        cycle.more_body = False
        cycle.message_event.set()

    def response_complete(self) -> None:
        """uvicorn's ``on_response_complete``; the idle keep-alive timeout on the worker's wheel."""
        wheel = self.app.timers
        if wheel is None:
            HttpToolsProtocol.on_response_complete(self.protocol)
        else:
            response_complete(self.protocol, wheel)
