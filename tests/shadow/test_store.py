"""The SQLite shadow store, the codec and redaction: records in, summaries out."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import threading
import time
from pathlib import Path

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shadow import _codec as codec
from shadow._codec import Item
from shadow._model import Answer, Comparison, Difference, Mirrored, ShadowRecord, Skip
from shadow._redact import REDACTED, redact
from shadow._store import ShadowStore, _setup_lock
from shadow._store_read import StoreReader, bucket_of, bucket_value, minute_of, percentile
from shadow._store_write import Sums

# The start of the current minute: tests that add a few seconds stay in one minute.
NOW = float(minute_of(time.time()))
DIFF = Difference("value", "body/total", "10", "10.0")


def record(
    route: str = "/orders",
    *,
    at: float = NOW,
    signature: str = "",
    seconds: tuple[float, float] = (0.010, 0.020),
    noise: bool = False,
    error: str | None = None,
    headers: tuple[tuple[str, str], ...] = (),
    body: bytes = b"",
    request_id: str = "r1",
) -> ShadowRecord:
    """A synthetic record; a non-empty ``signature`` makes it a mismatch."""
    control = Answer(200, (("content-type", "application/json"),), b'{"total":10}', seconds[0])
    candidate = Answer(
        500 if error else 200,
        (),
        b'{"total":10.0}' if signature else control.body,
        seconds[1],
        error,
    )
    mirrored = Mirrored(
        route, request_id, at, "POST", route, "a=1", headers, body, control, candidate
    )
    comparison = Comparison(
        matched=not signature,
        differences=(DIFF,) if signature else (),
        noise=(Difference("header", "header:date", "x", "y"),) if noise else (),
        signature=signature,
    )
    return ShadowRecord(mirrored, comparison)


def open_store(tmp_path: Path, **options: object) -> ShadowStore:
    """A store in the test's directory."""
    return ShadowStore.open(tmp_path / "shadow.db", **options)  # type: ignore[arg-type]


_text = st.text(max_size=20)
_bytes = st.one_of(st.binary(max_size=40), _text.map(str.encode))
_answers = st.builds(
    Answer,
    status=st.integers(100, 599),
    headers=st.lists(st.tuples(_text, _text), max_size=3).map(tuple),
    body=_bytes,
    seconds=st.floats(0, 100),
    error=st.none() | _text,
)


@given(
    control=_answers,
    candidate=_answers,
    body=_bytes,
    at=st.floats(0, 2e9),
    matched=st.booleans(),
    skip=st.builds(Skip, _text, st.sampled_from(["timeout", "queue_full"]), st.floats(0, 2e9)),
)
def test_codec_round_trips(
    control: Answer, candidate: Answer, body: bytes, at: float, matched: bool, skip: Skip
) -> None:
    """Any record or skip decodes to an equal value, from one line of JSON."""
    mirrored = Mirrored("r", "id", at, "GET", "/", "", (("a", "b"),), body, control, candidate)
    item = ShadowRecord(mirrored, Comparison(matched, (DIFF,), (), "" if matched else "s"))
    for value in (item, skip):
        data = codec.encode(value)
        assert b"\n" not in data
        assert codec.decode(data) == value


@pytest.mark.parametrize("data", [b"nope", b"[]", b'{"v":2}', b'{"v":1,"type":"x"}'])
def test_codec_rejects_garbage(data: bytes) -> None:
    """Bytes that are not a version-1 record raise CodecError."""
    with pytest.raises(codec.CodecError):
        codec.decode(data)


