"""Hot caches over ``file://`` sources: refresh, not-modified, failures, disk copy, CacheSet."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import anyio
import pytest
from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from migrated._cache import CacheSet, HotCache, read_disk_copy
from migrated._cache_settings import CacheSettings
from migrated._disk_copy import sidecar_path
from migrated._exceptions import CacheError, CacheStartError

pytestmark = pytest.mark.anyio


class CountingParse:
    """``json.loads`` that counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, body: bytes) -> Any:
        self.calls += 1
        return json.loads(body)


def write(path: Path, data: object, *, stamp: int) -> None:
    """Write ``data`` as JSON and set a distinct mtime (``stamp`` seconds after 2020)."""
    path.write_text(json.dumps(data))
    ns = (1_577_836_800 + stamp) * 1_000_000_000
    os.utime(path, ns=(ns, ns))


def refreshes(name: str, result: str) -> float:
    """The refresh counter of cache ``name`` for ``result``."""
    return (
        REGISTRY.get_sample_value(
            "strangler_cache_refreshes_total", {"cache": name, "result": result}
        )
        or 0.0
    )


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    """A JSON data file with version 1."""
    path = tmp_path / "rates.json"
    write(path, {"v": 1}, stamp=1)
    return path


def settings(path: Path, name: str, **kw: Any) -> CacheSettings:
    """Settings of a file cache on ``path``."""
    return CacheSettings(name, f"file://{path.name}", base_dir=str(path.parent), **kw)


async def test_start_loads_the_file(data_file: Path) -> None:
    """start() loads the data; the snapshot names its source and a version."""
    cache = HotCache(settings(data_file, "file_start"))
    await cache.start()
    snap = cache.snapshot
    assert snap.data == {"v": 1}
    assert snap.source == f"file://{data_file}"
    size = (await anyio.Path(data_file).stat()).st_size
    assert snap.version.endswith(f"-{size}")
    assert cache.status()["last_error"] is None
    assert not cache.stale()


async def test_refresh_on_mtime_change(data_file: Path) -> None:
    """A changed mtime loads the new data and swaps the snapshot."""
    cache = HotCache(settings(data_file, "file_change"))
    await cache.start()
    write(data_file, {"v": 2}, stamp=2)
    assert await cache.refresh_now() == "changed"
    assert cache.snapshot.data == {"v": 2}


async def test_unchanged_file_is_not_reparsed(data_file: Path) -> None:
    """An unchanged file is not read or parsed, and the snapshot object stays."""
    parse = CountingParse()
    cache = HotCache(settings(data_file, "file_same"), parse=parse)
    await cache.start()
    before, counted = cache.snapshot, refreshes("file_same", "not_modified")
    assert await cache.refresh_now() == "not_modified"
    assert cache.snapshot is before
    assert parse.calls == 1
    assert refreshes("file_same", "not_modified") == counted + 1


async def test_bad_data_keeps_last_good_snapshot(data_file: Path) -> None:
    """Unparseable new bytes are an error; the old snapshot stays and the error is kept."""
    cache = HotCache(settings(data_file, "file_bad"))
    await cache.start()
    await anyio.Path(data_file).write_text("{not json")
    counted = refreshes("file_bad", "error")
    with capture_logs() as logs:
        assert await cache.refresh_now() == "error"
    assert cache.snapshot.data == {"v": 1}
    assert "JSONDecodeError" in (cache.last_error or "")
    assert logs[0]["event"] == "cache refresh failed"
    assert refreshes("file_bad", "error") == counted + 1


async def test_stale_when_refreshes_keep_failing(data_file: Path) -> None:
    """With the file gone, refreshes fail and the data turns stale after max_staleness."""
    cache = HotCache(settings(data_file, "file_stale", max_staleness=0.2))
    await cache.start()
    assert not cache.stale()
    await anyio.Path(data_file).unlink()
    await anyio.sleep(0.3)
    assert await cache.refresh_now() == "error"
    assert cache.stale()
    assert cache.snapshot.data == {"v": 1}


