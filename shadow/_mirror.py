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

import math
import time
from collections.abc import Awaitable, Callable

import anyio
import anyio.abc
import structlog
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._model import Skip, SkipReason

log = structlog.get_logger("strangler.shadow")
Job = Callable[[], Awaitable[None]]


class Mirror:
    """Off-path executor of shadow jobs.

    Args:
        concurrency: jobs running at once (candidates are CPU and I/O work).
        queue_size: jobs waiting; more are dropped as ``queue_full``.
        on_skip: told about every request that was not compared.
    """

    def __init__(
        self,
        *,
        concurrency: int,
        queue_size: int,
        on_skip: Callable[[Skip], None],
    ) -> None:
        self.concurrency = concurrency
        self.on_skip = on_skip
        send, receive = anyio.create_memory_object_stream[tuple[str, float, Job]](queue_size)
        self._send: MemoryObjectSendStream[tuple[str, float, Job]] = send
        self._receive: MemoryObjectReceiveStream[tuple[str, float, Job]] = receive
        self.running = 0

    def offer(self, route: str, timeout: float, job: Job) -> bool:
        """Queue ``job`` for ``route``; ``False`` (and a ``queue_full`` skip) when full."""
        try:
            self._send.send_nowait((route, timeout, job))
        except (anyio.WouldBlock, anyio.ClosedResourceError, anyio.BrokenResourceError):
            self.skip(route, "queue_full")
            return False
        return True

    def skip(self, route: str, reason: SkipReason) -> None:
        """Count a request that is not compared."""
        self.on_skip(Skip(route, reason, time.time()))

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Run the workers until cancelled."""
        async with anyio.create_task_group() as tg:
            for _ in range(self.concurrency):
                tg.start_soon(self._worker)
            task_status.started()

    async def _worker(self) -> None:
        async for route, timeout, job in self._receive:
            self.running += 1
            try:
                with anyio.fail_after(timeout if timeout > 0 else math.inf):
                    await job()
            except TimeoutError:
                self.skip(route, "timeout")
            except Exception:
                log.exception("shadow_job_failed", route=route)
                self.skip(route, "candidate_error")
            finally:
                self.running -= 1
