"""The answer's framing, sans-IO: what both drivers write for a head and a body."""

from __future__ import annotations

from proxy._http1 import LAST_CHUNK, RequestHead, Response


def _response(method: str = "GET", version: str = "1.1") -> Response:
    head = RequestHead(method, b"/", [(b"host", b"a")], version, True, False)
    return Response(head, keep_alive=True)


def test_a_body_past_its_length_is_cut_and_the_connection_kept() -> None:
    response = _response()
    response.start(200, [(b"content-length", b"5")], closing=False)
    assert response.body(b"abc") == b"abc"
    assert response.body(b"defgh") == b"de"
    assert response.body(b"ijk") == b""
    assert response.end() == b""
    assert response.keep_alive
    assert not response.short


def test_a_body_short_of_its_length_closes_the_connection() -> None:
    response = _response()
    response.start(200, [(b"content-length", b"10")], closing=False)
    assert response.body(b"abc") == b"abc"
    response.end()
    assert response.short
    assert not response.keep_alive


def test_bytes_sent_by_sendfile_count_toward_the_length() -> None:
    response = _response()
    response.start(200, [(b"content-length", b"10")], closing=False)
    response.sent(7)
    assert response.body(b"abcdef") == b"abc"
    response.end()
    assert response.keep_alive
    assert not response.short


def test_a_whole_answer_is_held_to_its_length() -> None:
    cut = _response().whole(200, [(b"content-length", b"2")], b"abcd", closing=False)
    assert cut.endswith(b"\r\n\r\nab")
    assert b"connection: close" not in cut
    short = _response()
    data = short.whole(200, [(b"content-length", b"9")], b"abcd", closing=False)
    assert data.endswith(b"\r\nconnection: close\r\n\r\nabcd")
    assert short.short
    assert not short.keep_alive


def test_without_a_length_the_body_is_chunked_and_unbounded() -> None:
    response = _response()
    head = response.start(200, [], closing=False)
    assert b"transfer-encoding: chunked" in head
    assert response.body(b"abc") == b"3\r\nabc\r\n"
    assert response.end() == LAST_CHUNK
    assert response.keep_alive


def test_a_head_answer_keeps_its_length_and_sends_no_body() -> None:
    response = _response("HEAD")
    data = response.whole(200, [(b"content-length", b"1000")], b"", closing=False)
    assert b"content-length: 1000" in data
    assert data.endswith(b"\r\n\r\n")
    assert response.keep_alive
    assert not response.short
    streamed = _response("HEAD")
    streamed.start(200, [(b"content-length", b"1000")], closing=False)
    assert streamed.body(b"abc") == b""
    streamed.end()
    assert streamed.keep_alive
    assert not streamed.short


def test_a_length_that_is_no_number_bounds_nothing_and_is_not_doubled() -> None:
    streamed = _response()
    head = streamed.start(200, [(b"content-length", b"x1")], closing=False)
    assert b"transfer-encoding" not in head
    assert streamed.body(b"abc") == b"abc"
    whole = _response().whole(200, [(b"content-length", b"x1")], b"abc", closing=False)
    assert whole.count(b"content-length") == 1


def test_body_bytes_count_what_the_client_is_sent() -> None:
    streamed = _response()
    streamed.start(200, [(b"content-length", b"5")], closing=False)
    streamed.body(b"abc")
    streamed.sent(1)
    streamed.body(b"defg")
    assert streamed.body_bytes == 5
    whole = _response()
    whole.whole(200, [(b"content-length", b"2")], b"abcd", closing=False)
    assert whole.body_bytes == 2
    chunked = _response()
    chunked.start(200, [], closing=False)
    chunked.body(b"abc")
    assert chunked.body_bytes == 3  # the framing is not counted
