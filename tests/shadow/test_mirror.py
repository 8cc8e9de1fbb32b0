"""The mirror runs jobs off the request path, bounded, and counts every skip."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import anyio
import anyio.lowlevel
import pytest

from shadow import Mirror, Skip

pytestmark = pytest.mark.anyio


def _mirror(skips: list[Skip], **kw: int) -> Mirror:
    settings = {"concurrency": 1, "queue_size": 2, **kw}
    return Mirror(on_skip=skips.append, **settings)


async def test_jobs_run_and_offer_never_blocks() -> None:
    """Offered jobs run in the workers; offer returns at once."""
    skips: list[Skip] = []
    mirror = _mirror(skips)
    done = anyio.Event()

    async def job() -> None:
        done.set()

    async with anyio.create_task_group() as tg:
        await tg.start(mirror.run)
        assert mirror.offer("r", 1.0, job)
        with anyio.fail_after(5):
            await done.wait()
        tg.cancel_scope.cancel()
    assert skips == []


async def test_full_queue_and_byte_budget_are_skips() -> None:
    """Beyond the queue size or the byte budget, jobs are dropped as queue_full."""
    skips: list[Skip] = []
    mirror = _mirror(skips, queue_bytes=100)

    async def job() -> None:
        return None

    assert mirror.offer("r", 1.0, job, size=60)
    assert not mirror.full
    assert not mirror.offer("r", 1.0, job, size=60)  # over the byte budget
    assert mirror.offer("r", 1.0, job, size=10)
    assert mirror.full
    assert not mirror.offer("r", 1.0, job, size=10)  # over the queue size
    assert [s.reason for s in skips] == ["queue_full", "queue_full"]
    assert mirror.held_bytes == 70
    mirror.close()
    assert not mirror.offer("r", 1.0, job)  # closed at shutdown: refused, counted


async def test_full_until_a_worker_takes_a_job() -> None:
    """``full`` says what the next offer would meet, and clears as workers take jobs."""
    skips: list[Skip] = []
    mirror = _mirror(skips, queue_size=1)
    started, release, ran = anyio.Event(), anyio.Event(), anyio.Event()

    async def blocking() -> None:
        started.set()
        await release.wait()

    async def quick() -> None:
        ran.set()

    async with anyio.create_task_group() as tg:
        await tg.start(mirror.run)
        assert mirror.offer("r", 5.0, blocking)
        with anyio.fail_after(5):
            await started.wait()
        assert not mirror.full  # the one worker holds the job; the queue is empty
        assert mirror.offer("r", 5.0, quick)
        assert mirror.full
        release.set()
        with anyio.fail_after(5):
            await ran.wait()
        assert not mirror.full
        tg.cancel_scope.cancel()
    assert skips == []


@pytest.mark.parametrize(("kind", "reason"), [("raise", "candidate_error"), ("slow", "timeout")])
async def test_failing_jobs_are_counted(kind: str, reason: str) -> None:
    """A job that raises or overruns its timeout becomes a skip; the mirror keeps going."""
    skips: list[Skip] = []
    skipped = anyio.Event()
    mirror = Mirror(concurrency=1, queue_size=2, on_skip=lambda s: (skips.append(s), skipped.set()))

    async def job() -> None:
        if kind == "raise":
            raise RuntimeError("candidate bug")
        await anyio.sleep(10)

    async with anyio.create_task_group() as tg:
        await tg.start(mirror.run)
        mirror.offer("r", 0.05, job, size=5)
        with anyio.fail_after(5):
            await skipped.wait()
        tg.cancel_scope.cancel()
    assert [(s.route, s.reason) for s in skips] == [("r", reason)]
    assert mirror.held_bytes == 0


async def test_a_job_offered_without_a_deadline_runs_to_its_end() -> None:
    """Timeout 0 means the job bounds itself: it runs past any short deadline, unskipped."""
    skips: list[Skip] = []
    mirror = _mirror(skips)
    done = anyio.Event()

    async def job() -> None:
        await anyio.sleep(0.2)
        done.set()

    async with anyio.create_task_group() as tg:
        await tg.start(mirror.run)
        assert mirror.offer("r", 0, job)
        with anyio.fail_after(5):
            await done.wait()
        tg.cancel_scope.cancel()
    assert skips == []


async def test_each_job_gets_its_whole_timeout_after_the_jobs_before_it() -> None:
    """Jobs in a row each get their own timeout; an untimed job after a timed one is uncut.

    A worker shares a deadline between jobs that start close together, so
    this checks that it is moved on for a job that starts later, and lifted
    for a job offered without one.
    """
    skips: list[Skip] = []
    mirror = _mirror(skips, queue_size=4)
    finished: list[str] = []
    done = anyio.Event()

    def sleeper(name: str, seconds: float) -> Callable[[], Awaitable[None]]:
        async def job() -> None:
            await anyio.sleep(seconds)
            finished.append(name)
            if name == "untimed":
                done.set()

        return job

    async with anyio.create_task_group() as tg:
        await tg.start(mirror.run)
        assert mirror.offer("r", 0.3, sleeper("first", 0.2))
        assert mirror.offer("r", 0.3, sleeper("second", 0.2))  # cut at 0.3 s if it kept the first's
        assert mirror.offer("r", 0.3, sleeper("quick", 0))
        assert mirror.offer("r", 0, sleeper("untimed", 0.4))
        with anyio.fail_after(5):
            await done.wait()
        tg.cancel_scope.cancel()
    assert finished == ["first", "second", "quick", "untimed"]
    assert skips == []


async def test_a_worker_goes_on_after_a_deadline_with_the_next_jobs_own() -> None:
    """A timed-out job is cut at its deadline; the same worker then runs later jobs in full."""
    skips: list[Skip] = []
    mirror = _mirror(skips, queue_size=3)
    finished: list[str] = []
    done = anyio.Event()

    async def slow() -> None:
        await anyio.sleep(10)
        finished.append("slow")

    async def patient() -> None:  # needs longer than the slow job's deadline
        await anyio.sleep(0.1)
        finished.append("patient")

    async def last() -> None:
        finished.append("last")
        done.set()

    async with anyio.create_task_group() as tg:
        await tg.start(mirror.run)
        assert mirror.offer("slow", 0.05, slow, size=1)
        assert mirror.offer("patient", 5.0, patient, size=2)
        assert mirror.offer("last", 5.0, last, size=3)
        with anyio.fail_after(5):
            await done.wait()
        tg.cancel_scope.cancel()
    assert finished == ["patient", "last"]
    assert [(s.route, s.reason) for s in skips] == [("slow", "timeout")]
    assert (mirror.running, mirror.held_bytes, mirror.waiting) == (0, 0, 0)


async def test_jobs_that_never_wait_still_let_the_event_loop_run() -> None:
    """A queue of candidates that never await cannot hold other tasks back until it drains."""
    skips: list[Skip] = []
    mirror = _mirror(skips, queue_size=20)
    ran: list[int] = []
    seen_by_probe: list[int] = []
    all_ran = anyio.Event()

    async def busy() -> None:
        # CPU work with no await, longer than the mirror's slice
        time.sleep(0.002)  # noqa: ASYNC251
        ran.append(1)
        if len(ran) == 20:
            all_ran.set()

    async def probe() -> None:
        while len(ran) < 20:
            seen_by_probe.append(len(ran))
            await anyio.lowlevel.checkpoint()

    async with anyio.create_task_group() as tg:
        await tg.start(mirror.run)
        for _ in range(20):
            assert mirror.offer("r", 5.0, busy)
        tg.start_soon(probe)
        with anyio.fail_after(5):
            await all_ran.wait()
        tg.cancel_scope.cancel()
    assert skips == []
    assert any(0 < n < 20 for n in seen_by_probe)  # the probe ran between jobs


async def test_a_blocked_job_does_not_hold_up_the_queue() -> None:
    """With two workers, a job queued behind one that waits runs while the first still waits."""
    skips: list[Skip] = []
    mirror = _mirror(skips, concurrency=2, queue_size=4)
    release, ran = anyio.Event(), anyio.Event()

    async def blocking() -> None:
        await release.wait()

    async def quick() -> None:
        ran.set()

    async with anyio.create_task_group() as tg:
        await tg.start(mirror.run)
        await anyio.wait_all_tasks_blocked()  # both workers parked, waiting for jobs
        assert mirror.offer("r", 5.0, blocking)
        assert mirror.offer("r", 5.0, quick)  # offered before the woken worker ran
        with anyio.fail_after(5):
            await ran.wait()
        assert not release.is_set()
        assert mirror.running == 1  # the blocking job, still waiting
        release.set()
        tg.cancel_scope.cancel()
    assert skips == []
