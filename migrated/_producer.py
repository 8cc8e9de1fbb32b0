"""The worker's shared Kafka producer: confluent-kafka behind an anyio API.

Strategy.  One ``confluent_kafka.Producer`` per worker process, created in
``start()`` (after the fork).  librdkafka runs delivery callbacks only inside
``poll()``, so a dedicated poll thread calls it in a loop, collects the
delivery reports of one ``poll()`` call, and hands them all to the event loop
with ONE ``anyio.from_thread.run_sync(..., token=...)``: one loop wake-up per
batch, not per message (``ops/bench/cpu_per_request.py --migrated --runtime
trio`` splits the route's CPU between the loop and the threads).  Everything
that touches our state runs on the loop; the poll thread only moves reports
and survives any exception.

On asyncio the loop polls instead.  confluent-kafka takes the GIL for every
delivery report it serves, so a poll thread serving reports while the loop
runs Python waits for the GIL once per message (the ``futex`` calls that
``strace -c`` counts), and produce to settle takes longer under load than on
an idle loop (``ops/bench/cpu_per_request.py --migrated`` splits the route's
CPU by thread).  So librdkafka writes to a pipe when it has something to
serve (``QueueWakeup``), and the loop, watching the pipe, calls ``poll(0)``
itself (``_serve_on_loop``); the poll thread then only records spool work,
and polls only to replace a fenced producer.  Either side may serve a report
(the queue of reports is a ``deque``, safe to share); each report is
settled once, on the loop.  trio, ``[kafka] wakeup = "poll"``, or a
librdkafka whose handle is not recognised, keeps the poll thread polling;
``start`` logs which (``kafka_wakeup``, with the path and why).

A batch endpoint emits many messages per request, so the cost per message
is kept close to confluent-kafka's own (``ops/bench/producer_cpu.py``
measures both): a request's messages share one callback, its batch, so a
message gets an object of its own only if its delivery fails; the delivery
metrics are counted per send, not per message; and sends of several
messages made in one loop turn are produced together as it ends
(``_hold``; on trio, when the scheduler runs the run's token callbacks), so
librdkafka fills larger batches and wakes its broker thread less often.

No task group: ``start`` and ``aclose`` may be called from different cancel
scopes (the proxy starts resources inside its lifespan task group and closes
them after it).  Work that must outlive a request runs as calls from our own
threads into the loop: after handing over a batch, the poll thread runs the
spool bookkeeping it produced (``from_thread.run``: spool failures, mark acks
done), and a replay thread triggers ``replay()`` every ``replay_interval``.

Nothing accepted is lost (at-least-once):
- ``wait="acked"``: ``send`` returns once every message is acked, or, for
  those that failed (timeout, error, purge at shutdown), once they are
  appended to the spool (fsynced).  The spooling is driven by the poll
  thread, not the waiting request, so a cancelled request still spools them.
- ``wait="queued"``: the messages are appended to the spool *before* they are
  produced; ``send`` returns after the fsync.  Acks mark them done.
- Spooled messages are resent by the replay thread (at start, then every
  ``replay_interval`` while some are pending and a broker answers) and by
  ``replay_spool`` (the ``strangler spool replay`` command).
Shutdown keeps the promise whatever the broker does (``stop_waiting``, which
the worker calls as SIGTERM arrives, and ``aclose`` if it was not called):
what librdkafka holds gets a short grace to be acked, then it is purged, and
the purged messages of ``acked`` sends are spooled like any failure, which
answers their senders; from then on a send is answered once its messages
are spooled, without waiting for a broker.  A frozen broker therefore
delays the answers by the grace, never by ``message_timeout``.
A message may therefore reach Kafka twice (acked but the mark was lost, or
timed out locally after the broker wrote it); consumers dedupe by key.

A request's messages are all-or-nothing where possible: ``QueueFull`` is raised
before anything is spooled or produced when the local queue lacks room for the
whole batch.  If librdkafka still refuses a message midway (a race with other
requests, or the byte limit), the ones already produced cannot be taken back,
so the rest are spooled and the batch counts as accepted.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final, Literal, Protocol, Self

import anyio
import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread
import sniffio
import structlog
from confluent_kafka import KafkaError, KafkaException, Producer

from . import _metrics as metrics
from ._api import Message
from ._exceptions import (
    AuthenticationFailed,
    BrokerUnreachable,
    ProducerClosed,
    ProducerError,
    ProducerStartupError,
    QueueFull,
    TLSHandshakeFailed,
)
from ._producer_settings import ProducerSettings, librdkafka_config
from ._rdkafka_io import QueueWakeup
from ._spool import Position, Spool

log = structlog.get_logger(__name__)

WaitFor = Literal["acked", "queued"]
Progress = Callable[[int, int], None]
_PROBE_TIMEOUT: Final = 2.0
# Delivery errors saying this producer id is unusable (seen from Tansu after an
# in-flight timeout bumped the epoch): only a new producer (new id) recovers.
_PRODUCER_STATE_ERRORS: Final = frozenset(
    {
        KafkaError._FATAL,
        KafkaError.PRODUCER_FENCED,
        KafkaError.INVALID_PRODUCER_EPOCH,
        KafkaError.UNKNOWN_PRODUCER_ID,
        KafkaError.OUT_OF_ORDER_SEQUENCE_NUMBER,
    }
)
_PURGE_GRACE: Final = 5.0
_ANY_PARTITION: Final = -1  # librdkafka's RD_KAFKA_PARTITION_UA: the partitioner picks (by key)


class _Done(Protocol):
    """Told once that a batch's last message is settled."""

    def set(self) -> None: ...


