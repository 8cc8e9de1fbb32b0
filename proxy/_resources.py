"""Building a worker's shared resources (producer, caches) from the config."""

from __future__ import annotations

from migrated import Resources

from ._config import Config


def make_resources(config: Config) -> Resources | None:
    """The worker's resources, or ``None`` when the config defines none."""
    if config.kafka is None and not config.caches:
        return None
    return Resources(config.kafka, config.caches)
