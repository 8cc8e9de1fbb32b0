"""Settings of the shared Kafka producer and their translation to librdkafka.

``ProducerSettings`` validates itself when built (a bad value never reaches
librdkafka); ``from_mapping`` builds it from a config table, rejecting unknown
keys and expanding ``${NAME}`` in the password from the environment.
``librdkafka_config`` is a pure function of the settings, so every auth mode's
dict is testable without a broker.  The MSK modes follow AWS's documented
client settings: SCRAM = SASL_SSL + SCRAM-SHA-512, IAM = SASL_SSL + OAUTHBEARER
with a SigV4 token callback, mTLS = SSL with a client certificate.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from ._exceptions import ProducerConfigError
from ._msk import msk_oauth_callback

AuthMode = Literal["plaintext", "scram", "iam", "mtls"]
Compression = Literal["none", "gzip", "snappy", "lz4", "zstd"]
Wakeup = Literal["pipe", "poll"]

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_REQUIRED: dict[str, tuple[str, ...]] = {
    "plaintext": (),
    "scram": ("username", "password"),
    "iam": ("region",),
    "mtls": ("cert_file", "key_file"),
}


@dataclass(frozen=True, slots=True, repr=False)
class ProducerSettings:
    """How one worker's producer connects, batches, and where it spools.

    Args:
        bootstrap_servers: ``host:port[,host:port...]``.
        spool_dir: where undeliverable messages are kept until resent (required).
        auth: ``plaintext``, ``scram`` (SASL/SCRAM-SHA-512 over TLS), ``iam``
            (SASL/OAUTHBEARER over TLS) or ``mtls`` (client certificate).
        username, password: SCRAM credentials.
        region: AWS region of the cluster (IAM).
        ca_file: CA bundle to verify the brokers (any TLS mode; system CAs if None).
        cert_file, key_file: the client certificate and key (mTLS).
        client_id: shown in broker logs.
        linger_ms, compression: batching.  A route with ``delivery = "acked"``
            answers after the batch is acknowledged, so linger adds to its
            latency and, per connection, caps its throughput, while a shorter
            one makes smaller batches, which cost the broker more CPU per
            message; messages still batch while earlier ones are in flight.
            librdkafka's broker thread sleeps in whole milliseconds, so on an
            idle producer any linger above 0 delays a lone message by up to
            one of them; under load other wake-ups cut the wait short.  0
            itself sends tiny batches, the broker's dearest per message.
            The ``migrated`` and ``batch`` rows of ``ops/bench/run`` measure
            the trade, which differs between one message per request and
            many (``docs/performance.md``, "The producer's linger" and
            "Batches of events").
        message_timeout: seconds before an undelivered message fails (then spooled).
        queue_max_messages, queue_max_kbytes: the local queue's bounds (then QueueFull).
        startup_timeout: seconds ``start()`` waits for a broker.
        replay_interval: seconds between attempts to resend the spool.
        wakeup: how delivery reports reach an asyncio event loop.  ``pipe``
            has librdkafka write to a pipe the loop watches, through ctypes
            into confluent-kafka's handle (``migrated._rdkafka_io``; its
            contract test is ``tests/migrated/test_rdkafka_io.py``), and
            falls back to ``poll`` when the handle is not recognised.
            ``poll`` uses confluent-kafka's public API only: a thread polls.
            trio always polls.  The producer logs the path in use at start
            (``kafka_wakeup``).

    Raises:
        ProducerConfigError: a value is invalid or a required one is missing.
    """

    bootstrap_servers: str
    spool_dir: Path
    auth: AuthMode = "plaintext"
    username: str | None = None
    password: str | None = None
    region: str | None = None
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    client_id: str = "strangler"
    linger_ms: float = 0.5
    compression: Compression = "lz4"
    message_timeout: float = 120.0
    queue_max_messages: int = 100_000
    queue_max_kbytes: int = 65_536
    startup_timeout: float = 10.0
    replay_interval: float = 5.0
    wakeup: Wakeup = "pipe"

    def __post_init__(self) -> None:
        if not self.bootstrap_servers:
            raise ProducerConfigError("bootstrap_servers", "must not be empty")
        _check_choice("auth", self.auth, AuthMode)
        _check_choice("compression", self.compression, Compression)
        _check_choice("wakeup", self.wakeup, Wakeup)
        for name in _REQUIRED[self.auth]:
            if not getattr(self, name):
                raise ProducerConfigError(name, f"required with auth = {self.auth!r}")
        for name in ("message_timeout", "startup_timeout", "replay_interval"):
            if not getattr(self, name) > 0:
                raise ProducerConfigError(name, "must be a positive number of seconds")
        for name in ("queue_max_messages", "queue_max_kbytes"):
            if not getattr(self, name) >= 1:
                raise ProducerConfigError(name, "must be at least 1")
        if not 0 <= self.linger_ms <= 900_000:  # librdkafka's range
            raise ProducerConfigError("linger_ms", "must be between 0 and 900000 milliseconds")

    def __repr__(self) -> str:
        fields = (f.name for f in dataclasses.fields(self))
        shown = ", ".join(f"{n}={_redacted(n, getattr(self, n))!r}" for n in fields)
        return f"ProducerSettings({shown})"

    __str__ = __repr__

    @classmethod
    def from_mapping(
        cls, data: Mapping[str, Any], *, env: Mapping[str, str] | None = None
    ) -> ProducerSettings:
        """Build from a config table; ``${NAME}`` in ``password`` is read from ``env``.

        Raises:
            ProducerConfigError: an unknown key, a missing variable or a bad value.
        """
        known = {f.name for f in dataclasses.fields(cls)}
        for key in data:
            if key not in known:
                raise ProducerConfigError(key, "unknown key")
        values = dict(data)
        if isinstance(values.get("password"), str):
            values["password"] = _expand(values["password"], os.environ if env is None else env)
        if "spool_dir" in values:
            values["spool_dir"] = Path(values["spool_dir"])
        try:
            return cls(**values)
        except TypeError as exc:
            raise ProducerConfigError("producer", str(exc)) from None


def librdkafka_config(settings: ProducerSettings) -> dict[str, Any]:
    """The librdkafka configuration for ``settings`` (pure; no error_cb/logger)."""
    config: dict[str, Any] = {
        "bootstrap.servers": settings.bootstrap_servers,
        "client.id": settings.client_id,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": settings.linger_ms,
        "compression.type": settings.compression,
        "message.timeout.ms": int(settings.message_timeout * 1000),
        "queue.buffering.max.messages": settings.queue_max_messages,
        "queue.buffering.max.kbytes": settings.queue_max_kbytes,
    }
    config.update(_auth_config(settings))
    if settings.ca_file and settings.auth != "plaintext":
        config["ssl.ca.location"] = settings.ca_file
    return config


def _auth_config(settings: ProducerSettings) -> dict[str, Any]:
    if settings.auth == "scram":
        return {
            "security.protocol": "SASL_SSL",
            "sasl.mechanism": "SCRAM-SHA-512",
            "sasl.username": settings.username,
            "sasl.password": settings.password,
        }
    if settings.auth == "iam":
        assert settings.region is not None  # checked by __post_init__
        return {
            "security.protocol": "SASL_SSL",
            "sasl.mechanism": "OAUTHBEARER",
            "oauth_cb": msk_oauth_callback(settings.region),
        }
    if settings.auth == "mtls":
        return {
            "security.protocol": "SSL",
            "ssl.certificate.location": settings.cert_file,
            "ssl.key.location": settings.key_file,
        }
    return {"security.protocol": "PLAINTEXT"}


def redact_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` with secrets replaced, for logs."""
    return {k: "***" if "password" in k and v else v for k, v in config.items()}


def _redacted(name: str, value: Any) -> Any:
    return "***" if name == "password" and value else value


def _check_choice(name: str, value: object, choices: Any) -> None:
    allowed = get_args(choices)
    if value not in allowed:
        raise ProducerConfigError(name, f"unknown value {value!r}; use one of {', '.join(allowed)}")


def _expand(text: str, env: Mapping[str, str]) -> str:
    def lookup(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in env:
            raise ProducerConfigError("password", f"environment variable {name} is not set")
        return env[name]

    return _ENV_REF.sub(lookup, text)
