"""Building a worker's shadow machinery from ``[shadow]``: mirror, noise model, sink."""

from __future__ import annotations

from typing import Any

from shadow import KafkaSink, Mirror, NoiseModel, ShadowStore, Skip

from . import _metrics as m
from ._config import Config
from ._shadowing import ShadowRuntime


def make_shadow(config: Config, resources: Any | None) -> ShadowRuntime | None:
    """The runtime, or ``None`` when no route compares answers."""
    settings = config.shadow
    if settings is None:
        return None
    sink: Any
    if settings.kafka_topic:
        publisher = resources.publisher if resources is not None else None
        assert publisher is not None  # the loader requires [kafka] with shadow.kafka_topic
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

    def on_skip(skip: Skip) -> None:
        m.labelled(m.SHADOW_SKIPS, skip.route, skip.reason).inc()
        sink.offer(skip)

    mirror = Mirror(
        concurrency=settings.concurrency,
        queue_size=settings.queue_size,
        queue_bytes=settings.queue_bytes,
        on_skip=on_skip,
    )
    return ShadowRuntime(mirror, sink, NoiseModel(), settings.noise_sample_rate, settings.max_body)