def test_redact_hides_headers_fields_query_and_differences() -> None:
    """Secret headers keep their shape, configured JSON fields and query params are hidden."""
    headers = (
        ("Authorization", "Bearer abc"),
        ("Cookie", "sid=1; theme=dark"),
        ("X-Api-Key", "k"),
        ("Accept", "text/html"),
    )
    body = json.dumps({"user": {"Password": "hunter2", "name": "ann"}, "cards": []}).encode()
    original = record(headers=headers, body=body, signature="s")
    original = ShadowRecord(
        dataclasses.replace(original.mirrored, query="api_key=zz&page=2"),
        Comparison(False, (Difference("value", "body/user/password", "a", "b"),), (), "s"),
    )
    cleaned = redact(original, fields=["password"])
    m = cleaned.mirrored
    assert dict(m.request_headers) == {
        "Authorization": f"Bearer {REDACTED}",
        "Cookie": f"sid={REDACTED}; theme={REDACTED}",
        "X-Api-Key": REDACTED,
        "Accept": "text/html",
    }
    assert json.loads(m.request_body)["user"] == {"Password": REDACTED, "name": "ann"}
    assert "zz" not in m.query
    assert "page=2" in m.query
    assert cleaned.comparison.differences[0].control == REDACTED
    assert redact(cleaned, fields=["password"]) == cleaned


@pytest.mark.anyio
async def test_round_trip_counts_signatures_and_redacted_examples(tmp_path: Path) -> None:
    """Offered records come back as route totals, signatures and redacted examples."""
    secret = (("authorization", "Basic c2VjcmV0"),)
    body = b'{"card_number": "4111"}'
    items: list[Item] = [
        record(),
        record(noise=True),
        record(signature="sig1", headers=secret, body=body, request_id="bad"),
        record(signature="sig1", error="boom"),
        Skip("/orders", "timeout", NOW),
        Skip("/orders", "timeout", NOW),
        Skip("/other", "sampled_out", NOW),
    ]
    store = open_store(tmp_path, redact_fields=["card_number"])
    async with anyio.create_task_group() as tg:
        await tg.start(store.run)
        assert all(store.offer(item) for item in items)
        await store.aclose()
    with StoreReader.open(tmp_path / "shadow.db") as reader:
        orders, other = reader.routes()
        [signature] = reader.signatures()
        examples = reader.examples("sig1")
    assert (orders.compared, orders.matched, orders.mismatched) == (4, 2, 2)
    assert (orders.noise_only, orders.candidate_errors, orders.skips) == (1, 1, {"timeout": 2})
    assert (other.compared, other.skips) == (0, {"sampled_out": 1})
    assert (signature.route, signature.signature, signature.count) == ("/orders", "sig1", 2)
    assert signature.differences == (DIFF,)
    first = examples[0].record.mirrored
    assert first.request_headers == (("authorization", f"Basic {REDACTED}"),)
    assert json.loads(first.request_body) == {"card_number": REDACTED}


@pytest.mark.anyio
async def test_writes_in_batches(tmp_path: Path) -> None:
    """What accumulated while the writer was idle is written batch_size at a time."""
    store = open_store(tmp_path, batch_size=500, queue_size=2000)
    for _ in range(1200):
        store.offer(record())
    async with anyio.create_task_group() as tg:
        await tg.start(store.run)
        await store.aclose()
    assert (store.written, store.batches) == (1200, 3)
    with StoreReader.open(tmp_path / "shadow.db") as reader:
        assert reader.routes()[0].compared == 1200


def test_skips_are_tallied_into_one_item_per_route_reason_and_second(tmp_path: Path) -> None:
    """A flood of skips takes one queue slot until the writer takes it, then a new one."""
    store = open_store(tmp_path, queue_size=3)
    for i in range(1000):
        assert store.offer(Skip("/orders", "queue_full", NOW + (i % 2) / 2))
    store.offer(Skip("/orders", "timeout", NOW))
    store.offer(Skip("/orders", "timeout", NOW + 1))  # a second on
    assert store.offer(record())
    assert store.offer(record())  # the tally and two records fill the queue
    assert not store.offer(record())
    first = store._take(10)
    assert store.offer(Skip("/other", "sampled_out", NOW))  # a new tally once taken
    second = store._take(10)
    assert sorted((i for i in first if isinstance(i, Skip)), key=lambda s: (s.reason, s.at)) == [
        Skip("/orders", "queue_full", minute_of(NOW), 1000),
        Skip("/orders", "timeout", minute_of(NOW), 1),
        Skip("/orders", "timeout", NOW + 1, 1),
    ]
    assert second == [Skip("/other", "sampled_out", minute_of(NOW), 1)]
    store.write(first + second)
    store.close()
    with StoreReader.open(tmp_path / "shadow.db") as reader:
        orders, other = reader.routes()
    assert (orders.skips, other.skips) == ({"queue_full": 1000, "timeout": 2}, {"sampled_out": 1})


