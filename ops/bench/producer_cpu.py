"""CPU per message on the path from ``ctx.outbox.emit`` to the acknowledgement.

A batch endpoint emits many messages per request, so the producer's cost per
message decides its speed (``docs/performance.md``, "Batches of events").
This measures that path alone, in one process against a real Tansu broker:

    .venv/bin/python ops/bench/producer_cpu.py [--messages 120000] [--batch 15]

* ``library``: confluent-kafka on its own, as cheap as it gets with a report
  per message: ``produce`` with a delivery callback that counts, then
  ``poll`` until every report is in, a window of ``--concurrency`` requests
  at a time.  The floor strangler's path is measured against.
* ``strangler``: ``--concurrency`` tasks on the event loop (uvloop, or trio
  with ``--runtime trio``), each acting as a migrated request: it emits
  ``--batch`` messages into an ``Outbox`` and awaits the shared producer's
  ``send(..., wait="acked")``, as ``migrated.publish`` does.

Each is run ``--repeat`` times; the median run is reported, as µs of CPU per
message (user + system) split into the thread that produced (the event
loop), librdkafka's threads (``rdk:*``), strangler's own threads (the poll
and replay threads) and the broker's process.  A warm-up run precedes them.
CPU time is read from ``/proc``, so the numbers hold on a busy machine where
a throughput would not.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import anyio
from confluent_kafka import Producer

from migrated import Outbox
from migrated._producer import KafkaProducer
from migrated._producer_settings import ProducerSettings, librdkafka_config
from ops.services import Tansu, child_pids

TICKS = os.sysconf("SC_CLK_TCK")
TOPIC = "producer-cpu"
Split = dict[str, float]
Event = tuple[bytes, str, str]  # value, key, type


def thread_cpu(pid: int) -> Split:
    """CPU seconds so far of ``pid``'s threads, by kind (main, librdkafka, other)."""
    kinds = {"loop": 0.0, "librdkafka": 0.0, "strangler threads": 0.0}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except FileNotFoundError:  # the thread ended meanwhile
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat.rpartition(")")[2].split()
        seconds = (int(fields[11]) + int(fields[12])) / TICKS
        if task.name == str(pid):
            kinds["loop"] += seconds
        elif name.startswith("rdk:"):
            kinds["librdkafka"] += seconds
        else:
            kinds["strangler threads"] += seconds
    return kinds


def process_cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        total += (int(fields[11]) + int(fields[12])) / TICKS
    return total


def events(count: int) -> list[Event]:
    """``count`` (value, key, type) triples shaped like the validator's accepted events."""
    out = []
    for i in range(count):
        value = {
            "user_id": 4711 + i,
            "email": f"user{i}@example.org",
            "age": 20 + i % 60,
            "country": "GB",
            "referral_code": f"ref{i:06d}",
            "marketing_opt_in": i % 2 == 0,
        }
        text = json.dumps(value, separators=(",", ":")).encode()
        out.append((text, f"evt_{i:020x}", "signup"))
    return out


Run = Callable[[], Awaitable[int]]


def library_runs(settings: ProducerSettings, batch: list[Event], args: Any) -> Iterator[Run]:
    """confluent-kafka alone: produce a window of requests, poll until all are reported."""
    producer = Producer(librdkafka_config(settings))
    producer.list_topics(TOPIC, 10)
    reported = [0]
    failed = [0]
    headers_of = {t: [("event-type", t.encode())] for _, _, t in batch}
    window = args.concurrency * args.batch

    def delivered(err: Any, _msg: Any) -> None:
        reported[0] += 1
        failed[0] += err is not None

    async def run() -> int:
        sent = reported[0] = 0
        while sent < args.messages:
            for i in range(window):
                value, key, kind = batch[(sent + i) % len(batch)]
                producer.produce(TOPIC, value, key, -1, delivered, None, 0, headers_of[kind])
            sent += window
            while reported[0] < sent:
                producer.poll(0.01)
        if failed[0]:
            raise SystemExit(f"producer_cpu: {failed[0]} messages failed")
        return sent

    try:
        yield run
    finally:
        producer.flush(10)


