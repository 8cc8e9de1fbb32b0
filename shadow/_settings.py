"""The ``[shadow]`` settings, and a worker's shadow side built from them.

The proxy's config loader reads and checks the table; this module only says
what the values mean and puts the mirror, the noise model and the sink
together.  With the embedded store, learned noise lives in the store: each
worker loads it as it starts, writes what it learns, and picks up what its
peers learned after each of its writes.  With the Kafka sink there is no
shared place to keep it: each worker learns on its own, from nothing, and
forgets at exit (records still carry their noise, and the aggregating
report counts them as they were judged).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ._metrics import count_skip
from ._mirror import Mirror
from ._model import Skip
from ._noise import NoiseModel
from ._runtime import ShadowRuntime, Sink
from ._sink import KafkaSink
from ._store import ShadowStore


@dataclass(frozen=True, slots=True)
class ShadowSettings:
    """How a worker mirrors and where comparisons go.

    Attributes:
        store: the SQLite file of the embedded store (shared by the workers).
        kafka_topic: send records to this topic through the shared producer
            instead (a fleet; ``strangler report --kafka`` aggregates them).
        concurrency: candidate jobs running at once per worker.
        queue_size: jobs waiting per worker; more are skipped as ``queue_full``.
        queue_bytes: request and answer bodies held by those jobs, per worker.
        max_body: request or answer bodies above this are not compared.
        noise_sample_rate: share of safe requests for which legacy is asked
            twice, to learn which fields differ between two legacy answers.
        examples_per_signature, retention_days: what the store keeps.
        redact_fields: JSON field names replaced by ``[redacted]`` before storing.
    """

    store: str
    kafka_topic: str | None = None
    concurrency: int = 4
    queue_size: int = 1000
    queue_bytes: int = 64 * 1024 * 1024
    max_body: int = 1024 * 1024
    noise_sample_rate: float = 0.05
    examples_per_signature: int = 5
    retention_days: float = 7.0
    redact_fields: tuple[str, ...] = ("password", "card_number", "cvv", "token", "secret")


def open_shadow(settings: ShadowSettings, publisher: Any | None) -> ShadowRuntime:
    """A worker's shadow side: its mirror, the noise model, and its sink.

    The model starts from the store's learned noise (none with Kafka).

    Args:
        settings: the ``[shadow]`` table as the loader read it.
        publisher: the worker's shared producer; required with ``kafka_topic``
            (the loader requires ``[kafka]`` then).
    """
    sink: Sink
    noise = NoiseModel()
    on_learned = None
    if settings.kafka_topic:
        assert publisher is not None
        sink = KafkaSink(
            publisher, settings.kafka_topic, redact_fields=settings.redact_fields, linger=0.2
        )
    else:
        sink = ShadowStore.open(
            settings.store,
            examples_per_signature=settings.examples_per_signature,
            retention_days=settings.retention_days,
            redact_fields=settings.redact_fields,
            linger=0.5,  # one transaction per half second, not one per request
        )
        noise.load(sink.noise())
        sink.on_noise = noise.load
        on_learned = sink.remember_noise

    def on_skip(skip: Skip) -> None:
        count_skip(skip.route, skip.reason)
        sink.offer(skip)

    mirror = Mirror(
        concurrency=settings.concurrency,
        queue_size=settings.queue_size,
        queue_bytes=settings.queue_bytes,
        on_skip=on_skip,
    )
    return ShadowRuntime(
        mirror,
        sink,
        noise,
        settings.noise_sample_rate,
        settings.max_body,
        on_learned=on_learned,
    )
