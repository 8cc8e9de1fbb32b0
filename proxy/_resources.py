"""Building a worker's shared resources (producer, caches) from the config."""

from __future__ import annotations

from typing import Any

from ._config import Config


def make_resources(config: Config) -> Any | None:
    """The worker's ``migrated.Resources``, or ``None`` when no route needs any."""
    return None