def test_matches_of_a_route_with_its_examples_are_counted_without_queueing(
    tmp_path: Path,
) -> None:
    """Once a route keeps its matched examples, its matches add up in place.

    A queue of three then takes any number of them, and they are read back
    as compared and matched with their latencies; mismatches still queue
    whole, and another route's matches too until it has its examples.
    """
    store = open_store(tmp_path, queue_size=3, examples_per_signature=2)
    store.write([record(request_id=f"e{i}") for i in range(2)])
    accepted = [store.offer(record(seconds=(0.010, 0.040))) for _ in range(100)]
    assert store.offer(record(signature="s"))
    assert store.offer(record("/other"))
    assert all(accepted)
    assert store.dropped == 0
    queued = store._take(10)
    assert [type(item) for item in queued] == [ShadowRecord, ShadowRecord]  # the tally opened
    store.write(queued)
    assert store.written == 2 + 100 + 2
    store.close()
    with StoreReader.open(tmp_path / "shadow.db") as reader:
        orders, other = reader.routes()
        examples = reader.examples("", limit=10)
    assert (orders.compared, orders.matched, orders.mismatched) == (103, 102, 1)
    assert (other.compared, other.matched) == (1, 1)
    kept = sorted((e.record.mirrored.route, e.record.mirrored.request_id) for e in examples)
    assert kept == [("/orders", "e0"), ("/orders", "e1"), ("/other", "r1")]
    assert orders.candidate_p50 == pytest.approx(0.040, rel=0.2)


@pytest.mark.anyio
@pytest.mark.parametrize("closing", ["aclose", "close"])
async def test_matches_only_counted_are_written_at_close(tmp_path: Path, closing: str) -> None:
    """A tally holding matches and no skip is still written when the store closes."""
    store = open_store(tmp_path, examples_per_signature=1)
    store.write([record(request_id="example")])
    for _ in range(10):
        assert store.offer(record())
    if closing == "aclose":
        await store.aclose()  # the writer never ran: aclose itself drains the queue
    else:
        store.close()
    with StoreReader.open(tmp_path / "shadow.db") as reader:
        [orders] = reader.routes()
    assert (orders.compared, orders.matched) == (11, 11)


def test_pruning_lets_matches_queue_again_for_new_examples(tmp_path: Path) -> None:
    """After retention ran, matched records are queued whole until examples are complete."""
    store = open_store(tmp_path, examples_per_signature=1)
    store.write([record(request_id="old")])
    assert store.offer(record(request_id="counted"))
    assert store._take(10) == []  # counted in the tally, which holds no record
    store.prune(NOW + 30 * 86400.0)  # past the retention: the example goes
    assert store.offer(record(request_id="new"))
    [queued] = store._take(10)
    assert isinstance(queued, ShadowRecord)
    store.write([queued])
    store.close()
    with StoreReader.open(tmp_path / "shadow.db") as reader:
        assert [e.record.mirrored.request_id for e in reader.examples("")] == ["new"]


