"""Running shadow work off the client's path: a bounded queue and a few workers.

Strategy: the request task only *offers* a job (a closure that computes the
candidate's answer and compares it) and returns at once; ``offer`` never
blocks and never raises.  A fixed number of worker tasks take jobs from a
bounded queue; when it is full the job is dropped and counted as a
``queue_full`` skip.  Each job runs under its own deadline, and any failure in
it is counted and logged, never propagated: a shadow failure cannot reach a
client.  On shutdown the workers are cancelled with the task group, so a
shadow copy never keeps the proxy alive.

What a job costs beyond its own work is kept small, because at 100% sampling
every request pays it:

* the queue is a ``deque``; a worker that finds it empty parks on an event
  that the next ``offer`` sets, so a busy worker takes job after job without
  a hand-off through the scheduler.  One parked worker is woken at a time:
  offers made before it runs wake no other, and a worker that starts a job
  with more queued behind it wakes the next, so a job that blocks never holds
  up the queue while jobs that do not block are run by one worker in a row;
* a woken worker first waits ``BATCH`` seconds, so that under load one
  wake-up runs the jobs of many requests back to back (the candidate's code
  and data stay warm in the CPU's caches, and the engine's too between
  batches; ``ops/bench/run --shadow`` measures 100% shadow against
  legacy-only).  A comparison is recorded that much later, which nobody
  reading a shadow report can notice;
* a worker runs its jobs inside one long-lived cancel scope whose deadline it
  moves (a timer rescheduled, not a scope made and torn down per job); a
  deadline that fires cancels that scope, the job is counted as a
  ``timeout``, and the worker opens a new one.  The deadline is set a little
  late, by ``DEADLINE_SLACK`` (at most a hundredth of the timeout), so that
  the jobs that start within that slack share it: a job is cut no earlier
  than its timeout and at most that slack after it, and under load a worker
  moves its deadline once per slice instead of once per job (on asyncio each
  move asks for the loop twice, two ``getpid`` system calls on 3.11, and
  replaces a timer);
* a worker yields to the event loop once it has run jobs for ``SLICE``
  seconds without waiting, so a queue of candidates that never await cannot
  hold client requests back for longer than that.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Final

import anyio
import anyio.abc
import anyio.lowlevel
import structlog

from ._model import Skip, SkipReason

log = structlog.get_logger("strangler.shadow")
Job = Callable[[], Awaitable[None]]
_Queued = tuple[str, float, Job, int]

SLICE: Final = 0.0005
"""Seconds of back-to-back jobs after which a worker lets the event loop run."""

BATCH: Final = 0.005
"""Seconds a woken worker waits for more jobs before it runs them: one wake-up per batch."""

DEADLINE_SLACK: Final = 0.01
"""Most seconds a job's deadline is set past its timeout, so that later jobs can share it."""


