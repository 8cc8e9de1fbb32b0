"""Learned noise kept in the store: written as learned, loaded by every worker."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import anyio
import pytest

from shadow._model import Answer, Difference, Mirrored
from shadow._redact import REDACTED
from shadow._rules import CompareRules
from shadow._runtime import ShadowRuntime
from shadow._settings import ShadowSettings, open_shadow
from shadow._store import ShadowStore
from shadow._store_read import StoreReader

from ._json import json_answer

RULES = CompareRules()
TOOK = Difference("value", "body/took_ms", "3", "9")


def _mirrored(
    control: Answer, candidate: Answer, second: Answer | None = None, request_id: str = "r1"
) -> Mirrored:
    return Mirrored(
        "/stats", request_id, 1_700_000_000.0, "GET", "/stats", "", (), b"", control, candidate,
        second_control=second,
    )  # fmt: skip


def _stats(took: int, token: str = "t") -> Answer:
    return json_answer({"took_ms": took, "token": token, "n": 1})


def _open(path: Path) -> tuple[ShadowRuntime, ShadowStore]:
    runtime = open_shadow(ShadowSettings(store=str(path)), None)
    return runtime, cast(ShadowStore, runtime.sink)


def test_noise_a_worker_learned_is_loaded_by_the_next_one(tmp_path: Path) -> None:
    """A place learned before a restart is noise at once for a worker opened after it."""
    path = tmp_path / "shadow.db"
    first, store = _open(path)
    first.record(_mirrored(_stats(3), _stats(3), second=_stats(9), request_id="teach"), RULES)
    store.close()
    later, store = _open(path)
    store.close()
    assert later.noise.is_noise("/stats", TOOK)
    with StoreReader.open(path) as reader:
        [row] = reader.noise("/stats")
    assert (row.where, row.kind, row.how, row.request_id) == (
        "body/took_ms",
        "value",
        "legacy asked twice",
        "teach",
    )
    assert (row.first, row.second) == ("3", "9")


def test_values_that_taught_a_secret_field_are_redacted(tmp_path: Path) -> None:
    """The two legacy values stored with a place under a redacted field are hidden."""
    path = tmp_path / "shadow.db"
    runtime, store = _open(path)
    runtime.record(_mirrored(_stats(3, "a"), _stats(3, "a"), second=_stats(3, "b")), RULES)
    store.close()
    with StoreReader.open(path) as reader:
        [row] = reader.noise("/stats")
    assert (row.where, row.first, row.second) == ("body/token", REDACTED, REDACTED)


def test_a_store_without_a_learning_worker_stores_no_noise(tmp_path: Path) -> None:
    """Records without a second legacy answer teach nothing and write no noise rows."""
    path = tmp_path / "shadow.db"
    runtime, store = _open(path)
    runtime.record(_mirrored(_stats(3), _stats(4)), RULES)
    store.close()
    with StoreReader.open(path) as reader:
        assert reader.noise() == []


@pytest.mark.anyio
async def test_a_running_worker_picks_up_what_a_peer_learned(tmp_path: Path) -> None:
    """After its next write, a worker excuses a place another worker learned meanwhile."""
    path = tmp_path / "shadow.db"
    mine, my_store = _open(path)
    peer, peer_store = _open(path)
    peer.record(_mirrored(_stats(3), _stats(3), second=_stats(9)), RULES)
    peer_store.close()
    assert not mine.noise.is_noise("/stats", TOOK)
    async with anyio.create_task_group() as tg:
        await tg.start(my_store.run)
        mine.record(_mirrored(_stats(3), _stats(3)), RULES)
        await my_store.aclose()  # the run task writes the record: its batch reads the peer's
    assert mine.noise.is_noise("/stats", TOOK)


@pytest.mark.anyio
async def test_learned_noise_stays_per_process_with_kafka(tmp_path: Path) -> None:
    """With the Kafka sink nothing is written for others: the model is the worker's own."""
    publisher: Any = object()
    runtime = open_shadow(ShadowSettings(store=str(tmp_path / "x.db"), kafka_topic="t"), publisher)
    await runtime.sink.aclose()
    assert runtime.on_learned is None
    assert not (tmp_path / "x.db").exists()
