"""The fake FastCGI server speaks to ``ClientConnection`` over real sockets, on trio and asyncio."""

from __future__ import annotations

import json

import anyio
import pytest
from anyio.abc import SocketStream

from legacy_adapter._fastcgi_proto import (
    OVERLOADED,
    ClientConnection,
    ClientEvent,
    ConnectionClosed,
    EndRequest,
    ProtocolError,
    ResponseBody,
    ResponseHead,
)
from tests.fakes.fastcgi_server import Behaviour, fake_fastcgi_server

pytestmark = pytest.mark.anyio

PARAMS = [(b"SCRIPT_FILENAME", b"/app/index.php"), (b"REQUEST_METHOD", b"POST")]


async def _exchange(
    stream: SocketStream, conn: ClientConnection, request_id: int = 1
) -> list[ClientEvent]:
    """Send one request with a small body and collect events up to EndRequest."""
    request = conn.start_request(PARAMS, keep_conn=True, request_id=request_id)
    await stream.send(request + conn.send_stdin(b"a=1") + conn.end_stdin())
    events: list[ClientEvent] = []
    while not events or not isinstance(events[-1], EndRequest):
        event = conn.next_event()
        if event is not None:
            events.append(event)
            continue
        try:
            conn.receive_data(await stream.receive())
        except anyio.EndOfStream:
            conn.receive_data(b"")
    return events


async def _run(behaviour: Behaviour) -> list[ClientEvent]:
    async with (
        fake_fastcgi_server(behaviour) as (host, port),
        await anyio.connect_tcp(host, port) as stream,
    ):
        with anyio.fail_after(5):
            return await _exchange(stream, ClientConnection())


async def test_ok_echoes_params_and_body_on_a_kept_connection() -> None:
    """The ok server answers 200 with the params as JSON, twice on one connection."""
    async with (
        fake_fastcgi_server("ok") as (host, port),
        await anyio.connect_tcp(host, port) as stream,
    ):
        conn = ClientConnection()
        for request_id in (1, 2):
            with anyio.fail_after(5):
                events = await _exchange(stream, conn, request_id)
            head, *bodies, end = events
            assert head == ResponseHead(200, b"OK", [(b"content-type", b"application/json")])
            body = json.loads(b"".join(e.data for e in bodies if isinstance(e, ResponseBody)))
            assert body == {"params": {k.decode(): v.decode() for k, v in PARAMS}, "stdin": "a=1"}
            assert end == EndRequest(0, 0)
            assert conn.can_reuse
            conn.reset()


async def test_overloaded_ends_the_request_with_its_status() -> None:
    """The overloaded server refuses with END_REQUEST(OVERLOADED) and no head."""
    assert await _run("overloaded") == [EndRequest(0, OVERLOADED)]


@pytest.mark.parametrize(
    ("behaviour", "error"),
    [
        pytest.param("garbage", ProtocolError, id="garbage"),
        pytest.param("die_mid_response", ConnectionClosed, id="die_mid_response"),
    ],
)
async def test_broken_servers_raise_protocol_errors(
    behaviour: Behaviour, error: type[ProtocolError]
) -> None:
    """Garbage is a protocol error; closing mid-response is ConnectionClosed."""
    with pytest.raises(error):
        await _run(behaviour)


async def test_hang_never_answers() -> None:
    """The hang server reads the request and then stays silent."""
    with anyio.move_on_after(0.3) as scope:
        await _run("hang")
    assert scope.cancelled_caught
