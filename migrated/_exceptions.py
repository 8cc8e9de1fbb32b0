"""Errors of migrated handlers and their shared resources.

MigratedError
├── HandlerBadRequest       the handler refuses the input            -> 400 with reason
├── HandlerNotFound         a config names a handler that cannot be imported (config error)
├── ProducerError           the shared Kafka producer
│   ├── ProducerStartupError  brokers unreachable / credentials refused at startup
│   └── QueueFull             the local queue is full                  -> 503 + Retry-After
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
