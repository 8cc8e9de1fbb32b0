"""Which requests take the fast lane, decided when a request head is complete.

The rules are in ``proxy._fastlane``'s docstring; this module applies them and
builds the lane cycle.  It is one of the modules the compiled build
(``setup.py``) turns into C, so it keeps to what mypyc compiles.
"""

from __future__ import annotations

from typing import Any

import httptools

from legacy_adapter import FastCGIBackend, LegacyRequest
from legacy_adapter._resolve import script_of
from migrated import TimerWheel

from ._app import ProxyApp
from ._errors import RequestError
from ._lane_cycle import LaneCycle, Mirroring
from ._lane_handler import HandlerCycle
from ._migrated import canary_picks_new
from ._request import build_request, request_id_of
from ._routing import Canary, Legacy, Migrated, Route, Shadow
from ._shadowing import sampled
from ._state import State

_LANE_BODY = 64 * 1024


def headers_complete(app: ProxyApp, protocol: Any) -> bool:
    """Start the lane's cycle for the head just parsed; ``False``: the ASGI path takes it.

    Called by the lane's parser hooks (``_lane_parser``).
    """
    cycle = begin(app, protocol)
    if cycle is None:
        return False
    existing = protocol.cycle
    protocol.cycle = cycle
    if existing is None or existing.response_complete:
        cycle.activate()
    else:  # pipelined: uvicorn starts it (run_asgi) when the one before is answered
        protocol.flow.pause_reading()
        protocol.pipeline.appendleft((cycle, protocol.app))
    return True


def response_complete(protocol: Any, wheel: TimerWheel) -> None:
    """uvicorn's ``on_response_complete``, with the idle keep-alive timeout on ``wheel``.

    Compiled, with uvicorn's two helpers it calls written in
    (``_unset_keepalive_if_required``, ``FlowControl.resume_reading``):
    uvicorn 0.54's code, which is why uvicorn is pinned to 0.54.x.
    """
    protocol.server_state.total_requests += 1
    if protocol.transport.is_closing():
        return
    keep_alive = protocol.timeout_keep_alive_task
    if keep_alive is not None:
        keep_alive.cancel()
        protocol.timeout_keep_alive_task = None
    flow = protocol.flow
    if flow.read_paused:
        flow.resume_reading()
    if protocol.pipeline:
        cycle, asgi = protocol.pipeline.pop()
        protocol._start_asgi_task(cycle, asgi)
    else:
        protocol.timeout_keep_alive_task = wheel.call_later(
            protocol.timeout_keep_alive, protocol.timeout_keep_alive_handler
        )


def begin(app: ProxyApp, protocol: Any) -> LaneCycle | None:
    """A lane cycle for the request whose head was just parsed, or ``None`` (ASGI path)."""
    state = app.state
    request = _plain_request(protocol, state)
    if request is None:
        return None
    route, params = state.config.routes.match(request.method, request.server_name, request.path)
    mode = route.mode
    keep_alive = request.http_version != "1.0" and protocol.parser.should_keep_alive()
    if isinstance(mode, Migrated) or (
        isinstance(mode, Canary) and canary_picks_new(route, mode, request)
    ):
        return handler_cycle(app, protocol, route, mode, request, params, keep_alive)
    if not isinstance(mode, Legacy | Shadow | Canary):
        return None
    backend = state.backends[mode.backend]
    if not isinstance(backend, FastCGIBackend):
        return None
    script = script_of(request.path, backend.scripts)  # compiled, unlike backend.script_for
    if script is None:
        return None  # a file, a redirect or a 404: the ASGI path
    cycle = LaneCycle(protocol, state, route, backend, request, script, keep_alive)
    if isinstance(mode, Shadow) and app.shadow is not None:
        mirror = app.shadow.mirror
        if not sampled(route.name, mode.sample_rate, mode.sample_key, request):
            mirror.skip(route.name, "sampled_out")
        elif mirror.full:
            mirror.skip(route.name, "queue_full")
        else:
            cycle.mirror = Mirroring(app.shadow, mode, params, app.resources)
    return cycle


def handler_cycle(
    app: ProxyApp,
    protocol: Any,
    route: Route,
    mode: Migrated | Canary,
    request: LegacyRequest,
    params: dict[str, str],
    keep_alive: bool,
) -> HandlerCycle | None:
    """A cycle for the handler's answer, when every way it can end fits the lane."""
    if mode.reverse_rate > 0:
        return None  # legacy copies for comparison: the ASGI path
    state = app.state
    fallback = None
    if mode.backend is not None and request.method in mode.fallback_methods:
        backend = state.backends[mode.backend]
        if not isinstance(backend, FastCGIBackend):
            return None
        script = script_of(request.path, backend.scripts)
        if script is None:
            return None  # legacy would answer a file, a redirect or a 404: the ASGI path
        fallback = (backend, script)
    return HandlerCycle(
        protocol,
        state,
        route,
        mode,
        request,
        params,
        app.resources,
        keep_alive,
        fallback,
        app.time_limit,
    )


def _plain_request(protocol: Any, state: State) -> LegacyRequest | None:
    """The checked request when it is plain HTTP/1.x with a small, sized body."""
    parser = protocol.parser
    version = parser.get_http_version()
    if version not in ("1.1", "1.0") or parser.should_upgrade() or protocol.expect_100_continue:
        return None
    headers = protocol.headers
    if any(name == b"transfer-encoding" for name, _ in headers):
        return None
    try:
        url: Any = httptools.parse_url(protocol.url)  # Any: its stub says bytes where None comes
    except httptools.HttpParserInvalidURLError:
        return None
    scope = {
        "method": parser.get_method().decode("ascii"),
        "raw_path": url.path,
        "query_string": url.query or b"",
        "headers": headers,
        "client": protocol.client,
        "server": protocol.server,
        "scheme": protocol.scheme,
        "http_version": version,
    }
    try:
        request = build_request(scope, None, state.config.server, request_id_of(headers))
    except RequestError:
        return None  # the ASGI path answers it with its 4xx
    if request.content_length is not None and request.content_length > _LANE_BODY:
        return None
    return request