class _Signal(_Done, Protocol):
    """A ``_Done`` the sender waits for (``anyio.Event``'s shape)."""

    async def wait(self) -> Any: ...


class _FutureSignal:
    """A ``_Signal`` on a known asyncio loop: a bare future.

    ``anyio.Event`` on asyncio is an ``asyncio.Event``, whose ``wait`` asks
    asyncio for the running loop (a ``getpid`` system call on Python 3.11).
    A cancelled waiter cancels the future; ``set`` then does nothing.
    """

    __slots__ = ("_future",)

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._future: asyncio.Future[None] = loop.create_future()

    def set(self) -> None:
        if not self._future.done():
            self._future.set_result(None)

    async def wait(self) -> None:
        await self._future


Acked = Callable[[ProducerError | None], object]
"""A ``submit``'s callback: ``None`` once its messages are safe, else the loss."""


class _Acknowledgement:
    """The ``_Done`` of a ``submit``: calls its callback once, with the loss if there was one.

    Called as the last delivery report is settled, with no future and no
    loop hop between: a future's done-callback would be scheduled with
    ``call_soon``, a future and a loop turn more for every ``submit``.
    """

    __slots__ = ("_acked", "batch")

    def __init__(self, acked: Acked) -> None:
        self._acked: Acked | None = acked
        self.batch: _Batch | None = None

    def set(self) -> None:
        acked, self._acked = self._acked, None
        if acked is None:
            return
        lost = self.batch.lost if self.batch is not None else 0
        try:
            acked(ProducerError(_lost(lost)) if lost else None)
        except Exception:  # the caller's bug: the reports after it are still settled
            log.exception("kafka_submit_callback_failed")


def _not_started(_function: Callable[[], object]) -> None:
    raise ProducerClosed


def _lost(count: int) -> str:
    return f"{count} message(s) could not be delivered nor spooled"


@dataclass(eq=False, slots=True, init=False)  # __init__ written out: see proxy._build
class _Batch:
    """The messages of one ``send`` (or one replay chunk) and who waits for them.

    Messages that are not in the spool (an ``acked`` send) have the batch
    itself as their delivery callback: a report files the batch in the
    producer's ``reports`` once per acknowledged message, so a message costs
    no object of its own until its delivery fails (``_Ticket.failed`` finds
    it in ``messages`` by its value, which is why a batch whose values are
    not all different takes a ticket per message instead).  The delivery
    metrics are counted per batch, as it finishes.
    """

    size: int
    remaining: int
    done: _Done
    acked: int
    lost: int  # neither delivered nor spooled (the disk failed)
    started: float
    generation: int  # which producer instance its messages were given to
    reports: deque[_Report]
    messages: tuple[Message, ...]  # when the batch is its messages' callback
    by_value: dict[bytes, Message] | None  # made at the first failure
    refusable: bool  # a held ``send``: refused whole, its sender raises QueueFull
    full: bool  # it was
    produced: int  # how many were given to librdkafka when producing failed midway

    def __init__(self, size: int, done: _Done, reports: deque[_Report]) -> None:
        self.size = self.remaining = size
        self.done, self.acked, self.lost = done, 0, 0
        self.started, self.generation, self.reports = time.monotonic(), 0, reports
        self.messages, self.by_value = (), None
        self.refusable, self.full, self.produced = False, False, 0

    def __call__(self, err: KafkaError | None, msg: Any) -> None:
        if err is None:
            self.reports.append(self)
            return
        try:
            ticket = _Ticket.failed(self, err, msg)
        except Exception:  # never out of librdkafka's callback: the report would be dropped
            log.exception("kafka_failed_report_unreadable")
            ticket = _Ticket(Message("", b""), self, None, self.generation, self.reports)
            ticket.error = err
        self.reports.append(ticket)

    def message_of(self, value: bytes) -> Message | None:
        """The message of this batch whose value is ``value`` (the values are all different)."""
        if self.by_value is None:
            self.by_value = {m.value: m for m in self.messages}
        return self.by_value.get(value)

    def resolve(self, acked: bool) -> None:
        self.remaining -= 1
        self.acked += acked
        if self.remaining == 0:
            if self.acked:
                metrics.PRODUCER_ACKED.inc(self.acked)
            if self.acked == self.size:
                metrics.PRODUCER_DELIVERY.observe(time.monotonic() - self.started)
            self.done.set()


