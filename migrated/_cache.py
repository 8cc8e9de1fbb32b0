"""Hot caches: reference data loaded from S3 or a file, refreshed on a timer.

Strategy:

* Readers never wait and never lock: ``HotCache.snapshot`` is one immutable
  ``CacheSnapshot`` that the refresher replaces with a single assignment, so a
  handler sees either the old or the new version, never a mix.  The
  snapshot's ``data`` is deep-frozen (``_frozen.freeze``: mappings become
  ``MappingProxyType``, lists tuples) in the parse thread, once per changed
  version, so a handler's mutation fails instead of leaking into every later
  request; reads cost nothing more.
* Blocking work runs in worker threads: the fetch (boto3, file reads) under an
  overall deadline of ``settings.timeout``, and the parse.  Parsing in a thread
  does not make it free: the GIL is held, so a large document still stalls the
  event loop for as long as ``json.loads`` takes.  Keep caches small (a few
  MB) or add a compact format to ``PARSERS``.
* Refreshes are conditional: the snapshot's version (the S3 ETag, or
  ``mtime_ns-size`` of a file) goes with each fetch, and an unchanged source
  answers "not modified" without bytes and without a parse.
* Failure keeps the last good snapshot: a failed refresh is logged, counted and
  kept in ``last_error``; readiness fails only once the data is older than
  ``max_staleness``.  After each change the raw bytes and version are written
  to the disk copy (temp file + ``os.replace``), which ``start`` falls back to
  when the source fails, so a cold start works without S3.  The copy is the
  source object's bytes as they are, its version in a sidecar (``_disk_copy``),
  so an operator can seed one by hand.
* boto3 is imported (through ``_s3``) only when an ``s3://`` cache is made, so
  ``file://`` caches work where boto3 is not installed.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypedDict

import anyio
import structlog
from anyio.abc import TaskStatus

from ._cache_metrics import (
    AGE_EXPORT_INTERVAL,
    RefreshResult,
    count_refresh,
    export_age,
    observe_load,
)
from ._cache_settings import CacheSettings, Format, S3Location
from ._disk_copy import DiskCopy, os_error, read_disk_copy, write_disk_copy
from ._exceptions import (
    CacheError,
    CacheFormatError,
    CacheSourceError,
    CacheStartError,
)
from ._frozen import freeze

log = structlog.get_logger("strangler.cache")

Parser = Callable[[bytes], Any]
PARSERS: dict[Format, Parser] = {"json": json.loads}
Fetched = tuple[bytes, str]
"""Raw bytes and their version."""


@dataclass(frozen=True, slots=True)
class CacheSnapshot:
    """One immutable version of a cache's data (implements ``Snapshot`` of ``migrated._api``).

    Attributes:
        data: the parsed data, deep-frozen (mappings are ``MappingProxyType``,
            arrays tuples); shared by every request.
        version: the S3 ETag, or ``mtime_ns-size`` for a file; ``""`` when
            unknown (a disk copy placed by hand).
        loaded_at: wall-clock time (epoch seconds) this process parsed it.
        source: where the bytes came from: the source URL or ``disk copy PATH``.
    """

    data: Any
    version: str
    loaded_at: float
    source: str


class CacheStatus(TypedDict):
    """What ``/ready`` and the admin listener show for one cache."""

    source: str
    version: str | None
    loaded_from: str | None
    age: float | None
    stale: bool
    last_error: str | None


def next_delay(interval: float, jitter: float, u: float) -> float:
    """``interval`` moved by up to ``jitter * interval`` either way; ``u`` is uniform in [0, 1]."""
    return interval * (1.0 + jitter * (2.0 * u - 1.0))


class Source(Protocol):
    """Where a cache's bytes come from; ``fetch`` blocks and runs in a worker thread."""

    url: str

    def fetch(self, version: str | None) -> Fetched | None:
        """The bytes and their version, or ``None`` if still at ``version``."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


class FileSource:
    """A local file; its version is ``mtime_ns-size`` (replace it atomically to update)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.url = f"file://{path}"

    def fetch(self, version: str | None) -> Fetched | None:
        """Read the file unless its mtime and size still match ``version``."""
        try:
            with self.path.open("rb") as file:
                stat = os.fstat(file.fileno())
                current = f"{stat.st_mtime_ns}-{stat.st_size}"
                return None if current == version else (file.read(), current)
        except OSError as exc:
            raise os_error(self.url, exc) from exc

    def close(self) -> None:
        """Nothing to release."""