async def test_cold_start_from_disk_copy(data_file: Path, tmp_path: Path) -> None:
    """A change writes the disk copy; a later start without the source loads it."""
    kw = {"disk_copy": "copy/rates.copy"}
    first = HotCache(settings(data_file, "file_copy", **kw))
    await first.start()
    version = first.snapshot.version
    assert read_disk_copy(tmp_path / "copy" / "rates.copy").version == version
    await anyio.Path(data_file).unlink()
    second = HotCache(settings(data_file, "file_copy", **kw))
    with capture_logs() as logs:
        await second.start()
    assert second.snapshot.data == {"v": 1}
    assert second.snapshot.version == version
    assert second.snapshot.source.startswith("disk copy ")
    assert "No such file" in (second.last_error or "")
    assert logs[0]["event"] == "cache started from its disk copy"
    copy = tmp_path / "copy" / "rates.copy"
    assert sorted((tmp_path / "copy").iterdir()) == [copy, sidecar_path(copy)]  # no temp file


async def test_disk_copy_of_another_source_is_refused(data_file: Path, tmp_path: Path) -> None:
    """A disk copy written for another source does not stand in for this one."""
    await HotCache(settings(data_file, "file_other", disk_copy="shared.copy")).start()
    missing = tmp_path / "other.json"
    cache = HotCache(settings(missing, "file_other", disk_copy="shared.copy"))
    with pytest.raises(CacheStartError, match="holds a copy of"):
        await cache.start()


async def test_start_fails_when_nothing_loads(tmp_path: Path) -> None:
    """No source and no disk copy: CacheStartError names the cache, source and both reasons."""
    cache = HotCache(settings(tmp_path / "none.json", "file_none", disk_copy="none.copy"))
    with pytest.raises(CacheStartError) as info:
        await cache.start()
    message = str(info.value)
    assert "'file_none'" in message
    assert "file://none.json" in message
    assert "none.copy" in message
    with pytest.raises(CacheError, match="has not started"):
        _ = cache.snapshot
    assert cache.stale()


async def test_cache_set(data_file: Path, tmp_path: Path) -> None:
    """CacheSet starts all caches, serves data by name and reports status per cache."""
    other = tmp_path / "zones.json"
    write(other, ["a", "b"], stamp=1)
    caches = CacheSet.from_settings([settings(data_file, "set_a"), settings(other, "set_b")])
    await caches.start()
    assert caches.get("set_a") == {"v": 1}
    assert caches.get("set_b") == ("a", "b")  # frozen: arrays are tuples
    status = caches.status()
    assert set(status) == {"set_a", "set_b"}
    assert status["set_b"]["version"] == caches.cache("set_b").snapshot.version
    assert status["set_a"]["stale"] is False
    assert caches.ready()
    with pytest.raises(KeyError, match="nope"):
        caches.get("nope")
    caches.close()


async def test_cache_set_start_failure(data_file: Path, tmp_path: Path) -> None:
    """One cache that cannot start fails the set's start with its CacheStartError."""
    caches = CacheSet.from_settings(
        [settings(data_file, "setf_a"), settings(tmp_path / "gone.json", "setf_b")]
    )
    with pytest.raises(CacheStartError, match="setf_b"):
        await caches.start()
    assert not caches.ready()
    assert caches.status()["setf_a"]["version"] is not None


async def test_cache_set_run_refreshes(data_file: Path) -> None:
    """The refresh loops pick up a change on their own."""
    caches = CacheSet.from_settings([settings(data_file, "set_run", refresh=0.02)])
    await caches.start()
    write(data_file, {"v": 2}, stamp=2)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            await tg.start(caches.run)
            while caches.get("set_run") != {"v": 2}:  # noqa: ASYNC110 - polls cache state
                await anyio.sleep(0.01)
            tg.cancel_scope.cancel()
    assert refreshes("set_run", "changed") >= 1


# --- disk copies: plain bytes, validator in a sidecar ---------------------------------------------