@given(
    first=st.lists(st.sampled_from(["", "a", "b"]), max_size=8),
    second=st.lists(st.sampled_from(["", "a", "b"]), max_size=8),
)
def test_sums_merged_are_the_sums_of_both(first: list[str], second: list[str]) -> None:
    """Matched records summed as offered add up as if the writer had summed them."""

    def records(signatures: list[str], offset: float) -> list[ShadowRecord]:
        return [record(signature=s, at=NOW + offset + i) for i, s in enumerate(signatures)]

    def summed(records: list[ShadowRecord]) -> Sums:
        sums = Sums()
        for one in records:
            sums.add_record(one, ())
        return sums

    merged = summed(records(first, 0.0))
    merged.merge(summed(records(second, 30.0)))
    assert merged == summed(records(first, 0.0) + records(second, 30.0))


@pytest.mark.anyio
async def test_full_queue_drops_and_counts(tmp_path: Path) -> None:
    """offer() refuses without blocking when the queue is full; aclose still flushes it."""
    store = open_store(tmp_path, queue_size=3)
    accepted = [store.offer(record()) for _ in range(5)]
    assert accepted == [True, True, True, False, False]
    assert store.dropped == 2
    await store.aclose()
    assert store.written == 3
    assert not store.offer(record())


def test_opening_waits_for_another_worker_setting_the_store_up(tmp_path: Path) -> None:
    """A worker opening the store while another creates it waits, instead of "locked"."""
    path = tmp_path / "shadow.sqlite"
    other = sqlite3.connect(path, isolation_level=None)  # the other worker, mid-setup
    opened: list[object] = []
    with _setup_lock(path):
        other.execute("BEGIN IMMEDIATE")
        other.execute("CREATE TABLE early (a)")
        starting = threading.Thread(target=lambda: opened.append(_open_or_error(path)))
        starting.start()
        starting.join(0.3)
        assert opened == []  # waiting for the setup, not failed
        other.execute("COMMIT")
    starting.join(10)
    other.close()
    [store] = opened
    assert isinstance(store, ShadowStore)
    store.close()


def _open_or_error(path: Path) -> object:
    try:
        return ShadowStore.open(path)
    except sqlite3.Error as exc:
        return exc


def test_retention_prunes_old_rows_and_caps_records(tmp_path: Path) -> None:
    """Rows older than retention_days go; at most max_records examples and signatures stay."""
    old = NOW - 10 * 86400
    store = open_store(tmp_path, retention_days=7, max_records=3, examples_per_signature=1)
    store.write([record(at=old, signature="old"), Skip("/orders", "timeout", old)])
    store.write([record(at=NOW + i, signature=f"s{i}") for i in range(5)])
    store.close()
    with StoreReader.open(tmp_path / "shadow.db") as reader:
        [summary] = reader.routes()
        signatures = reader.signatures()
        records = list(reader.records())
    assert (summary.compared, summary.skips) == (5, {})
    assert [s.signature for s in signatures] == ["s4", "s3", "s2"]
    assert [r.comparison.signature for r in records] == ["s2", "s3", "s4"]


def test_examples_are_capped_per_signature(tmp_path: Path) -> None:
    """Only the first examples_per_signature records of a signature are kept in full."""
    store = open_store(tmp_path, examples_per_signature=2)
    store.write([record(signature="s", request_id=f"r{i}", at=NOW + i) for i in range(4)])
    store.write([record(request_id="ok") for _ in range(3)])
    ids = [e.record.mirrored.request_id for e in store.examples("s")]
    matched = store.examples("")
    store.close()
    assert ids == ["r0", "r1"]
    assert len(matched) == 2


def test_timeline_and_since(tmp_path: Path) -> None:
    """Rows are summed into the timeline's buckets; since drops what came before it."""
    t0 = 1_700_000_040.0  # a multiple of 120 s
    store = open_store(tmp_path, retention_days=1e6)
    store.write([record(at=t0), record(at=t0 + 61, signature="s")], now=t0)
    store.write([record(at=t0 + 130), record(at=t0 + 300)], now=t0)
    points = store.timeline("/orders", bucket=120, since=None)
    late = store.routes(since=t0 + 125)
    late_signatures = store.signatures(since=t0 + 125)
    store.close()
    assert [(p.start - t0, p.compared, p.matched) for p in points] == [
        (0, 2, 1),
        (120, 1, 1),
        (240, 1, 1),
    ]
    assert late[0].compared == 2
    assert late_signatures == []