class S3Source:
    """An S3 object, fetched with a conditional GET on its ETag."""

    def __init__(self, location: S3Location, settings: CacheSettings) -> None:
        from ._s3 import S3Object  # boto3 only when an s3:// cache exists

        self._object = S3Object(
            location.bucket,
            location.key,
            region=settings.region,
            endpoint_url=settings.endpoint_url,
            timeout=settings.timeout,
        )
        self.url = self._object.url

    def fetch(self, version: str | None) -> Fetched | None:
        """GET the object, ``IfNoneMatch=version``."""
        got = self._object.get(version)
        return None if got is None else (got.body, got.etag)

    def close(self) -> None:
        """Close the boto3 client."""
        self._object.close()


def make_source(settings: CacheSettings) -> Source:
    """The source named by ``settings.source``."""
    location = settings.location
    if isinstance(location, S3Location):
        return S3Source(location, settings)
    return FileSource(location.path)


class HotCache:
    """One named cache: loads at start, refreshes in ``run``, serves ``snapshot``.

    Args:
        settings: the cache's settings.
        parse: replaces the parser chosen by ``settings.format`` (custom
            formats; tests count parses with it).
        source: replaces the source named by ``settings.source``.
    """

    def __init__(
        self,
        settings: CacheSettings,
        *,
        parse: Parser | None = None,
        source: Source | None = None,
    ) -> None:
        self.settings = settings
        self.name = settings.name
        self._parse = parse or PARSERS[settings.format]
        self._source = source or make_source(settings)
        self._snapshot: CacheSnapshot | None = None
        self._confirmed = -math.inf
        self._last_error: str | None = None
        self._lock = anyio.Lock()

    @property
    def snapshot(self) -> CacheSnapshot:
        """The current snapshot.

        Raises:
            CacheError: ``start`` has not succeeded yet.
        """
        if self._snapshot is None:
            raise CacheError(f"cache {self.name!r} has not started")
        return self._snapshot

    @property
    def last_error(self) -> str | None:
        """Why the last load failed, or ``None`` after a success."""
        return self._last_error

    def age(self) -> float:
        """Seconds since the data was last confirmed fresh (loaded, or 304); inf before start."""
        return time.monotonic() - self._confirmed

    def stale(self) -> bool:
        """Whether the data is older than ``max_staleness`` (always, before start)."""
        limit = self.settings.max_staleness
        return self._snapshot is None or (limit is not None and self.age() > limit)

    def status(self) -> CacheStatus:
        """Version, age, staleness and last error, for ``/ready`` and the admin listener."""
        snap = self._snapshot
        return CacheStatus(
            source=self.settings.source,
            version=None if snap is None else snap.version or None,
            loaded_from=None if snap is None else snap.source,
            age=None if snap is None else self.age(),
            stale=self.stale(),
            last_error=self._last_error,
        )

    async def start(self) -> None:
        """Load from the source, or else from the disk copy.

        Raises:
            CacheStartError: neither loaded; names the cache, source and reasons.
        """
        async with self._lock:
            try:
                await self._load_source(None)
            except CacheSourceError as exc:
                await self._start_from_disk_copy(exc)
        export_age(self.name, self.age())

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Refresh forever: sleep ``refresh`` (``retry`` after a failure) ± jitter, refresh.

        Call after ``start``; cancel to stop.
        """
        task_status.started()
        failed = False
        while True:
            interval = self.settings.refresh
            if failed:
                interval = min(self.settings.retry, interval)
            await self._sleep(next_delay(interval, self.settings.jitter, random.random()))
            failed = await self.refresh_now() == "error"

    async def refresh_now(self) -> RefreshResult:
        """Refresh once (also the admin trigger); errors keep the last good snapshot.

        Raises:
            CacheError: ``start`` has not succeeded yet.
        """
        self.snapshot  # noqa: B018 - raises before start
        async with self._lock:
            result = await self._refresh(self.snapshot.version or None)
        count_refresh(self.name, result)
        export_age(self.name, self.age())
        return result

    def close(self) -> None:
        """Release the source's connections."""
        self._source.close()

    async def _refresh(self, version: str | None) -> RefreshResult:
        try:
            changed = await self._load_source(version)
        except CacheSourceError as exc:
            self._last_error = str(exc)
            log.warning("cache refresh failed", cache=self.name, error=str(exc))
            return "error"
        except Exception as exc:  # a bug must not stop the refresher or drop the data
            self._last_error = f"{type(exc).__name__}: {exc}"
            log.exception("cache refresh crashed", cache=self.name)
            return "error"
        self._last_error = None
        return "changed" if changed else "not_modified"

    async def _load_source(self, version: str | None) -> bool:
        """Fetch, parse and swap; ``False`` when the source is unchanged."""
        started = time.monotonic()
        fetched = await self._fetch(version)
        if fetched is None:
            self._confirmed = time.monotonic()
            return False
        data = await self._parse_bytes(self._source.url, fetched[0])
        self._swap(CacheSnapshot(data, fetched[1], time.time(), self._source.url))
        observe_load(self.name, time.monotonic() - started)
        await self._save_disk_copy(fetched)
        return True

    async def _fetch(self, version: str | None) -> Fetched | None:
        timeout = self.settings.timeout
        try:
            with anyio.fail_after(timeout):
                return await anyio.to_thread.run_sync(
                    self._source.fetch, version, abandon_on_cancel=True
                )
        except TimeoutError:
            raise CacheSourceError(self._source.url, f"no answer within {timeout:g}s") from None

    async def _parse_bytes(self, origin: str, body: bytes) -> Any:
        return await anyio.to_thread.run_sync(_parse, self._parse, origin, body)

    def _swap(self, snapshot: CacheSnapshot, confirmed: float | None = None) -> None:
        self._snapshot = snapshot  # the one assignment readers can observe
        self._confirmed = time.monotonic() if confirmed is None else confirmed
        self._last_error = None

    async def _start_from_disk_copy(self, source_error: CacheSourceError) -> None:
        path = self.settings.disk_copy_path
        reason = source_error.reason
        if path is None:
            raise CacheStartError(self.name, self.settings.source, reason) from source_error
        try:
            await self._load_disk_copy(path)
        except CacheSourceError as exc:
            where = "" if exc.source == str(path) else f" ({exc.source})"  # its sidecar
            reason = f"{reason}; disk copy {path}{where}: {exc.reason}"
            raise CacheStartError(self.name, self.settings.source, reason) from exc
        self._last_error = str(source_error)
        log.warning(
            "cache started from its disk copy",
            cache=self.name,
            source_error=str(source_error),
            disk_copy=str(path),
            version=self.snapshot.version,
        )

    async def _load_disk_copy(self, path: Path) -> None:
        copy = await anyio.to_thread.run_sync(read_disk_copy, path)
        if copy.source is not None and copy.source != self.settings.source:
            raise CacheSourceError(str(path), f"holds a copy of {copy.source}")
        if copy.version is None:
            log.warning("cache disk copy has no validator", cache=self.name, disk_copy=str(path))
        origin = f"disk copy {path}"
        data = await self._parse_bytes(origin, copy.body)
        saved_age = max(0.0, time.time() - copy.saved_at)
        snapshot = CacheSnapshot(data, copy.version or "", time.time(), origin)
        self._swap(snapshot, time.monotonic() - saved_age)

    async def _save_disk_copy(self, fetched: Fetched) -> None:
        path = self.settings.disk_copy_path
        if path is None:
            return
        body, version = fetched
        try:
            await anyio.to_thread.run_sync(
                write_disk_copy, path, DiskCopy(self.settings.source, version, time.time(), body)
            )
        except OSError as exc:  # the data is loaded; only the next cold start loses
            log.warning(
                "cache disk copy not written", cache=self.name, path=str(path), error=str(exc)
            )

    async def _sleep(self, delay: float) -> None:
        """Sleep ``delay`` seconds, exporting the growing age every little while."""
        deadline = anyio.current_time() + delay
        while (left := deadline - anyio.current_time()) > 0:
            await anyio.sleep(min(left, AGE_EXPORT_INTERVAL))
            export_age(self.name, self.age())


