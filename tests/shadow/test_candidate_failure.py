"""A candidate that raises: logged, compared as a failure, stored under its own signature."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import anyio
import pytest
from structlog.testing import capture_logs

from legacy_adapter import Backend, LegacyRequest, iter_bytes
from migrated import Request, Response
from shadow import _codec as codec
from shadow import _metrics as shadow_metrics
from shadow._candidate import Candidate
from shadow._capture import Capture
from shadow._compare import compare
from shadow._mirror import Mirror
from shadow._model import Answer, ShadowRecord, Skip
from shadow._noise import NoiseModel
from shadow._redact import REDACTED, redact_text
from shadow._report import build_report
from shadow._report_text import render_table
from shadow._rules import CompareRules
from shadow._runtime import ShadowRuntime
from shadow._store import ShadowStore

RULES = CompareRules()


class _Kept:
    """A sink that keeps what it is offered and says when a record came."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self.arrived = anyio.Event()

    def offer(self, item: Any) -> bool:
        self.items.append(item)
        self.arrived.set()
        return True


def _request() -> LegacyRequest:
    return LegacyRequest(
        method="GET",
        raw_path=b"/price",
        path="/price",
        query_string=b"",
        headers=[(b"host", b"example.com")],
        client=("127.0.0.1", 5555),
        server=("127.0.0.1", 80),
        scheme="http",
        http_version="1.1",
        request_id="rid-7",
        body=iter_bytes(()),
        content_length=None,
    )


def _lookup_price(request: Request, ctx: Any) -> Response:
    raise KeyError("password=hunter2")


async def _run_failing_candidate() -> tuple[ShadowRecord, list[Skip], list[dict[str, Any]]]:
    skips: list[Skip] = []
    sink = _Kept()
    mirror = Mirror(concurrency=1, queue_size=4, on_skip=skips.append)
    runtime = ShadowRuntime(mirror, cast(Any, sink), NoiseModel(), noise_rate=0.0)
    legacy = Capture(1024)
    legacy.head(200, [(b"content-type", b"application/json")])
    legacy.add(b'{"price": 3}')
    candidate = Candidate("tests:lookup_price", _lookup_price, timeout=5.0)
    backend = cast(Backend, None)  # never asked: no noise sample
    with capture_logs() as logs:
        async with anyio.create_task_group() as tg:
            await tg.start(mirror.run)
            runtime.offer_shadow(
                "/price", candidate, backend, _request(), {}, Capture(1024), legacy, RULES
            )
            with anyio.fail_after(5):
                await sink.arrived.wait()
            tg.cancel_scope.cancel()
    [record] = sink.items
    return record, skips, logs


@pytest.mark.anyio
async def test_a_raising_candidate_is_logged_and_recorded_as_a_failure() -> None:
    """The failure is a log line with request id and route, and a record with its traceback."""
    errors = ("/price", "error")
    counted = shadow_metrics.COMPARED.get(errors, 0)
    record, skips, logs = await _run_failing_candidate()
    assert shadow_metrics.COMPARED.get(errors, 0) == counted + 1
    [line] = [x for x in logs if x["event"] == "shadow candidate failed"]
    assert (line["request_id"], line["route"], line["handler"]) == (
        "rid-7",
        "/price",
        "tests:lookup_price",
    )
    assert line["error"] == f"KeyError: 'password={REDACTED}'"
    failed = record.mirrored.candidate
    assert failed.error == "KeyError: 'password=hunter2'"
    assert "_lookup_price" in (failed.traceback or "")
    assert [(d.kind, d.where) for d in record.comparison.differences] == [
        ("error", "error:KeyError")
    ]
    assert skips == []


@pytest.mark.anyio
async def test_a_stored_failure_is_an_example_with_a_redacted_traceback(tmp_path: Path) -> None:
    """The store counts the error and keeps the example under its signature, secrets hidden."""
    record, _, _ = await _run_failing_candidate()
    store = ShadowStore.open(tmp_path / "shadow.db")
    store.write([record])
    [route] = store.routes()
    [signature] = store.signatures()
    [example] = store.examples(signature.signature)
    report = build_report(store)
    store.close()
    stored = example.record.mirrored.candidate
    assert (route.candidate_errors, route.mismatched) == (1, 1)
    assert "hunter2" not in (stored.error or "") + (stored.traceback or "")
    assert "_lookup_price" in (stored.traceback or "")
    assert report["signatures"][0]["example"]["error"] == f"KeyError: 'password={REDACTED}'"
    assert "candidate raised KeyError" in render_table(report)


def _failed(error: str) -> Answer:
    return Answer(500, (), b"", 0.01, error, "Traceback ...")


def test_each_kind_of_exception_is_its_own_signature() -> None:
    """Two KeyErrors share a signature; a TypeError and a status change each get another."""
    ok = Answer(200, (), b"{}", 0.01)
    signatures = [
        compare(ok, _failed("KeyError: 'a'"), RULES, route="/r").signature,
        compare(ok, _failed("KeyError: 'b'"), RULES, route="/r").signature,
        compare(ok, _failed("TypeError: bad"), RULES, route="/r").signature,
        compare(ok, Answer(500, (), b"{}", 0.01), RULES, route="/r").signature,
    ]
    assert signatures[0] == signatures[1]
    assert len(set(signatures)) == 3


def test_records_written_before_tracebacks_still_decode() -> None:
    """An encoded answer without a traceback field reads back with none."""
    answer = Answer(200, (), b"", 0.1, "boom")
    data = codec._answer_out(answer)
    del data["traceback"]
    assert codec._answer_in(data) == answer


@pytest.mark.parametrize(
    ("text", "hidden"),
    [
        pytest.param(
            "ValueError: password='hunter2'", "ValueError: password='[redacted]'", id="quoted"
        ),
        pytest.param('{"api_key": "k1", "n": 1}', '{"api_key": "[redacted]", "n": 1}', id="json"),
        pytest.param(
            "Authorization: Bearer eyJ.x", "Authorization: Bearer [redacted]", id="bearer"
        ),
        pytest.param("card_number=4111 ok", "card_number=[redacted] ok", id="configured"),
    ],
)
def test_free_text_loses_secret_values_and_stays_so(text: str, hidden: str) -> None:
    """Values after sensitive names and bearer credentials are hidden, idempotently."""
    assert redact_text(text, ["card_number"]) == hidden
    assert redact_text(hidden, ["card_number"]) == hidden
