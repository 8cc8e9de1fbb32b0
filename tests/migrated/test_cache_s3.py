"""Hot caches over S3, against moto's server mode reached by boto3 over HTTP."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest
from prometheus_client import REGISTRY

from migrated._cache import HotCache
from migrated._cache_settings import CacheSettings
from migrated._disk_copy import sidecar_path
from migrated._exceptions import CacheSourceMissing, CacheStartError
from migrated._s3 import S3Object

from ._s3_fixtures import REGION, MotoS3, aws_env, closed_url, moto_s3, own_s3

__all__ = ["aws_env", "closed_url", "moto_s3", "own_s3"]  # fixtures used by name

pytestmark = [pytest.mark.service, pytest.mark.anyio]

KEY = "ref/rates.json"


class CountingParse:
    """``json.loads`` that counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, body: bytes) -> Any:
        self.calls += 1
        return json.loads(body)


def s3_settings(name: str, bucket: str, endpoint_url: str, **kw: Any) -> CacheSettings:
    """Settings of an S3 cache on ``bucket``/KEY at ``endpoint_url``.

    The 15 s fetch timeout only bounds a hang: boto3 builds its client in the
    fetch thread, which takes seconds on a loaded machine.
    """
    return CacheSettings(
        name, f"s3://{bucket}/{KEY}", region=REGION, endpoint_url=endpoint_url, timeout=15.0, **kw
    )


def refreshes(name: str, result: str) -> float:
    """The refresh counter of cache ``name`` for ``result``."""
    labels = {"cache": name, "result": result}
    return REGISTRY.get_sample_value("strangler_cache_refreshes_total", labels) or 0.0


def put_json(s3: MotoS3, bucket: str, data: object) -> str:
    """Store ``data`` as JSON at KEY; return the ETag."""
    return s3.put(bucket, KEY, json.dumps(data).encode())


async def test_refresh_loads_a_new_version(moto_s3: MotoS3) -> None:
    """A new object version is fetched, parsed and swapped in."""
    bucket = moto_s3.bucket()
    put_json(moto_s3, bucket, {"v": 1})
    cache = HotCache(s3_settings("s3_change", bucket, moto_s3.endpoint_url))
    try:
        await cache.start()
        assert cache.snapshot.data == {"v": 1}
        etag = put_json(moto_s3, bucket, {"v": 2})
        assert await cache.refresh_now() == "changed"
        assert cache.snapshot.data == {"v": 2}
        assert cache.snapshot.version == etag
        assert cache.snapshot.source == f"s3://{bucket}/{KEY}"
    finally:
        cache.close()


async def test_not_modified_skips_the_parse(moto_s3: MotoS3) -> None:
    """An unchanged object answers 304: counted as not_modified, no parse, same snapshot."""
    bucket = moto_s3.bucket()
    put_json(moto_s3, bucket, {"v": 1})
    parse = CountingParse()
    cache = HotCache(s3_settings("s3_same", bucket, moto_s3.endpoint_url), parse=parse)
    try:
        await cache.start()
        before, counted = cache.snapshot, refreshes("s3_same", "not_modified")
        assert await cache.refresh_now() == "not_modified"
        assert cache.snapshot is before
        assert parse.calls == 1
        assert refreshes("s3_same", "not_modified") == counted + 1
    finally:
        cache.close()


async def test_outage_keeps_snapshot_and_turns_stale(own_s3: MotoS3) -> None:
    """S3 down: refreshes fail, the data stays, and turns stale after max_staleness."""
    bucket = own_s3.bucket()
    put_json(own_s3, bucket, {"v": 1})
    cache = HotCache(s3_settings("s3_down", bucket, own_s3.endpoint_url, max_staleness=0.3))
    try:
        await cache.start()
        assert not cache.stale()
        own_s3.stop()
        await anyio.sleep(0.4)
        assert await cache.refresh_now() == "error"
        assert cache.snapshot.data == {"v": 1}
        assert "EndpointConnectionError" in (cache.last_error or "")
        assert cache.stale()
    finally:
        cache.close()


async def test_recovery_after_outage_is_a_304(own_s3: MotoS3) -> None:
    """When S3 is back the same data is confirmed by a 304 and is fresh again."""
    bucket = own_s3.bucket()
    put_json(own_s3, bucket, {"v": 1})
    cache = HotCache(s3_settings("s3_back", bucket, own_s3.endpoint_url, max_staleness=0.3))
    try:
        await cache.start()
        own_s3.stop()
        await anyio.sleep(0.4)
        assert await cache.refresh_now() == "error"
        again = MotoS3(own_s3.port)  # moto state is per process: the bucket is still there
        try:
            assert await cache.refresh_now() == "not_modified"
            assert cache.last_error is None
            assert not cache.stale()
        finally:
            again.close()  # takes up to 0.5 s (the server's poll interval)
    finally:
        cache.close()


