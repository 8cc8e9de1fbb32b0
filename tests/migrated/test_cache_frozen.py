"""Cache snapshots are immutable in fact: deep-frozen once per load, readable as before."""

from __future__ import annotations

import json
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from migrated import Response, thaw
from migrated._cache import HotCache
from migrated._cache_settings import CacheSettings
from migrated._frozen import freeze

pytestmark = pytest.mark.anyio
DATA = {"events": {"signup": {"fields": ["email", "age"], "limits": {"age": [18, 120]}}}}


class CountingFreezes:
    """``json.loads``, counting its calls (the freeze follows each one)."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, body: bytes) -> Any:
        self.calls += 1
        return json.loads(body)


async def _started(tmp_path: Path, parse: CountingFreezes | None = None) -> HotCache:
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(DATA))
    settings = CacheSettings("frozen", "file://rules.json", base_dir=str(tmp_path))
    cache = HotCache(settings, parse=parse)
    await cache.start()
    return cache


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda d: d.__setitem__("new", 1), id="top-level-set"),
        pytest.param(lambda d: d.pop("events"), id="top-level-pop"),
        pytest.param(lambda d: d["events"].clear(), id="nested-clear"),
        pytest.param(lambda d: d["events"]["signup"].update(x=1), id="nested-update"),
        pytest.param(lambda d: d["events"]["signup"]["fields"].append("x"), id="list-append"),
        pytest.param(
            lambda d: d["events"]["signup"]["limits"]["age"].__setitem__(0, 0), id="list-item"
        ),
        pytest.param(lambda d: d["events"]["signup"]["fields"].sort(), id="list-sort"),
    ],
)
async def test_a_mutation_of_a_snapshot_fails(tmp_path: Path, mutate: Any) -> None:
    """Every level of the data refuses change, and the data stays as loaded."""
    cache = await _started(tmp_path)
    with pytest.raises((TypeError, AttributeError)):
        mutate(cache.snapshot.data)
    assert thaw(cache.snapshot.data) == DATA


async def test_frozen_data_reads_as_the_parsed_data(tmp_path: Path) -> None:
    """Lookups, iteration, equality and Response.json work on the frozen data."""
    cache = await _started(tmp_path)
    data = cache.snapshot.data
    assert isinstance(data, MappingProxyType)
    assert data == freeze(DATA)  # mapping proxies compare as their dicts; arrays are tuples
    assert data != DATA
    assert data["events"]["signup"]["fields"] == ("email", "age")
    assert list(data["events"]) == ["signup"]
    assert json.loads(Response.json(data).body) == DATA


async def test_freezing_happens_once_per_load_not_per_read(tmp_path: Path) -> None:
    """Readers get the one frozen object; an unchanged refresh neither parses nor freezes."""
    parse = CountingFreezes()
    cache = await _started(tmp_path, parse)
    first = cache.snapshot.data
    assert cache.snapshot.data is first
    assert await cache.refresh_now() == "not_modified"
    assert cache.snapshot.data is first
    assert parse.calls == 1


def test_thaw_gives_a_mutable_deep_copy() -> None:
    """A handler that must edit the data works on ``thaw(data)``, never on the snapshot."""
    frozen = freeze(DATA)
    copy = thaw(frozen)
    assert copy == DATA
    copy["events"]["signup"]["fields"].append("x")
    assert copy != DATA
    assert thaw(frozen) == DATA
