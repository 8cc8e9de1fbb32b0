"""Running shadow work off the client's path: a bounded queue and a few workers.

Strategy: the request task only *offers* a job (a closure that computes the
candidate's answer and compares it) and returns at once; ``offer`` never
blocks and never raises.  A fixed number of worker tasks take jobs from a
bounded in-memory queue; when it is full the job is dropped and counted as a
``queue_full`` skip.  Each job runs under its own timeout, and any failure in
it is counted and logged, never propagated: a shadow failure cannot reach a
client.  On shutdown the workers are cancelled with the task group, so a
shadow copy never keeps the proxy alive.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import anyio
import anyio.abc
import structlog
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._model import Skip, SkipReason

log = structlog.get_logger("strangler.shadow")
Job = Callable[[], Awaitable[None]]
_Queued = tuple[str, float, Job, int]


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
        self.held_bytes = 0
        send, receive = anyio.create_memory_object_stream[_Queued](queue_size)
        self._send: MemoryObjectSendStream[_Queued] = send
        self._receive: MemoryObjectReceiveStream[_Queued] = receive
        self.running = 0
        self.waiting = 0
        self.queue_size = queue_size

    @property
    def full(self) -> bool:
        """Whether an ``offer`` now would be dropped as ``queue_full``.

        The proxy asks before it copies a request and its answer, so that a
        mirror that cannot keep up costs a skipped request almost nothing.
        """
        return self.waiting >= self.queue_size or self.held_bytes >= self.queue_bytes

    def offer(self, route: str, timeout: float, job: Job, size: int = 0) -> bool:
        """Queue ``job`` for ``route`` (holding ``size`` bytes of bodies).

        ``timeout`` bounds the job's run (a ``timeout`` skip when it expires);
        ``0`` means the job bounds every wait of its own.

        Returns ``False`` (and records a ``queue_full`` skip) when the queue or
        the byte budget is full; never blocks.
        """
        if self.held_bytes + size > self.queue_bytes:
            self.skip(route, "queue_full")
            return False
        try:
            self._send.send_nowait((route, timeout, job, size))
        except (anyio.WouldBlock, anyio.ClosedResourceError, anyio.BrokenResourceError):
            self.skip(route, "queue_full")
            return False
        self.held_bytes += size
        self.waiting += 1
        return True

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
        self._send.close()
        self._receive.close()

    async def _worker(self) -> None:
        async for route, timeout, job, size in self._receive:
            self.waiting -= 1
            self.running += 1
            try:
                if timeout > 0:
                    with anyio.fail_after(timeout):
                        await job()
                else:  # the job bounds itself; a scope per job is measurable CPU
                    await job()
            except TimeoutError:
                self.skip(route, "timeout")
            except Exception:
                log.exception("shadow_job_failed", route=route)
                self.skip(route, "candidate_error")
            finally:
                self.running -= 1
                self.held_bytes -= size
