"""The pool never lends an idle connection its peer has closed or written to."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import anyio.abc
import pytest

from legacy_adapter import PoolExhausted
from legacy_adapter._pool import ConnectionPool

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def peer(behaviour: str) -> AsyncIterator[str]:
    """A TCP server whose connections, once ``go`` is set, close or send stray bytes."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)

    async def handle(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            await stream.receive()  # the test's "request": the connection is now idle
            if behaviour == "close":
                return
            await stream.send(b"stray")
            await anyio.sleep_forever()

    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handle)
        yield f"127.0.0.1:{port}"
        tg.cancel_scope.cancel()


@pytest.mark.parametrize("behaviour", ["close", "stray"])
async def test_an_idle_connection_spoiled_by_its_peer_is_replaced(behaviour: str) -> None:
    """A kept connection closed (a recycled PHP child) or written to while idle is not reused."""
    async with peer(behaviour) as address:
        pool = ConnectionPool(
            "php", address, size=1, idle_timeout=60, acquire_timeout=1, connect_timeout=1
        )
        lease = await pool.acquire()
        await lease.stream.send(b"x")
        lease.keep()
        await pool.release(lease)
        await anyio.sleep(0.2)  # the peer closes or writes; the loop sees it
        again = await pool.acquire()
        assert not again.reused  # a new connection, not the spoiled one
        await pool.release(again)
        await pool.aclose()


@asynccontextmanager
async def silent_peer() -> AsyncIterator[str]:
    """A TCP server that accepts connections and never writes."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)

    async def handle(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            await anyio.sleep_forever()

    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handle)
        yield f"127.0.0.1:{port}"
        tg.cancel_scope.cancel()


def _pool(address: str, acquire_timeout: float = 5.0) -> ConnectionPool:
    return ConnectionPool(
        "php", address, size=1, idle_timeout=30, acquire_timeout=acquire_timeout, connect_timeout=2
    )


async def test_released_slots_go_to_waiters_in_order() -> None:
    """With one slot, waiters get it in the order they asked, each from the one before."""
    async with silent_peer() as address:
        pool = _pool(address)
        order: list[int] = []
        first = await pool.acquire()
        first.keep()

        async def wait(i: int) -> None:
            lease = await pool.acquire()
            order.append(i)
            lease.keep()
            await pool.release(lease)

        async with anyio.create_task_group() as tg:
            for i in range(3):
                tg.start_soon(wait, i)
                await anyio.sleep(0.01)  # queued in this order
            assert order == []  # all three wait for the one slot
            await pool.release(first)
        assert order == [0, 1, 2]
        assert (pool.in_use, pool.idle) == (0, 1)
        await pool.aclose()


async def test_a_waiter_gives_up_after_acquire_timeout() -> None:
    """A waiter that gets no slot within acquire_timeout fails, and the count stays right."""
    async with silent_peer() as address:
        pool = _pool(address, acquire_timeout=0.1)
        held = await pool.acquire()
        with pytest.raises(PoolExhausted):
            await pool.acquire()
        await pool.release(held)
        again = await pool.acquire()  # the expired waiter did not take the slot with it
        assert pool.in_use == 1
        await pool.release(again)
        assert pool.in_use == 0
        await pool.aclose()


async def test_each_waiter_gets_its_own_acquire_timeout() -> None:
    """A waiter that joined later is not failed with the first, and fails at its own deadline."""
    timeout = 0.5
    async with silent_peer() as address:
        pool = _pool(address, acquire_timeout=timeout)
        held = await pool.acquire()
        waits: dict[str, tuple[float, float]] = {}

        async def wait(name: str) -> None:
            started = anyio.current_time()
            with pytest.raises(PoolExhausted):
                await pool.acquire()
            waits[name] = (started, anyio.current_time())

        with anyio.fail_after(10):  # a timer not armed again would leave "second" waiting
            async with anyio.create_task_group() as tg:
                tg.start_soon(wait, "first")
                await anyio.sleep(timeout / 2)
                tg.start_soon(wait, "second")
        assert list(waits) == ["first", "second"]
        for started, failed in waits.values():
            assert failed - started >= timeout - 0.01  # never before its own deadline
        await pool.release(held)
        assert pool.in_use == 0
        await pool.aclose()


async def test_a_cancelled_waiter_does_not_lose_the_slot() -> None:
    """A waiter cancelled while in line leaves the slot to the next one."""
    async with silent_peer() as address:
        pool = _pool(address)
        held = await pool.acquire()
        got: list[bool] = []

        async def patient() -> None:
            lease = await pool.acquire()
            got.append(True)
            await pool.release(lease)

        impatient = anyio.CancelScope()
        async with anyio.create_task_group() as tg:
            tg.start_soon(_cancelled_acquire, pool, impatient)
            await anyio.sleep(0.01)
            tg.start_soon(patient)
            await anyio.sleep(0.01)
            impatient.cancel()
            await anyio.sleep(0.01)
            await pool.release(held)
        assert got == [True]
        assert pool.in_use == 0
        await pool.aclose()


async def test_a_slot_handed_to_a_waiter_as_it_is_cancelled_is_not_lost() -> None:
    """A release wakes the waiter, whose cancellation comes before it runs: no slot leaks."""
    async with silent_peer() as address:
        pool = _pool(address, acquire_timeout=0.5)
        held = await pool.acquire()  # not kept: the waiter must connect, and is cancelled there
        scope = anyio.CancelScope()

        async def waiter() -> None:
            with scope:
                lease = await pool.acquire()
                lease.keep()
                await pool.release(lease)

        async with anyio.create_task_group() as tg:
            tg.start_soon(waiter)
            await anyio.sleep(0.01)  # in line
            await pool.release(held)  # the slot goes to the waiter, no switch in between
            scope.cancel()
        assert scope.cancelled_caught  # the cancellation reached the waiter holding the slot
        assert pool.in_use == 0
        again = await pool.acquire()  # within acquire_timeout: the slot came back
        await pool.release(again)
        await pool.aclose()


async def _cancelled_acquire(pool: ConnectionPool, scope: anyio.CancelScope) -> None:
    with scope:
        await pool.acquire()
        raise AssertionError("the slot was never free")