async def test_the_disk_copy_is_the_source_bytes_with_the_validator_beside_them(
    data_file: Path, tmp_path: Path
) -> None:
    """The copy is byte for byte the source; the sidecar holds source, version and digest."""
    cache = HotCache(settings(data_file, "file_plain", disk_copy="rates.copy"))
    await cache.start()
    copy = tmp_path / "rates.copy"
    source_bytes = await anyio.Path(data_file).read_bytes()
    assert await anyio.Path(copy).read_bytes() == source_bytes
    meta = json.loads(await anyio.Path(sidecar_path(copy)).read_text())
    assert meta["source"] == f"file://{data_file.name}"
    assert meta["version"] == cache.snapshot.version
    assert meta["size"] == len(source_bytes)


async def test_a_hand_placed_copy_without_sidecar_starts_the_cache(tmp_path: Path) -> None:
    """A plain copy put there by hand serves a cold start, with no version and its mtime as age."""
    copy = tmp_path / "rates.copy"
    write(copy, {"v": "by hand"}, stamp=3)
    cache = HotCache(settings(tmp_path / "gone.json", "file_by_hand", disk_copy="rates.copy"))
    with capture_logs() as logs:
        await cache.start()
    assert cache.snapshot.data == {"v": "by hand"}
    assert cache.status()["version"] is None
    assert cache.age() > 3600  # dated 2020 by its mtime
    assert "cache disk copy has no validator" in [e["event"] for e in logs]
    write(tmp_path / "gone.json", {"v": 2}, stamp=4)
    assert await cache.refresh_now() == "changed"  # no validator: an unconditional fetch
    assert cache.snapshot.data == {"v": 2}
    assert read_disk_copy(copy).version == cache.snapshot.version


async def test_a_sidecar_describing_other_bytes_gives_no_validator(
    data_file: Path, tmp_path: Path
) -> None:
    """Bytes replaced by hand under an old sidecar: its version is not trusted for them."""
    first = HotCache(settings(data_file, "file_replaced", disk_copy="rates.copy"))
    await first.start()
    (tmp_path / "rates.copy").write_text('{"v": "replaced"}')
    assert read_disk_copy(tmp_path / "rates.copy").version is None
    await anyio.Path(data_file).unlink()
    second = HotCache(settings(data_file, "file_replaced", disk_copy="rates.copy"))
    await second.start()
    assert second.snapshot.data == {"v": "replaced"}
    assert second.snapshot.version == ""


@pytest.mark.parametrize(
    ("sidecar", "reason"),
    [
        pytest.param('{"etag": "x"}', "etag: unknown key", id="unknown-key"),
        pytest.param('{"version": 3}', "version: expected str", id="wrong-type"),
        pytest.param('{"version": ', "not JSON", id="not-json"),
        pytest.param("[]", "not a JSON object", id="not-an-object"),
    ],
)
async def test_a_bad_sidecar_is_refused_naming_the_file_and_key(
    tmp_path: Path, sidecar: str, reason: str
) -> None:
    """A hand-written sidecar with a mistake fails the start, saying where and what."""
    copy = tmp_path / "rates.copy"
    write(copy, {"v": 1}, stamp=1)
    sidecar_path(copy).write_text(sidecar)
    cache = HotCache(settings(tmp_path / "gone.json", "file_bad_meta", disk_copy="rates.copy"))
    with pytest.raises(CacheStartError) as caught:
        await cache.start()
    assert f"disk copy {copy} ({sidecar_path(copy)}): {reason}" in str(caught.value)


async def test_a_copy_in_the_earlier_one_file_format_is_still_read(tmp_path: Path) -> None:
    """A header line then the bytes (what earlier versions wrote) keeps serving a cold start."""
    source = "file://gone.json"
    header = {"source": source, "version": "7-9", "saved_at": 1_600_000_000.0}
    (tmp_path / "rates.copy").write_bytes(json.dumps(header).encode() + b'\n{"v": "old"}')
    cache = HotCache(settings(tmp_path / "gone.json", "file_legacy", disk_copy="rates.copy"))
    await cache.start()
    assert (cache.snapshot.data, cache.snapshot.version) == ({"v": "old"}, "7-9")