@dataclass(eq=False, slots=True, init=False)
class _Ticket:
    """One message that needs its own report: spooled ones, and failed ones.

    A spooled message (``queued`` sends, replay) has its ticket as its
    delivery callback, which files itself with its error in the producer's
    ``reports`` (settled on the loop); the ticket being the callback spares
    a ``partial`` per message.  A message produced with its batch as the
    callback gets a ticket only when its delivery fails, made from the
    report's message so that it can be spooled.
    """

    message: Message
    batch: _Batch
    position: Position | None  # where it is in the spool, if it is there
    generation: int  # which producer instance it was given to
    reports: deque[_Report]
    error: KafkaError | None  # its delivery report's, once reported

    def __init__(
        self,
        message: Message,
        batch: _Batch,
        position: Position | None,
        generation: int,
        reports: deque[_Report],
    ) -> None:
        self.message, self.batch, self.position = message, batch, position
        self.generation, self.reports = generation, reports
        self.error = None

    @staticmethod
    def failed(batch: _Batch, err: KafkaError, msg: Any) -> _Ticket:
        """The ticket of a batch's message whose delivery failed, found by the report's value.

        The report's own message lacks the headers, so the batch's is spooled.
        """
        value = msg.value() or b""
        found = batch.message_of(value)
        if found is not None:
            message = found
        else:  # cannot happen (_produce_acked): keep what the report has
            log.error("kafka_report_unmatched", topic=msg.topic())
            headers = msg.headers()
            message = Message(msg.topic(), value, msg.key(), tuple(headers) if headers else ())
        ticket = _Ticket(message, batch, None, batch.generation, batch.reports)
        ticket.error = err
        return ticket

    def __call__(self, err: KafkaError | None, _msg: Any) -> None:
        self.error = err
        self.reports.append(self)


_Report = _Batch | _Ticket  # one acknowledged message of a batch, or a ticket's report
_Work = tuple[list[Position], list[_Ticket]]  # (acked positions, failures to spool)


