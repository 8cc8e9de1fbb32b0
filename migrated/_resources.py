"""A worker's shared resources: one Kafka producer and the hot caches.

Made once per worker process (after the fork, as librdkafka requires), started
before the worker reports ready, and closed at shutdown, when messages still
queued go to the spool.  ``status()`` is what the supervisor's ``/ready`` and
the worker status file show.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import anyio
import anyio.abc

from ._cache import CacheSet
from ._cache_settings import CacheSettings
from ._producer import KafkaProducer
from ._producer_settings import ProducerSettings


class Resources:
    """The producer (``publisher``) and caches (``caches``) handlers use.

    Args:
        kafka: the producer's settings, or ``None`` for no producer.
        caches: one entry per named cache.
    """

    def __init__(self, kafka: ProducerSettings | None, caches: Sequence[CacheSettings]) -> None:
        self.publisher: KafkaProducer | None = KafkaProducer(kafka) if kafka else None
        self.caches: CacheSet | None = CacheSet.from_settings(caches) if caches else None

    async def start(self) -> None:
        """Load the caches, then connect the producer.

        Raises:
            CacheError: a cache loaded neither from its source nor its disk copy.
            ProducerStartupError: no broker reachable, credentials or TLS refused.
        """
        if self.caches is not None:
            await self.caches.start()
        if self.publisher is not None:
            await self.publisher.start()

    async def run(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        """Refresh the caches until cancelled (the producer runs its own tasks)."""
        if self.caches is None:
            task_status.started()
            await anyio.sleep_forever()
        else:
            await self.caches.run(task_status=task_status)

    async def stop_waiting(self, grace: float) -> None:
        """Shutdown began: answer every send once it is spooled (``KafkaProducer.stop_waiting``)."""
        if self.publisher is not None:
            await self.publisher.stop_waiting(grace)

    async def aclose(self) -> None:
        """Flush the producer (the rest is spooled) and release the caches."""
        if self.publisher is not None:
            await self.publisher.aclose()
        if self.caches is not None:
            self.caches.close()

    def status(self) -> dict[str, Any]:
        """Cache ages and staleness, spooled messages, and problems that fail readiness."""
        out: dict[str, Any] = {"problems": []}
        if self.caches is not None:
            caches = self.caches.status()
            out["caches"] = caches
            out["problems"] += [f"cache {n} is stale" for n, s in caches.items() if s["stale"]]
        if self.publisher is not None:
            out["spooled"] = self.publisher.spooled
        return out
