"""Settings of one hot cache, and where its data comes from.

Strategy: the config loader builds one frozen ``CacheSettings`` per cache and
passes it explicitly.  The dataclass validates itself in ``__post_init__`` and
raises ``ValueError`` with a short reason, which the loader prefixes with the
file and key path (``strangler.toml: caches[1].jitter: ...``); a running cache
never sees a bad value.  The source string is parsed by the pure function
``parse_source`` into an ``S3Location`` or a ``FileLocation``; relative file
paths (source and disk copy) are resolved against ``base_dir``, which the
loader sets to the directory of the config file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Format = Literal["json"]
FORMATS: tuple[Format, ...] = ("json",)

_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass(frozen=True, slots=True)
class S3Location:
    """An object in an S3 (or S3-compatible) bucket."""

    bucket: str
    key: str


@dataclass(frozen=True, slots=True)
class FileLocation:
    """A file on the local disk (the embedded default, tests, a mounted volume)."""

    path: Path


Location = S3Location | FileLocation


def parse_source(source: str, base_dir: str | Path = ".") -> Location:
    """Parse ``s3://bucket/key`` or ``file://path`` (relative paths against ``base_dir``).

    Raises:
        ValueError: an unknown scheme, or a bucket, key or path is missing.
    """
    if source.startswith("s3://"):
        bucket, _, key = source.removeprefix("s3://").partition("/")
        if not bucket or not key:
            raise ValueError(f"source {source!r}: expected s3://bucket/key")
        return S3Location(bucket, key)
    if source.startswith("file://"):
        path = source.removeprefix("file://")
        if not path:
            raise ValueError(f"source {source!r}: expected file://path")
        return FileLocation(Path(base_dir, path))
    raise ValueError(f"source {source!r}: expected s3://bucket/key or file://path")


@dataclass(frozen=True, slots=True)
class CacheSettings:
    """One hot cache: reference data loaded from a source and refreshed on a timer.

    Attributes:
        name: the name handlers use (``ctx.cache(name)``) and the metrics label.
        source: ``s3://bucket/key`` or ``file://path``.
        refresh: seconds between refreshes, before jitter.
        jitter: fraction of ``refresh`` added or removed at random, so that
            workers and hosts do not all hit S3 at the same moment.
        retry: seconds before the next attempt after a failed refresh
            (bounded by ``refresh``; jittered too).
        max_staleness: age in seconds beyond which readiness fails; ``None``
            means stale data is always acceptable.
        disk_copy: where the last good raw bytes and their version are kept,
            so a cold start works while the source is unreachable.
        region: AWS region of the bucket (default chain when ``None``).
        endpoint_url: an S3-compatible store (MinIO, moto, a VPC endpoint).
        format: how the bytes are parsed.
        timeout: seconds one fetch may take (connect, read and overall).
        base_dir: directory that relative ``file://`` and ``disk_copy`` paths
            are resolved against.

    Raises:
        ValueError: a value is out of range (the loader adds the key path).
    """

    name: str
    source: str
    refresh: float = 3600.0
    jitter: float = 0.1
    retry: float = 60.0
    max_staleness: float | None = None
    disk_copy: str | None = None
    region: str | None = None
    endpoint_url: str | None = None
    format: Format = "json"
    timeout: float = 30.0
    base_dir: str = "."

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"name {self.name!r}: use letters, digits, '_', '.', '-'")
        parse_source(self.source, self.base_dir)
        _positive("refresh", self.refresh)
        _positive("retry", self.retry)
        _positive("timeout", self.timeout)
        if self.max_staleness is not None:
            _positive("max_staleness", self.max_staleness)
        if not 0.0 <= self.jitter < 1.0:
            raise ValueError(f"jitter {self.jitter!r}: must be in [0, 1)")
        if self.format not in FORMATS:
            raise ValueError(f"format {self.format!r}: expected one of {', '.join(FORMATS)}")
        if self.endpoint_url is not None and not self.endpoint_url.startswith(
            ("http://", "https://")
        ):
            raise ValueError(f"endpoint_url {self.endpoint_url!r}: expected an http(s) URL")

    @property
    def location(self) -> Location:
        """The parsed source."""
        return parse_source(self.source, self.base_dir)

    @property
    def disk_copy_path(self) -> Path | None:
        """The disk copy's path, resolved against ``base_dir``."""
        return None if self.disk_copy is None else Path(self.base_dir, self.disk_copy)


def _positive(name: str, value: float) -> None:
    if not value > 0:
        raise ValueError(f"{name} {value!r}: must be > 0")