class KafkaProducer:
    """One worker's Kafka producer (see the module docstring).

    Use ``await start()`` ... ``await aclose()`` (from any task of the same event
    loop), or ``async with KafkaProducer(settings) as producer``.

    Args:
        settings: connection, batching and spool settings.
        spool: a spool already claimed (``replay_spool``); by default ``start``
            claims a free slot of ``settings.spool_dir``.
        background_replay: resend the spool at start and every ``replay_interval``.
    """

    def __init__(
        self,
        settings: ProducerSettings,
        *,
        spool: Spool | None = None,
        background_replay: bool = True,
    ) -> None:
        self.settings = settings
        self._spool_given = spool
        self._background_replay = background_replay
        self._running = False
        self._closing = False  # stop_waiting began: sends go to the spool only
        self._in_flight: set[Position] = set()
        self._reports: deque[_Report] = deque()  # reported; settled on the loop
        # The loop's side of polling (asyncio only; see the module docstring).
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wakeup: QueueWakeup | None = None  # set while the loop polls
        self._loop_work: deque[_Work] = deque()  # spool work for the poll thread to record
        self._held: list[tuple[Sequence[Message], _Batch]] = []  # submitted this loop turn
        self._held_count = 0
        self._call_soon: Callable[[Callable[[], object]], object] = _not_started
        self._thread_wake = threading.Event()
        self._startup_errors: list[KafkaError] = []
        self._fatal: KafkaError | None = None
        self._generation = 0
        self._unmarked = 0  # acked positions not yet marked done in the spool
        self._stop_polling = threading.Event()
        self._stop_replaying = threading.Event()
        self._last_logged: tuple[int, float] = (0, 0.0)

    @property
    def spooled(self) -> int:
        """Messages in this producer's spool not yet acknowledged (for readiness/metrics)."""
        return self._left() if hasattr(self, "_spool") else 0

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- lifecycle -------------------------------------------------------------

    async def start(self) -> None:
        """Create the producer, connect, and start the poll thread and the replay task.

        Raises:
            AuthenticationFailed: the broker refused the credentials.
            TLSHandshakeFailed: TLS failed (wrong CA, bad client certificate).
            BrokerUnreachable: no broker answered within ``startup_timeout``.
        """
        self._token = anyio.lowlevel.current_token()
        if sniffio.current_async_library() == "asyncio":
            self._loop = asyncio.get_running_loop()
            self._call_soon = self._loop.call_soon
        else:  # trio: its token runs a function soon on the run's thread, as call_soon does
            import trio.lowlevel

            self._call_soon = trio.lowlevel.current_trio_token().run_sync_soon
        self._spool = self._spool_given or await Spool.claim(self.settings.spool_dir)
        self._replay_lock = anyio.Lock()
        failure: BaseException | None = None
        try:
            self._producer = await anyio.to_thread.run_sync(self._new_producer)
            self._choose_wakeup()
            # (not "_thread": mypyc would name its C field __thread, a C keyword)
            self._poller = threading.Thread(target=self._poll_loop, name="kafka-poll", daemon=True)
            self._poller.start()
            await self._connect()
        except BaseException as exc:
            failure = exc
        if failure is not None:  # cleaned up outside the except block (proxy/_build.py)
            with anyio.CancelScope(shield=True):
                await self._abort_start()
            raise failure
        self._running = True
        self._replayer = threading.Thread(
            target=self._replay_loop, name="kafka-replay", daemon=True
        )
        self._replayer.start()
        log.info("kafka_producer_started", bootstrap=self.settings.bootstrap_servers)

    async def stop_waiting(self, grace: float) -> None:
        """Stop depending on the broker: answer every send once it is durable (shutdown).

        From now on a send (``acked`` or ``queued``) is answered once its
        messages are fsynced to the spool, and nothing more is produced or
        replayed.  What librdkafka holds gets ``grace`` seconds to be acked;
        then it is purged, and the purged messages of ``acked`` sends are
        spooled, which answers their senders (``queued`` ones already are).
        Returns when librdkafka holds nothing more; a second call returns at once.
        """
        if not self._running or self._closing:
            return
        self._closing = True
        if self._held:  # held this loop turn: spooled now, before the poll thread may stop
            self._produce_held()
        self._stop_replaying.set()
        log.info("kafka_stop_waiting", queued=len(self._producer), grace=grace)
        with anyio.CancelScope(shield=True):
            await self._drain(anyio.current_time() + grace)

    async def aclose(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109 bounds the drain
        """Deliver what is queued for up to ``timeout`` s, spool the rest, close.

        Whatever librdkafka still holds at the deadline is purged; the purged
        messages of ``acked`` sends are spooled (``queued`` ones already are).
        After ``stop_waiting`` nothing waits for the broker any more.
        """
        if not self._running:
            return
        with anyio.CancelScope(shield=True):
            await self.stop_waiting(timeout)
            self._running = False
            await self._drain(anyio.current_time())  # only spooled ones can be left
            self._stop_replaying.set()
            self._stop_loop_polling()
            self._stop_polling.set()
            await anyio.to_thread.run_sync(self._replayer.join)
            await anyio.to_thread.run_sync(self._poller.join)
            while self._loop_work:  # handed over after the poll thread's last look
                await self._record(*self._loop_work.popleft())
            await self._spool.aclose()
            await anyio.to_thread.run_sync(self._producer.close)
        log.info("kafka_producer_closed", spool_pending=self._spool.pending_count)

    async def _abort_start(self) -> None:
        self._stop_loop_polling()
        self._stop_polling.set()
        if hasattr(self, "_poller"):
            await anyio.to_thread.run_sync(self._poller.join)
        if hasattr(self, "_producer"):
            await anyio.to_thread.run_sync(self._producer.close)
        await self._spool.aclose()

    def _new_producer(self) -> Producer:
        config = librdkafka_config(self.settings)
        config.update(error_cb=self._on_error, logger=_LibrdkafkaLog())
        return Producer(config)

    # -- startup check ---------------------------------------------------------

    async def _connect(self) -> None:
        timeout = self.settings.startup_timeout
        deadline = anyio.current_time() + timeout
        detail = ""
        while True:
            wait = max(0.05, min(1.0, deadline - anyio.current_time()))
            try:
                await anyio.to_thread.run_sync(self._producer.list_topics, None, wait)
                self._startup_errors = []
                return
            except KafkaException as exc:
                detail = _describe(exc)
            problem = self._startup_problem()
            if problem is not None:
                raise problem
            if anyio.current_time() >= deadline:
                raise BrokerUnreachable(self.settings.bootstrap_servers, timeout, detail)

    def _startup_problem(self) -> ProducerStartupError | None:
        for err in list(self._startup_errors):
            if err.code() == KafkaError._AUTHENTICATION:
                return AuthenticationFailed(err.str())
            if err.code() == KafkaError._SSL or "SSL handshake failed" in err.str():
                return TLSHandshakeFailed(err.str())
        return None

    # -- sending ---------------------------------------------------------------

    async def send(self, messages: Sequence[Message], *, wait: WaitFor) -> None:
        """Hand a request's messages to Kafka; return when they are safe.

        Args:
            messages: the request's outbox.
            wait: ``"acked"`` returns when the broker acked them all (failures
                are spooled and resent); ``"queued"`` returns once they are
                fsynced to the spool and queued for sending.

        Raises:
            QueueFull: the local queue has no room for the batch; nothing was sent.
            ProducerClosed: the producer is not running.
            ProducerError: a message could be neither produced nor spooled.
        """
        if not messages:
            return
        if not self._running:
            raise ProducerClosed
        if self._closing:  # shutdown: durable on disk is enough, the broker may be gone
            await self._spool_only(messages)
            return
        queued = len(self._producer) + self._held_count + len(messages)
        if queued > self.settings.queue_max_messages:
            raise QueueFull
        if wait == "queued":
            positions = await self._spool.append(messages)
            if self._running and not self._closing:  # else they stay spooled for later
                batch, _ = self._batch(len(messages))
                for ticket in self._produce(messages, positions, batch):
                    ticket.batch.resolve(False)  # refused: it stays spooled, for replay
            return
        await self._send_acked(messages)

    def submit(self, messages: Sequence[Message], acked: Acked) -> None:
        """Take messages for an ``acked`` delivery; ``acked`` is called when they are safe.

        The same as ``send(messages, wait="acked")`` without a task: ``acked``
        is called once, on the loop, with ``None`` when every message is
        acknowledged or spooled after a failure, or with a ``ProducerError``
        when one could be neither.  It is never called before ``submit``
        returns, and what it raises is logged.  Only on the asyncio loop the
        producer was started on.

        Several messages are produced when the loop turn ends, with every
        other send of that turn, in one burst (``_hold``); one is produced
        at once.

        Raises:
            QueueFull: the local queue has no room for the batch; nothing was taken.
            ProducerClosed: the producer is not running.
        """
        if not self._running:
            raise ProducerClosed
        loop = self._loop
        if loop is None:
            raise ProducerError("submit needs the producer started on an asyncio loop")
        if self._closing and messages:  # shutdown: spooled by the poll thread, then acked
            signal = _Acknowledgement(acked)
            batch = signal.batch = _Batch(len(messages), signal, self._reports)
            self._spool_later(self._tickets(messages, [None] * len(messages), batch))
            return
        queued = len(self._producer) + self._held_count + len(messages)
        if queued > self.settings.queue_max_messages:
            raise QueueFull
        if not messages:
            loop.call_soon(acked, None)
            return
        signal = _Acknowledgement(acked)
        batch = signal.batch = _Batch(len(messages), signal, self._reports)
        if len(messages) > 1:
            self._hold(messages, batch)
        elif refused := self._produce_acked(messages, batch):
            self._spool_later(refused)

    def _hold(self, messages: Sequence[Message], batch: _Batch) -> None:
        """Produce ``messages`` when this loop turn ends, with the others held meanwhile.

        One burst per loop turn instead of one per request: produced as they
        come, a batch route's messages reached the broker in many small
        requests, which cost the broker more per message and the route its
        speed (``ops/bench/cpu_per_request.py --batch``).  A send of one
        message is produced at once instead: the wait to the turn's end
        only delays its acknowledgement, which bounds the single-event route
        (its ``migrated`` row of ``ops/bench/run``).  On trio the turn's end
        is when the scheduler runs the run's token callbacks.
        """
        if not self._held:
            self._call_soon(self._produce_held)
        self._held.append((messages, batch))
        self._held_count += len(messages)

    def _produce_held(self) -> None:
        """Produce what was held this loop turn; what librdkafka refuses is spooled."""
        held, self._held, self._held_count = self._held, [], 0
        refused: list[_Ticket] = []
        try:
            for messages, batch in held:
                if self._closing:  # stop_waiting began this loop turn: spool, do not produce
                    refused += self._tickets(messages, [None] * len(messages), batch)
                    continue
                try:
                    left = self._produce_acked(messages, batch)
                except Exception:  # a message librdkafka cannot take: its sender alone fails
                    log.exception("kafka_produce_failed", messages=len(messages))
                    self._lose_unproduced(batch)
                    continue
                if batch.refusable and len(left) == len(messages):
                    batch.full = True  # nothing taken: its sender raises QueueFull
                    batch.done.set()
                else:
                    refused += left
        finally:
            if refused:
                self._spool_later(refused)

    def _lose_unproduced(self, batch: _Batch) -> None:
        """Resolve a batch's messages that were never produced as lost (``ProducerError``).

        Those produced before the failure keep their reports; the sender waits for them.
        """
        unproduced = batch.size - batch.produced
        batch.lost += unproduced
        for _ in range(unproduced):
            batch.resolve(False)

    def _spool_later(self, tickets: list[_Ticket]) -> None:
        """Have the poll thread spool these and resolve them, as it does failures."""
        self._loop_work.append(([], tickets))
        self._thread_wake.set()

    async def _spool_only(self, messages: Sequence[Message]) -> None:
        """Append to the spool (fsynced) without producing: replayed by the next start."""
        with anyio.CancelScope(shield=True):
            try:
                await self._spool.append(messages)
            except OSError as exc:
                log.exception("kafka_spool_failed", count=len(messages))
                raise ProducerError(_lost(len(messages))) from exc
        metrics.PRODUCER_SPOOLED.inc(len(messages))

    async def _send_acked(self, messages: Sequence[Message]) -> None:
        batch, done = self._batch(len(messages))
        if len(messages) > 1:  # produced as the loop turn ends, with the others held
            batch.refusable = True
            self._hold(messages, batch)
        else:
            rest = self._produce_acked(messages, batch)
            if len(rest) == len(messages):
                raise QueueFull
            if rest:
                with anyio.CancelScope(shield=True):
                    await self._record([], rest)
        await done.wait()
        if batch.full:
            raise QueueFull
        if batch.lost:
            raise ProducerError(_lost(batch.lost))

    def _batch(self, size: int) -> tuple[_Batch, _Signal]:
        """A batch of ``size`` messages, and the signal set when the last is settled."""
        loop = self._loop
        done: _Signal = _FutureSignal(loop) if loop is not None else anyio.Event()
        return _Batch(size, done, self._reports), done

    def _produce_acked(self, messages: Sequence[Message], batch: _Batch) -> list[_Ticket]:
        """Produce in order with ``batch`` as the callback; return tickets of the refused ones.

        A batch whose values are not all different takes the ticket per message of
        ``_produce``: a failed delivery's report could not say which one it was.
        """
        if len(messages) > 1 and len({m.value for m in messages}) < len(messages):
            return self._produce(messages, [None] * len(messages), batch)
        producer = self._producer
        batch.generation = self._generation
        batch.messages = messages if isinstance(messages, tuple) else tuple(messages)
        for index, message in enumerate(messages):
            headers = message.headers
            try:
                producer.produce(  # positional: see _produce
                    message.topic,
                    message.value,
                    message.key,
                    _ANY_PARTITION,
                    batch,
                    None,
                    0,
                    list(headers) if headers else None,
                )
            except (BufferError, KafkaException) as exc:
                if isinstance(exc, KafkaException):
                    log.warning("kafka_produce_refused", error=_describe(exc))
                rest = messages[index:]
                return self._tickets(rest, [None] * len(rest), batch)
            except Exception:  # not a message librdkafka takes (see _lose_unproduced)
                batch.produced = index
                raise
        return []

    def _produce(
        self, messages: Sequence[Message], positions: Sequence[Position | None], batch: _Batch
    ) -> list[_Ticket]:
        """Produce in order; return the tickets librdkafka refused (queue full)."""
        if len(positions) != len(messages):
            raise ValueError("one position per message")
        producer = self._producer
        tickets = self._tickets(messages, positions, batch)
        for index, ticket in enumerate(tickets):
            message = ticket.message
            try:
                # Positional, in the order of cimpl's keyword list (topic, value, key,
                # partition, callback, on_delivery, timestamp, headers): with keywords,
                # the call builds a dictionary and looks each name up, for every
                # message (``ops/bench/cpu_per_request.py --migrated`` measures the
                # loop's CPU per request).  The tests read back the headers and keys
                # and wait for every callback, so a changed order would fail them.
                producer.produce(
                    message.topic,
                    message.value,
                    message.key,
                    _ANY_PARTITION,
                    ticket,
                    None,
                    0,
                    list(message.headers) or None,
                )
            except (BufferError, KafkaException) as exc:
                if isinstance(exc, KafkaException):
                    log.warning("kafka_produce_refused", error=_describe(exc))
                return tickets[index:]
            except Exception:  # not a message librdkafka takes (see _lose_unproduced)
                batch.produced = index
                raise
            if ticket.position is not None:
                self._in_flight.add(ticket.position)
        return []

    def _tickets(
        self, messages: Sequence[Message], positions: Sequence[Position | None], batch: _Batch
    ) -> list[_Ticket]:
        generation, reports = self._generation, self._reports
        return [  # not ``zip(strict=True)``: compiled, the keyword makes it a generic call
            _Ticket(messages[i], batch, positions[i], generation, reports)
            for i in range(len(messages))
        ]

    # -- the poll thread -------------------------------------------------------

    def _poll_loop(self) -> None:
        while not self._stop_polling.is_set():
            self._record_loop_work()
            if self._wakeup is not None and self._fatal is None:  # a fatal error is ours
                if not self._thread_wake.wait(0.1):
                    self._nudge_loop()
                self._thread_wake.clear()  # then look again: the state, not the signal, decides
                metrics.PRODUCER_QUEUE_DEPTH.set(len(self._producer))
                continue
            self._poll_once(0.1)
        self._poll_once(0)
        self._record_loop_work()

    def _nudge_loop(self) -> None:
        """Have the loop serve once more (librdkafka writes to the pipe only when its queue
        goes from empty to non-empty: a ``poll`` cut short by a raising callback would
        otherwise leave the rest unserved)."""
        loop = self._loop
        if loop is not None and self._wakeup is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(self._serve_on_loop)

    def _record_loop_work(self) -> None:
        while self._loop_work:
            work = self._loop_work.popleft()
            try:
                anyio.from_thread.run(self._record, *work, token=self._token)
            except Exception:
                log.exception("kafka_delivery_handover_failed", reports=len(work[1]))

    def _poll_once(self, timeout: float) -> None:
        producer = self._producer
        try:
            producer.poll(timeout)  # re-raises what a callback raised, after the batch
        except Exception:
            log.exception("kafka_poll_failed")
        self._hand_over()
        metrics.PRODUCER_QUEUE_DEPTH.set(len(producer))
        if self._fatal is not None:
            self._recreate()

    def _hand_over(self) -> None:
        """One loop call settles the batch; a second one only if the spool has work."""
        reports = self._take_reports()
        if not reports:
            return
        try:
            work = anyio.from_thread.run_sync(self._deliver, reports, token=self._token)
            if work is not None:
                anyio.from_thread.run(self._record, *work, token=self._token)
        except Exception:
            log.exception("kafka_delivery_handover_failed", reports=len(reports))

    def _take_reports(self) -> list[_Report]:
        """The reports so far (either side may take them; each is taken once)."""
        reports = self._reports
        taken: list[_Report] = []
        try:
            while reports:
                taken.append(reports.popleft())
        except IndexError:  # the other side took the last one
            pass
        return taken

    def _on_error(self, err: KafkaError) -> None:
        if not self._running:
            self._startup_errors.append(err)
        if err.fatal():
            self._fatal = err
        code, when = self._last_logged
        if err.code() != code or time.monotonic() - when > 30:
            self._last_logged = (err.code(), time.monotonic())
            log.warning("kafka_error", error=err.str(), code=err.name(), fatal=err.fatal())

    def _recreate(self) -> None:
        """A fatal error (e.g. fenced idempotent producer): swap in a fresh producer.

        The swap runs on the event loop.  A burst reads the producer once and
        produces all its messages within one loop callback, so once the swap has
        run nothing goes to the old producer: its purge and flush below report
        every message it holds (and spool the failed ones).  Swapped from this
        thread, a burst cut by a thread switch would go on producing into the
        old one after its flush, and those messages would go with it.
        """
        try:
            new = self._new_producer()
        except Exception:  # ``_fatal`` stays set: the poll thread's next turn tries again
            log.exception("kafka_producer_recreate_failed", error=str(self._fatal))
            return
        log.error("kafka_producer_recreated", error=str(self._fatal))
        try:
            old = anyio.from_thread.run_sync(self._swap_producer, new, token=self._token)
        except RuntimeError:  # the loop has ended (the swap never raises): nothing produces
            old = self._swap_producer(new)
        try:
            old.purge()
            old.flush(_PURGE_GRACE)  # serves the purge reports: spooled like any failure
        except Exception:
            log.exception("kafka_producer_purge_failed")
        self._hand_over()

    def _swap_producer(self, new: Producer) -> Producer:
        """Put ``new`` in place of the producer (on the loop); return the old one.

        It never raises: the caller tells a loop that has ended by a RuntimeError.
        """
        old, self._producer, self._fatal = self._producer, new, None
        self._generation += 1
        if self._wakeup is not None:
            try:
                self._wakeup.move(old, new)
            except Exception:  # the poll thread's nudges still have the loop serve
                log.exception("kafka_wakeup_move_failed")
        return old

    # -- on the event loop -----------------------------------------------------

    def _choose_wakeup(self) -> None:
        """Have the loop poll when librdkafka can wake it (``settings.wakeup``); log the path."""
        loop = self._loop
        if self.settings.wakeup == "poll":
            reason = 'configured: wakeup = "poll"'
        elif loop is None:
            reason = "the event loop is not asyncio's"
        else:
            wakeup = QueueWakeup.enable(self._producer)
            if not isinstance(wakeup, str):
                log.info("kafka_wakeup", path="pipe", reason='configured: wakeup = "pipe"')
                self._wakeup = wakeup
                loop.add_reader(wakeup.fileno, self._serve_on_loop)
                loop.call_soon(self._serve_on_loop)  # what was queued before: no write for it
                return
            log.warning("kafka_wakeup", path="poll", reason=f"no pipe: {wakeup}")
            return
        log.info("kafka_wakeup", path="poll", reason=reason)

    def _serve_on_loop(self) -> None:
        """librdkafka has something to serve: serve and settle it here (module docstring)."""
        wakeup = self._wakeup
        if wakeup is None:  # a late nudge: polling went back to the thread, or closed
            return
        wakeup.drain()  # first: what is enqueued from now on writes again
        try:
            self._producer.poll(0)
        except Exception:
            log.exception("kafka_poll_failed")
        reports = self._take_reports()
        if reports:
            work = self._deliver(reports)
            if work is not None:  # spooling awaits a thread: the poll thread records it
                self._loop_work.append(work)
                self._thread_wake.set()

    def _stop_loop_polling(self) -> None:
        wakeup, self._wakeup = self._wakeup, None
        # ``Any``: uvloop's ``remove_reader`` returns None, not the bool that
        # asyncio's is typed to return; compiled, the call's result would be
        # checked as a bool and raise, and the close would stop here.
        loop: Any = self._loop
        if wakeup is not None and loop is not None:
            loop.remove_reader(wakeup.fileno)
            wakeup.close(self._producer)
        self._thread_wake.set()

    def _deliver(self, reports: list[_Report]) -> _Work | None:
        """Settle one poll batch of delivery reports (runs on the event loop).

        Returns the spool work it leaves, or ``None`` (not an empty constant compared
        by identity: compiled, a tuple is copied, so ``is`` would never match).
        """
        acked: list[Position] = []
        failed: list[_Ticket] = []
        for report in reports:
            try:
                if isinstance(report, _Batch):
                    report.resolve(True)
                else:
                    self._settle(report, report.error, acked, failed)
            except Exception:
                log.exception("kafka_delivery_report_failed")
        return (acked, failed) if acked or failed else None

    def _settle(
        self,
        ticket: _Ticket,
        err: KafkaError | None,
        acked: list[Position],
        failed: list[_Ticket],
    ) -> None:
        if err is None:
            ticket.batch.resolve(True)
            if ticket.position is not None:
                acked.append(ticket.position)  # leaves _in_flight once marked done
                self._unmarked += 1
            return
        metrics.PRODUCER_FAILURES.labels(_reason(err)).inc()
        fatal = err.fatal() or err.code() in _PRODUCER_STATE_ERRORS
        if fatal and ticket.generation == self._generation:
            self._fatal = err  # the poll thread swaps in a new producer
        if ticket.position is None:
            failed.append(ticket)  # resolved by _record once spooled
        else:
            self._in_flight.discard(ticket.position)  # still spooled: replayed later
            ticket.batch.resolve(False)

    async def _record(self, acked: list[Position], failed: list[_Ticket]) -> None:
        """Spool failed messages and mark acked ones done (called from the poll thread)."""
        with anyio.CancelScope(shield=True):
            if failed:
                await self._spool_failed(failed)
            if acked:
                await self._mark_done(acked)

    async def _spool_failed(self, failed: list[_Ticket]) -> None:
        stored = True
        try:
            await self._spool.append([t.message for t in failed])
            metrics.PRODUCER_SPOOLED.inc(len(failed))
            log.warning("kafka_messages_spooled", count=len(failed))
        except OSError:
            stored = False
            log.exception("kafka_spool_failed", count=len(failed))
        for ticket in failed:
            ticket.batch.lost += not stored
            ticket.batch.resolve(False)

    async def _mark_done(self, positions: list[Position]) -> None:
        self._unmarked -= len(positions)  # the spool forgets them before its first await
        try:
            await self._spool.mark_done(positions)
        except OSError:
            log.exception("kafka_spool_mark_failed")  # only causes a resend
        self._in_flight.difference_update(positions)

    # -- replay ----------------------------------------------------------------

    async def replay(self, progress: Progress | None = None) -> tuple[int, int]:
        """Resend spooled messages while a broker answers and they get acked.

        Args:
            progress: called with ``(sent, left)`` after each chunk.

        Returns:
            ``(sent, left)``: messages acked now, and still pending in the spool.
        """
        sent = 0
        async with self._replay_lock:
            while self._running and not self._closing and (entries := await self._replayable()):
                acked = await self._resend(entries)
                sent += acked
                if progress is not None:
                    progress(sent, self._left())
                if acked < len(entries):
                    break
        return sent, self._left()

    def _left(self) -> int:
        return self._spool.pending_count - self._unmarked

    def _replay_loop(self) -> None:
        """The replay thread: at start, then every ``replay_interval``, replay on the loop."""
        if not self._background_replay:
            return
        while not self._stop_replaying.is_set():
            if self._spool.pending_count > len(self._in_flight):  # a hint; replay() decides
                try:
                    anyio.from_thread.run(self._replay_quietly, token=self._token)
                except Exception:
                    log.exception("kafka_replay_failed")
            self._stop_replaying.wait(self.settings.replay_interval)

    async def _replay_quietly(self) -> None:
        try:
            await self.replay()
        except (OSError, ProducerError):
            log.exception("kafka_replay_failed")

    async def _replayable(self) -> list[tuple[Position, Message]]:
        limit = max(1, min(1000, self.settings.queue_max_messages // 2))
        entries = await self._spool.pending(limit, exclude=self._in_flight)
        if entries and not await self._reachable():
            return []
        return entries

    async def _reachable(self) -> bool:
        try:
            await anyio.to_thread.run_sync(self._producer.list_topics, None, _PROBE_TIMEOUT)
        except KafkaException:
            return False
        return True

    async def _resend(self, entries: list[tuple[Position, Message]]) -> int:
        if not self._running or self._closing:  # shutdown began while we probed the broker
            return 0
        batch, done = self._batch(len(entries))
        refused = self._produce([m for _, m in entries], [p for p, _ in entries], batch)
        for ticket in refused:
            ticket.batch.resolve(False)
        await done.wait()
        metrics.PRODUCER_REPLAYED.inc(batch.acked)
        return batch.acked

    # -- shutdown --------------------------------------------------------------

    async def _drain(self, deadline: float) -> None:
        await self._wait_empty(deadline)
        if len(self._producer):
            log.warning("kafka_purging_at_shutdown", queued=len(self._producer))
            await anyio.to_thread.run_sync(self._producer.purge)
            await self._wait_empty(anyio.current_time() + _PURGE_GRACE)

    async def _wait_empty(self, deadline: float) -> None:
        # librdkafka's queue length has no wake-up to wait on: sample it
        while len(self._producer) and anyio.current_time() < deadline:  # noqa: ASYNC110
            await anyio.sleep(0.02)


async def replay_spool(
    settings: ProducerSettings, *, progress: Progress | None = None
) -> tuple[int, int]:
    """Resend every spooled message not owned by a running worker (``spool replay``).

    Each free slot under ``settings.spool_dir`` is claimed in turn and replayed
    through its own producer.  Run it with ``anyio.run(partial(replay_spool, s))``.

    Args:
        settings: the producer settings of the workers.
        progress: called with ``(sent, left)`` (totals so far) after each chunk.

    Returns:
        ``(sent, left)``: messages acked, and messages still spooled in those slots.

    Raises:
        ProducerStartupError: no broker could be reached.
    """
    spools = await Spool.claim_orphans(settings.spool_dir)
    totals = [0, 0]
    failure: BaseException | None = None
    try:
        while spools:
            await _replay_slot(settings, spools.pop(0), totals, progress)
    except BaseException as exc:
        failure = exc
    with anyio.CancelScope(shield=True):  # the slots not reached, after a failure
        for spool in spools:
            await spool.aclose()
    if failure is not None:
        raise failure
    return totals[0], totals[1]


async def _replay_slot(
    settings: ProducerSettings, spool: Spool, totals: list[int], progress: Progress | None
) -> None:
    sent_before, left_before = totals

    def report(sent: int, left: int) -> None:
        if progress is not None:
            progress(sent_before + sent, left_before + left)

    async with KafkaProducer(settings, spool=spool, background_replay=False) as producer:
        sent, left = await producer.replay(report)
    totals[:] = [sent_before + sent, left_before + left]


class _LibrdkafkaLog:
    """librdkafka's log lines (served by ``poll``) into structlog, not stderr."""

    def log(self, level: int, fmt: str, *args: object) -> None:
        log.log(level, "librdkafka", line=fmt % args if args else fmt)


def _reason(err: KafkaError) -> metrics.FailureReason:
    if err.code() == KafkaError._MSG_TIMED_OUT:
        return "timeout"
    if err.code() in (KafkaError._PURGE_QUEUE, KafkaError._PURGE_INFLIGHT):
        return "purged"
    return "error"


def _describe(exc: KafkaException) -> str:
    err = exc.args[0] if exc.args else None
    return err.str() if isinstance(err, KafkaError) else str(exc)