async def test_deleted_object_keeps_snapshot(moto_s3: MotoS3) -> None:
    """A deleted object is an error (NoSuchKey); the last good data stays."""
    bucket = moto_s3.bucket()
    put_json(moto_s3, bucket, {"v": 1})
    cache = HotCache(s3_settings("s3_deleted", bucket, moto_s3.endpoint_url))
    try:
        await cache.start()
        moto_s3.client.delete_object(Bucket=bucket, Key=KEY)
        assert await cache.refresh_now() == "error"
        assert cache.snapshot.data == {"v": 1}
        assert "NoSuchKey" in (cache.last_error or "")
    finally:
        cache.close()


async def test_cold_start_from_disk_copy(moto_s3: MotoS3, closed_url: str, tmp_path: Path) -> None:
    """S3 unreachable at start: the disk copy written by an earlier start is served."""
    bucket = moto_s3.bucket()
    etag = put_json(moto_s3, bucket, {"v": 1})
    kw = {"disk_copy": str(tmp_path / "rates.copy")}
    warm = HotCache(s3_settings("s3_cold", bucket, moto_s3.endpoint_url, **kw))
    cold = HotCache(s3_settings("s3_cold", bucket, closed_url, **kw))
    try:
        await warm.start()
        await cold.start()
        assert cold.snapshot.data == {"v": 1}
        assert cold.snapshot.version == etag
        assert cold.snapshot.source == f"disk copy {tmp_path / 'rates.copy'}"
        assert "EndpointConnectionError" in (cold.last_error or "")
    finally:
        warm.close()
        cold.close()


@pytest.mark.parametrize(
    "sidecar",
    [
        pytest.param(None, id="plain-copy"),
        pytest.param({"version": '"hand-etag"'}, id="with-a-hand-written-etag"),
    ],
)
@pytest.mark.usefixtures("aws_env")
async def test_a_hand_placed_rules_json_starts_the_cache_while_s3_is_down(
    closed_url: str, tmp_path: Path, sidecar: dict[str, str] | None
) -> None:
    """An operator's plain copy of the object (``aws s3 cp``) serves a cold start without S3."""
    copy = tmp_path / "rules.json"
    rules = {"events": {"signup": {"fields": ["email"]}}}
    await anyio.Path(copy).write_text(json.dumps(rules))  # by hand: no sidecar written by us
    if sidecar is not None:
        await anyio.Path(sidecar_path(copy)).write_text(json.dumps(sidecar))
    cache = HotCache(s3_settings("s3_by_hand", "some-bucket", closed_url, disk_copy=str(copy)))
    try:
        await cache.start()
    finally:
        cache.close()
    assert cache.snapshot.data == {"events": {"signup": {"fields": ("email",)}}}
    assert cache.snapshot.source == f"disk copy {copy}"
    assert cache.status()["version"] == (sidecar or {}).get("version")
    assert "EndpointConnectionError" in (cache.last_error or "")


async def test_start_fails_without_s3_and_disk_copy(closed_url: str, tmp_path: Path) -> None:
    """Neither S3 nor a disk copy: CacheStartError names the cache and the source."""
    copy = str(tmp_path / "never.copy")
    cache = HotCache(s3_settings("s3_nothing", "some-bucket", closed_url, disk_copy=copy))
    try:
        with pytest.raises(CacheStartError) as info:
            await cache.start()
    finally:
        cache.close()
    assert info.value.source == f"s3://some-bucket/{KEY}"
    assert "s3_nothing" in str(info.value)
    assert f"s3://some-bucket/{KEY}" in str(info.value)
    assert "never.copy" in str(info.value)


def test_s3_object_translates_errors(moto_s3: MotoS3) -> None:
    """The blocking wrapper answers bytes, None for 304, and CacheSourceMissing for 404."""
    bucket = moto_s3.bucket()
    etag = moto_s3.put(bucket, KEY, b"[]")
    obj = S3Object(bucket, KEY, region=REGION, endpoint_url=moto_s3.endpoint_url, timeout=2.0)
    missing = S3Object(bucket, "nope", region=REGION, endpoint_url=moto_s3.endpoint_url)
    try:
        got = obj.get()
        assert got is not None
        assert (got.body, got.etag) == (b"[]", etag)
        assert obj.get(etag) is None
        with pytest.raises(CacheSourceMissing, match="NoSuchKey"):
            missing.get()
    finally:
        obj.close()
        missing.close()