class Mirror:
    """Off-path executor of shadow jobs.

    Args:
        concurrency: jobs running at once (candidates are CPU and I/O work).
        queue_size: jobs waiting; more are dropped as ``queue_full``.
        on_skip: told about every request that was not compared.
        queue_bytes: bodies held by waiting and running jobs; beyond it new
            jobs are dropped as ``queue_full`` too, so a burst of large
            bodies cannot grow a worker's memory without bound.
    """

    def __init__(
        self,
        *,
        concurrency: int,
        queue_size: int,
        on_skip: Callable[[Skip], None],
        queue_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.concurrency = concurrency
        self.on_skip = on_skip
        self.queue_bytes = queue_bytes
        self.queue_size = queue_size
        self.held_bytes = 0
        self.running = 0
        self._jobs: deque[_Queued] = deque()
        self._parked: list[anyio.Event] = []  # idle workers, each waiting for a job
        self._waking = 0  # parked workers woken and not yet running
        self._closed = False

    @property
    def waiting(self) -> int:
        """Jobs queued and not yet taken by a worker."""
        return len(self._jobs)

    @property
    def full(self) -> bool:
        """Whether an ``offer`` now would be dropped as ``queue_full``.

        The proxy asks before it copies a request and its answer, so that a
        mirror that cannot keep up costs a skipped request almost nothing.
        """
        return len(self._jobs) >= self.queue_size or self.held_bytes >= self.queue_bytes

    def offer(self, route: str, timeout: float, job: Job, size: int = 0) -> bool:
        """Queue ``job`` for ``route`` (holding ``size`` bytes of bodies).

        ``timeout`` bounds the job's run (a ``timeout`` skip when it expires);
        ``0`` means the job bounds every wait of its own.

        Returns ``False`` (and records a ``queue_full`` skip) when the queue or
        the byte budget is full, or the mirror is closed; never blocks.
        """
        if (
            self._closed
            or len(self._jobs) >= self.queue_size
            or self.held_bytes + size > self.queue_bytes
        ):
            self.skip(route, "queue_full")
            return False
        self._jobs.append((route, timeout, job, size))
        self.held_bytes += size
        if not self._waking:
            self._wake()
        return True

    def _wake(self) -> None:
        """Wake one parked worker; until it runs, more offers wake no other."""
        if self._parked:
            self._waking += 1
            self._parked.pop().set()

    def skip(self, route: str, reason: SkipReason) -> None:
        """Count a request that is not compared."""
        self.on_skip(Skip(route, reason, time.time()))

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Run the workers until cancelled; then the queue is closed and dropped."""
        try:
            async with anyio.create_task_group() as tg:
                for _ in range(self.concurrency):
                    tg.start_soon(self._worker)
                task_status.started()
        finally:
            self.close()

    def close(self) -> None:
        """Refuse new jobs and drop the waiting ones (shutdown: shadow never delays it)."""
        self._closed = True
        for _, _, _, size in self._jobs:
            self.held_bytes -= size
        self._jobs.clear()

    async def _worker(self) -> None:
        current: list[_Queued] = []  # the job being run, if any: what a fired deadline cut
        while True:
            with anyio.CancelScope() as deadline:
                await self._serve(deadline, current)
            # Only a job's deadline cancels this scope (shutdown cancels the task group).
            if current:
                route, _, _, size = current.pop()
                self._finished(size)
                self.skip(route, "timeout")

    async def _serve(self, deadline: anyio.CancelScope, current: list[_Queued]) -> None:
        jobs = self._jobs
        ran_since = time.perf_counter()
        due = math.inf  # when ``deadline`` fires, on the ``perf_counter`` clock
        while True:
            if not jobs:
                # No deadline while parked: one firing here would leave this
                # worker's event in ``_parked`` and its wake-up lost.
                deadline.deadline = due = math.inf
                wake = anyio.Event()
                self._parked.append(wake)
                await wake.wait()
                await anyio.sleep(BATCH)  # more offers meanwhile join this wake-up
                self._waking -= 1
                ran_since = time.perf_counter()
                continue
            now = time.perf_counter()
            if now - ran_since > SLICE:
                await anyio.lowlevel.checkpoint()
                ran_since = time.perf_counter()
                continue  # the queue may have been closed meanwhile
            queued = jobs.popleft()
            if jobs and not self._waking:
                self._wake()  # the rest need not wait for this job if it blocks
            route, timeout, job, size = queued
            current.append(queued)
            self.running += 1
            if timeout > 0:
                slack = min(DEADLINE_SLACK, timeout / 100)
                if not now + timeout <= due <= now + timeout + slack:
                    # perf_counter and the loop's clock are both monotonic
                    # seconds: ``due`` tracks the deadline without asking the loop.
                    deadline.deadline = anyio.current_time() + timeout + slack
                    due = now + timeout + slack
            elif due != math.inf:
                deadline.deadline = due = math.inf
            try:
                await job()
            except TimeoutError:  # a wait the job bounds itself
                self.skip(route, "timeout")
            except Exception:
                log.exception("shadow_job_failed", route=route)
                self.skip(route, "candidate_error")
            current.pop()
            self._finished(size)

    def _finished(self, size: int) -> None:
        self.running -= 1
        self.held_bytes -= size