def test_since_is_exact_to_the_second_within_a_minute(tmp_path: Path) -> None:
    """Records, skips and signatures before ``since`` in its own minute are left out."""
    store = open_store(tmp_path, retention_days=1e6)
    early = [record(at=NOW + 10, signature="s"), Skip("/orders", "timeout", NOW + 10)]
    late = [
        record(at=NOW + 40, signature="s"),
        record(at=NOW + 41),
        Skip("/orders", "timeout", NOW + 40),
    ]
    store.write([*early, *late], now=NOW)
    routes = store.routes(since=NOW + 40.5)
    signatures = store.signatures(since=NOW + 40.5)
    store.close()
    assert [(r.compared, r.mismatched, r.skips) for r in routes] == [(2, 1, {"timeout": 1})]
    assert [(s.signature, s.count) for s in signatures] == [("s", 1)]


def test_a_store_keyed_by_minutes_still_reads(tmp_path: Path) -> None:
    """Rows an older store keyed by the minute's start are counted from that minute."""
    store = open_store(tmp_path, retention_days=1e6)
    store.close()
    db = sqlite3.connect(tmp_path / "shadow.db")
    with db:
        db.execute("INSERT INTO route_minutes VALUES ('/old', ?, 3, 2, 1, 0, 0)", (int(NOW),))
    db.close()
    with StoreReader.open(tmp_path / "shadow.db") as reader:
        whole, after = reader.routes(since=NOW), reader.routes(since=NOW + 30)
    assert [(r.route, r.compared, r.matched) for r in whole] == [("/old", 3, 2)]
    assert after == []


def test_latency_percentiles(tmp_path: Path) -> None:
    """p50 and p99 per side come from the log buckets, within their 10 % resolution."""
    store = open_store(tmp_path)
    store.write([record(seconds=(0.010, 0.100)) for _ in range(98)])
    store.write([record(seconds=(1.0, 2.0)) for _ in range(2)])
    [summary] = store.routes()
    store.close()
    assert summary.control_p50 == pytest.approx(0.010, rel=0.1)
    assert summary.control_p99 == pytest.approx(1.0, rel=0.1)
    assert summary.candidate_p50 == pytest.approx(0.100, rel=0.1)
    assert summary.candidate_p99 == pytest.approx(2.0, rel=0.1)


@pytest.mark.parametrize("seconds", [0.00005, 0.0003, 0.01, 0.5, 7.0, 150.0])
def test_bucket_value_is_close_to_its_members(seconds: float) -> None:
    """Any duration in the covered range maps to a bucket whose value is within 10 %."""
    assert bucket_value(bucket_of(seconds)) == pytest.approx(max(seconds, 1e-4), rel=0.1)


def test_percentile_of_nothing_is_zero() -> None:
    """An empty histogram has percentile 0."""
    assert percentile({}, 0.5) == 0.0


def test_reader_sees_writes_while_the_store_is_open(tmp_path: Path) -> None:
    """A reader's own connection sees committed batches while the writer stays open."""
    store = open_store(tmp_path)
    with StoreReader.open(tmp_path / "shadow.db") as reader:
        assert reader.routes() == []
        store.write([record()])
        assert reader.routes()[0].compared == 1
    store.close()


def test_reader_needs_an_existing_store(tmp_path: Path) -> None:
    """Opening a missing store for reading fails instead of creating it."""
    with pytest.raises(FileNotFoundError):
        StoreReader.open(tmp_path / "missing.db")
    assert not (tmp_path / "missing.db").exists()
