"""Reading the shadow settings: ``[shadow]`` and each route's ``compare`` table."""

from __future__ import annotations

import os

from shadow import CompareRules, RulesError, ShadowSettings

from ._config_reader import Table, parse_duration, parse_size
from ._exceptions import ConfigError


def read_shadow(t: Table) -> ShadowSettings:
    """The ``[shadow]`` table (every key has a default)."""
    base = os.path.dirname(os.path.abspath(t.source))
    store = os.path.join(base, t.take("store", str, "var/shadow.sqlite"))
    defaults = ShadowSettings(store)
    settings = ShadowSettings(
        store=store,
        kafka_topic=t.take("kafka_topic", str, None),
        concurrency=_positive(t, "concurrency", defaults.concurrency),
        queue_size=_positive(t, "queue_size", defaults.queue_size),
        queue_bytes=t.take_with("queue_bytes", parse_size, defaults.queue_bytes),
        max_body=t.take_with("max_body", parse_size, defaults.max_body),
        noise_sample_rate=_rate(t, "noise_sample_rate", defaults.noise_sample_rate),
        examples_per_signature=_positive(t, "examples_per_signature", 5),
        retention_days=t.take_with("retention", parse_duration, 7 * 86400.0) / 86400,
        redact_fields=t.strings("redact_fields", defaults.redact_fields),
    )
    t.finish()
    return settings


def read_compare(t: Table) -> CompareRules:
    """A route's ``compare`` table (absent: the default rules)."""
    kwargs: dict[str, object] = {}
    for key in ("headers", "ignore_headers", "ignore", "unordered"):
        if t.has(key):
            kwargs[key] = t.strings(key)
    if t.has("scrub"):
        kwargs["scrub"] = tuple(_scrub(t, i, item) for i, item in enumerate(t.take("scrub", list)))
    if t.has("tolerance"):
        kwargs["tolerance"] = t.take("tolerance", (float, dict))
    if t.has("max_body"):
        kwargs["max_body"] = t.take_with("max_body", parse_size)
    if t.has("comparator"):
        kwargs["comparator"] = t.take("comparator", str)  # imported by CompareRules
    kwargs["idempotent"] = t.take("idempotent", bool, False)  # taken always: "did you mean"
    t.finish()
    try:
        return CompareRules(**kwargs)  # type: ignore[arg-type]
    except RulesError as exc:
        raise t.error(exc.key, exc.reason) from None


def _scrub(t: Table, i: int, item: object) -> str | tuple[str, str]:
    if isinstance(item, str):
        return item
    if isinstance(item, list) and len(item) == 2 and all(isinstance(x, str) for x in item):
        return (item[0], item[1])
    raise ConfigError(t.source, t.key(f"scrub[{i}]"), "expected a name or [regex, replacement]")


def _positive(t: Table, key: str, default: int) -> int:
    value: int = t.take(key, int, default)
    if value < 1:
        raise t.error(key, "must be at least 1")
    return value


def _rate(t: Table, key: str, default: float) -> float:
    value: float = t.take(key, float, default)
    if not 0.0 <= value <= 1.0:
        raise t.error(key, "must be between 0.0 and 1.0")
    return value
