"""Errors of migrated handlers and their shared resources.

MigratedError
├── HandlerBadRequest       the handler refuses the input            -> 400 with reason
├── HandlerNotFound         a config names a handler that cannot be imported (config error)
├── ProducerError           the shared Kafka producer
│   ├── ProducerConfigError   bad producer settings (also a ValueError; at config load)
│   ├── ProducerStartupError  brokers unreachable / credentials refused at startup
│   │   ├── BrokerUnreachable     no broker answered within the startup timeout
│   │   ├── AuthenticationFailed  the broker refused the credentials
│   │   └── TLSHandshakeFailed    TLS could not be established (CA, certificate)
│   ├── ProducerClosed        send() while the producer is not running
│   └── QueueFull             the local queue is full                  -> 503 + Retry-After
├── JsonException           migrated.php's json_decode/json_encode failed as PHP's would
└── CacheError              a hot cache could not load (startup / readiness)
    ├── CacheStartError       neither the source nor the disk copy loaded at start
    └── CacheSourceError      one load failed; the last good snapshot is kept
        ├── CacheSourceMissing  the object or file does not exist
        ├── CacheSourceDenied   credentials missing or refused
        └── CacheFormatError    the bytes do not parse in the configured format
"""

from __future__ import annotations


class MigratedError(Exception):
    """Base class of errors in the migrated side."""


class HandlerBadRequest(MigratedError):
    """A handler refuses the request's input; the client gets 400 with this reason."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class HandlerNotFound(MigratedError):
    """``package.module:function`` does not name an importable async callable."""


class ProducerError(MigratedError):
    """The shared Kafka producer failed."""


class ProducerStartupError(ProducerError):
    """The producer could not connect or authenticate at startup."""


class QueueFull(ProducerError):
    """The producer's local queue is full; retry later (503 with Retry-After)."""

    def __init__(self, retry_after: float = 1.0) -> None:
        self.retry_after = retry_after
        super().__init__(f"producer queue full, retry after {retry_after:g}s")


class CacheError(MigratedError):
    """A hot cache could not be loaded from its source or its disk copy."""


class CacheStartError(CacheError):
    """A cache loaded neither from its source nor from its disk copy at start."""

    def __init__(self, name: str, source: str, reason: str) -> None:
        self.name = name
        self.source = source
        self.reason = reason
        super().__init__(f"cache {name!r} cannot load {source}: {reason}")


class CacheSourceError(CacheError):
    """One fetch or parse of ``source`` failed (network, timeout, server error...)."""

    def __init__(self, source: str, reason: str) -> None:
        self.source = source
        self.reason = reason
        super().__init__(f"{source}: {reason}")


class CacheSourceMissing(CacheSourceError):
    """The object, bucket or file does not exist."""


class CacheSourceDenied(CacheSourceError):
    """Credentials are missing or the store refused them."""


class CacheFormatError(CacheSourceError):
    """The fetched bytes do not parse in the cache's format."""


class ProducerConfigError(ProducerError, ValueError):
    """A producer setting is missing or invalid; ``key`` is its path in the config."""

    def __init__(self, key: str, reason: str) -> None:
        self.key = key
        self.reason = reason
        super().__init__(f"{key}: {reason}")


class BrokerUnreachable(ProducerStartupError):
    """No broker of ``bootstrap_servers`` answered a metadata request in time."""

    def __init__(self, bootstrap_servers: str, timeout: float, detail: str = "") -> None:
        self.bootstrap_servers = bootstrap_servers
        self.timeout = timeout
        self.detail = detail
        message = f"no broker reachable at {bootstrap_servers} within {timeout:g}s"
        super().__init__(f"{message} ({detail})" if detail else message)


class AuthenticationFailed(ProducerStartupError):
    """The broker refused the producer's credentials; ``reason`` is librdkafka's."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"authentication failed: {reason}")


class TLSHandshakeFailed(ProducerStartupError):
    """TLS to the broker failed (unknown CA, bad certificate); ``reason`` is librdkafka's."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"TLS handshake failed: {reason}")


class ProducerClosed(ProducerError):
    """``send`` was called on a producer that is not running (before start / after aclose)."""

    def __init__(self) -> None:
        super().__init__("the Kafka producer is not running")


class JsonException(MigratedError, ValueError):
    """PHP's ``JsonException``: ``json_decode``/``json_encode`` of ``migrated.php`` failed.

    Attributes:
        code: PHP's ``json_last_error()`` for the same input (``JSON_ERROR_*``).
        message: PHP's ``json_last_error_msg()``.
    """

    def __init__(self, code: int, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(message)