@contextlib.asynccontextmanager
async def strangler_runs(
    settings: ProducerSettings, batch: list[Event], args: Any
) -> AsyncIterator[Run]:
    """``concurrency`` migrated requests at a time, each emitting ``batch`` messages, acked."""
    per_task = args.messages // args.concurrency // args.batch

    async with KafkaProducer(settings, background_replay=False) as producer:

        async def request_loop(offset: int) -> None:
            for n in range(per_task):
                outbox = Outbox()
                base = (offset + n) * args.batch
                for i in range(args.batch):
                    value, key, kind = batch[(base + i) % len(batch)]
                    outbox.emit(TOPIC, value, key=key, headers=(("event-type", kind),))
                await producer.send(outbox.messages, wait="acked")

        async def run() -> int:
            async with anyio.create_task_group() as tg:
                for t in range(args.concurrency):
                    tg.start_soon(request_loop, t * per_task)
            return per_task * args.concurrency * args.batch

        yield run


async def measure(run: Run, broker_pids: list[int]) -> tuple[Split, float]:
    """One run: µs per message by thread kind, and messages per second."""
    pid = os.getpid()
    before, broker0, t0 = thread_cpu(pid), process_cpu(broker_pids), time.perf_counter()
    sent = await run()
    after, broker1, t1 = thread_cpu(pid), process_cpu(broker_pids), time.perf_counter()
    split = {k: (after.get(k, 0.0) - before.get(k, 0.0)) / sent * 1e6 for k in after}
    split["broker"] = (broker1 - broker0) / sent * 1e6
    return split, sent / (t1 - t0)


async def measure_path(name: str, run: Run, broker_pids: list[int], repeat: int) -> None:
    """A warm-up run, then ``repeat`` runs; print the median one."""
    await measure(run, broker_pids)
    runs = [await measure(run, broker_pids) for _ in range(repeat)]
    runs.sort(key=lambda r: _worker(r[0]))
    split, rate = runs[len(runs) // 2]
    spread = ", ".join(f"{_worker(r[0]):.2f}" for r in runs)
    print(f"{name:<10} worker {_worker(split):5.2f} µs/msg (runs {spread})  {rate:>9,.0f} msg/s")
    print("           " + "  ".join(f"{k} {v:5.2f}" for k, v in split.items()))


def _worker(split: Split) -> float:
    return sum(v for k, v in split.items() if k != "broker")


async def measure_all(settings: ProducerSettings, args: Any, broker_pids: list[int]) -> None:
    batch = events(997)
    if args.only in (None, "library"):
        runs = library_runs(settings, batch, args)
        await measure_path("library", next(runs), broker_pids, args.repeat)
        runs.close()
    if args.only in (None, "strangler"):
        async with strangler_runs(settings, batch, args) as run:
            await measure_path("strangler", run, broker_pids, args.repeat)


def main() -> None:
    p = argparse.ArgumentParser(prog="producer_cpu", description=__doc__.split("\n\n")[0])
    p.add_argument("--messages", type=int, default=120_000, help="messages per run (120000)")
    p.add_argument("--batch", type=int, default=15, help="messages per request (15)")
    p.add_argument("--concurrency", type=int, default=64, help="requests at a time (64)")
    p.add_argument("--repeat", type=int, default=3, help="runs per path; the median (3)")
    p.add_argument("--runtime", choices=("uvloop", "trio"), default="uvloop")
    p.add_argument("--only", choices=("library", "strangler"), help="measure one path")
    args = p.parse_args()
    backend = "trio" if args.runtime == "trio" else "asyncio"
    options = {} if backend == "trio" else {"loop_factory": _uvloop()}
    with Tansu() as broker, tempfile.TemporaryDirectory() as tmp:
        assert broker.process is not None
        broker_pids = [broker.process.pid, *child_pids(broker.process.pid)]
        settings = ProducerSettings(bootstrap_servers=broker.address, spool_dir=Path(tmp))
        print(
            f"µs of CPU per message (user+system), {args.batch} per request, "
            f"{args.concurrency} requests at a time, {args.messages:,} messages per run, "
            f"median of {args.repeat}; runtime {args.runtime}"
        )
        anyio.run(
            measure_all, settings, args, broker_pids, backend=backend, backend_options=options
        )


def _uvloop() -> Callable[[], asyncio.AbstractEventLoop]:
    import uvloop

    return uvloop.new_event_loop


if __name__ == "__main__":
    main()
