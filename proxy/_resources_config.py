"""Reading ``[kafka]`` and ``[caches.NAME]``: the shared resources of migrated routes.

The settings classes live in ``migrated`` and validate themselves; a
``ValueError`` they raise is reported with the file and key path here.
"""

from __future__ import annotations

import os
from pathlib import Path

from migrated import CacheSettings, ProducerConfigError, ProducerSettings

from ._config_reader import Table, one_of, parse_duration

_AUTH = ("plaintext", "scram", "iam", "mtls")
_COMPRESSION = ("none", "gzip", "snappy", "lz4", "zstd")
_WAKEUP = ("pipe", "poll")


def read_kafka(t: Table) -> ProducerSettings | None:
    """The shared producer's settings, or ``None`` when there is no ``[kafka]`` table."""
    if not t.data:
        return None
    kwargs: dict[str, object] = {
        "bootstrap_servers": t.take("bootstrap_servers", str),
        "spool_dir": Path(_relative(t, t.take("spool_dir", str))),
        "auth": t.take_with("auth", one_of(*_AUTH), "plaintext"),
    }
    for key in ("username", "password", "region", "ca_file", "cert_file", "key_file"):
        if t.has(key):
            value = t.take(key, str)
            kwargs[key] = _relative(t, value) if key.endswith("_file") else value
    if t.has("client_id"):
        kwargs["client_id"] = t.take("client_id", str)
    if t.has("linger_ms"):
        kwargs["linger_ms"] = t.take("linger_ms", float)  # librdkafka takes fractions of a ms
    for key in ("queue_max_messages", "queue_max_kbytes"):
        if t.has(key):
            kwargs[key] = t.take(key, int)
    if t.has("compression"):
        kwargs["compression"] = t.take_with("compression", one_of(*_COMPRESSION))
    if t.has("wakeup"):
        kwargs["wakeup"] = t.take_with("wakeup", one_of(*_WAKEUP))
    for key in ("message_timeout", "startup_timeout", "replay_interval"):
        if t.has(key):
            kwargs[key] = t.take_with(key, parse_duration)
    t.finish()
    try:
        return ProducerSettings(**kwargs)  # type: ignore[arg-type]
    except ProducerConfigError as exc:
        raise t.error(exc.key, exc.reason) from None
    except ValueError as exc:
        raise t.error("", str(exc)) from None


def read_caches(t: Table) -> tuple[CacheSettings, ...]:
    """One ``CacheSettings`` per ``[caches.NAME]`` table."""
    return tuple(_read_cache(t.table(name), name) for name in list(t.data))


def _read_cache(t: Table, name: str) -> CacheSettings:
    kwargs: dict[str, object] = {"name": name, "source": t.take("source", str)}
    for key in ("refresh", "retry", "timeout"):
        if t.has(key):
            kwargs[key] = t.take_with(key, parse_duration)
    if t.has("max_staleness"):
        kwargs["max_staleness"] = t.take_with("max_staleness", parse_duration)
    if t.has("jitter"):
        kwargs["jitter"] = t.take("jitter", float)
    for key in ("disk_copy", "region", "endpoint_url"):
        if t.has(key):
            kwargs[key] = t.take(key, str)
    if t.has("format"):
        kwargs["format"] = t.take_with("format", one_of("json"))
    kwargs["base_dir"] = os.path.dirname(os.path.abspath(t.source))
    t.finish()
    try:
        return CacheSettings(**kwargs)  # type: ignore[arg-type]
    except ValueError as exc:
        raise t.error("", str(exc)) from None


def _relative(t: Table, path: str) -> str:
    """Paths in the config are relative to the config file's directory."""
    return os.path.join(os.path.dirname(os.path.abspath(t.source)), path)