class CacheSet:
    """The worker's named caches: start them together, refresh them in one task group.

    Args:
        caches: the caches, with distinct names.
    """

    def __init__(self, caches: Iterable[HotCache]) -> None:
        self._caches: dict[str, HotCache] = {}
        for cache in caches:
            if cache.name in self._caches:
                raise ValueError(f"two caches named {cache.name!r}")
            self._caches[cache.name] = cache

    @classmethod
    def from_settings(cls, settings: Iterable[CacheSettings]) -> CacheSet:
        """One ``HotCache`` per settings entry."""
        return cls(HotCache(s) for s in settings)

    def __contains__(self, name: object) -> bool:
        return name in self._caches

    def cache(self, name: str) -> HotCache:
        """The cache called ``name``.

        Raises:
            KeyError: no such cache is configured.
        """
        try:
            return self._caches[name]
        except KeyError:
            raise KeyError(f"no cache named {name!r}") from None

    def get(self, name: str) -> Any:
        """The current data of cache ``name`` (what ``Context.cache`` returns).

        Raises:
            KeyError: no such cache is configured.
            CacheError: the cache has not started.
        """
        cache = self._caches.get(name)  # a handler asks per request: ``cache()`` only to raise
        return (cache or self.cache(name)).snapshot.data

    async def start(self) -> None:
        """Start every cache concurrently.

        Raises:
            CacheStartError: the first cache (in configured order) that failed;
                every failure is logged.
        """
        errors: dict[str, CacheStartError] = {}

        async def start_one(cache: HotCache) -> None:
            try:
                await cache.start()
            except CacheStartError as exc:
                log.error("cache did not start", cache=cache.name, error=str(exc))
                errors[cache.name] = exc

        async with anyio.create_task_group() as tg:
            for cache in self._caches.values():
                tg.start_soon(start_one, cache)
        for name in self._caches:
            if name in errors:
                raise errors[name]

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Run every cache's refresh loop in one task group; cancel to stop."""
        async with anyio.create_task_group() as tg:
            for cache in self._caches.values():
                await tg.start(cache.run)
            task_status.started()

    def status(self) -> dict[str, CacheStatus]:
        """``HotCache.status`` of every cache, by name."""
        return {name: cache.status() for name, cache in self._caches.items()}

    def ready(self) -> bool:
        """Whether every cache has data that is not stale."""
        return not any(cache.stale() for cache in self._caches.values())

    def close(self) -> None:
        """Close every cache's source."""
        for cache in self._caches.values():
            cache.close()


def _parse(parse: Parser, origin: str, body: bytes) -> Any:
    try:
        return freeze(parse(body))
    except RecursionError:
        raise CacheFormatError(origin, "nested too deeply") from None
    except Exception as exc:
        raise CacheFormatError(origin, f"{type(exc).__name__}: {exc}") from exc
