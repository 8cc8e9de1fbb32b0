"""Causes that no longer count: re-judged by learned noise, or accepted by an engineer."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pytest

from shadow._exceptions import TriageError
from shadow._model import (
    Answer,
    Comparison,
    Difference,
    LearnedNoise,
    Mirrored,
    ShadowRecord,
    SignatureSummary,
)
from shadow._pages import render_report
from shadow._readiness import Thresholds, verdict
from shadow._report import report_main
from shadow._store import ShadowStore
from shadow._store_read import StoreReader
from shadow._triage import classify

T0 = float(int(time.time()) // 120 * 120 - 3600)  # within retention; a multiple of 120 s
TOOK = Difference("value", "body/took_ms", "3", "9")
RETYPED = Difference("type", "body/took_ms", "3", '"3"')
ANY = Thresholds(min_compared=1)


def _record(at: float, *differences: Difference, request_id: str = "r") -> ShadowRecord:
    answer = Answer(200, (), b"{}", 0.01)
    mirrored = Mirrored("/stats", request_id, at, "GET", "/stats", "", (), b"", answer, answer)
    signature = "-".join(d.kind for d in differences)
    return ShadowRecord(mirrored, Comparison(not differences, differences, (), signature))


def _store(tmp_path: Path) -> ShadowStore:
    store = ShadowStore.open(tmp_path / "shadow.db", retention_days=1e6)
    records = [_record(T0 + i, TOOK) for i in range(3)]
    records += [_record(T0 + 70, RETYPED), _record(T0 + 71), _record(T0 + 72)]
    store.write(records, now=T0)
    return store


def _learn_took(store: ShadowStore) -> None:
    store.remember_noise([LearnedNoise("/stats", "body/took_ms", "value", T0 + 100)])
    store.write([], now=T0)


def test_mismatches_made_before_noise_was_learned_are_rejudged_as_matches(
    tmp_path: Path,
) -> None:
    """Once took_ms is learned as noise, its earlier value mismatches count as matches."""
    store = _store(tmp_path)
    [before] = store.routes()
    _learn_took(store)
    [after] = store.routes()
    open_ = store.signatures()
    aside = store.set_aside()
    points = store.timeline("/stats", bucket=60)
    store.close()
    assert (before.matched, before.mismatched, before.rejudged) == (2, 4, 0)
    assert (after.matched, after.mismatched, after.rejudged) == (5, 1, 3)
    assert verdict(before, ANY).label == "mismatches"
    assert [(s.signature, s.count) for s in open_] == [("type", 1)]
    assert [(s.signature, s.status, s.count) for s in aside] == [("value", "rejudged", 3)]
    assert [(p.compared, p.matched) for p in points] == [(3, 3), (3, 2)]


def test_a_retyped_field_at_a_noise_place_is_never_rejudged() -> None:
    """A signature holding a change of another kind than the learned one keeps counting."""
    found = [
        SignatureSummary("/stats", "a", 3, T0, T0, (TOOK,)),
        SignatureSummary("/stats", "b", 1, T0, T0, (TOOK, RETYPED)),
        SignatureSummary("/other", "c", 2, T0, T0, (TOOK,)),
    ]
    noise = [LearnedNoise("/stats", "body/took_ms", "value", T0)]
    still, aside = classify(found, noise, {})
    assert [s.signature for s in still] == ["b", "c"]
    assert [(s.signature, s.status) for s in aside] == [("a", "rejudged")]


def test_an_accepted_signature_leaves_the_verdict_and_is_listed_with_its_reason(
    tmp_path: Path,
) -> None:
    """Accepting the only open cause makes the route ready; reopening brings it back."""
    store = _learn_and_accept(tmp_path)
    [accepted] = store.routes()
    aside = {s.signature: s for s in store.set_aside()}
    assert store.reopen("type") == ["/stats"]
    [reopened] = store.routes()
    store.close()
    assert (accepted.mismatched, accepted.accepted, accepted.match_rate) == (0, 1, 1.0)
    assert verdict(accepted, ANY).ready
    assert (aside["type"].status, aside["type"].reason) == ("accepted", "string ids are fine")
    assert (reopened.mismatched, reopened.accepted) == (1, 0)
    assert not verdict(reopened, ANY).ready


def test_an_open_reader_sees_a_cause_accepted_after_its_last_read(tmp_path: Path) -> None:
    """A dashboard's long-lived reader judges again once another connection has written."""
    store = _store(tmp_path)
    with StoreReader.open(tmp_path / "shadow.db") as reader:
        [before] = reader.routes()
        store.accept("type", "known")
        [after] = reader.routes()
    store.close()
    assert (before.accepted, after.accepted) == (0, 1)


def _learn_and_accept(tmp_path: Path) -> ShadowStore:
    store = _store(tmp_path)
    _learn_took(store)
    assert store.accept("type", "string ids are fine") == ["/stats"]
    return store


@pytest.mark.parametrize(
    ("signature", "reason", "message"),
    [
        pytest.param("nope", "because", "not in the store", id="unknown"),
        pytest.param("type", "  ", "needs a reason", id="no-reason"),
    ],
)
def test_accepting_needs_a_known_signature_and_a_reason(
    tmp_path: Path, signature: str, reason: str, message: str
) -> None:
    """An unknown signature or an empty reason is refused and nothing is written."""
    store = _store(tmp_path)
    with pytest.raises(TriageError, match=message):
        store.accept(signature, reason)
    assert store.accepted() == {}
    store.close()


def _report(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = report_main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_accepting_from_the_command_line_prunes_nothing(tmp_path: Path) -> None:
    """The CLI's write leaves records older than the default retention in place."""
    store = ShadowStore.open(tmp_path / "shadow.db", retention_days=1e6)
    store.write([_record(1_000_000_000.0, TOOK)], now=1_000_000_000.0)
    store.close()
    path = str(tmp_path / "shadow.db")
    assert _report("--store", path, "--accept", "value", "--reason", "old and known")[0] == 0
    with StoreReader.open(path) as reader:
        [aside] = reader.set_aside()
    assert (aside.signature, aside.status, aside.count) == ("value", "accepted", 1)


def test_the_report_command_accepts_and_shows_causes_apart(tmp_path: Path) -> None:
    """``--accept SIG --reason`` persists; the reports list it and the re-judged apart."""
    _store(tmp_path).close()
    path = str(tmp_path / "shadow.db")
    store = ShadowStore.open(path)
    _learn_took(store)
    store.close()
    assert _report("--store", path, "--accept", "type")[0] == 2  # no reason
    code, _, err = _report("--store", path, "--accept", "type", "--reason", "ids may be strings")
    assert (code, err) == (0, "accepted type on /stats: ids may be strings\n")
    data = json.loads(_report("--store", path, "--json")[1])
    text = _report("--store", path)[1]
    with StoreReader.open(path) as reader:
        page = render_report(reader)
    [route] = data["routes"]
    assert (route["mismatched"], route["rejudged"], route["accepted"]) == (0, 3, 1)
    assert data["signatures"] == []
    assert [(s["signature"], s["status"]) for s in data["set_aside"]] == [
        ("value", "rejudged"),
        ("type", "accepted"),
    ]
    assert "Accepted (out of the verdict)" in text
    assert "reason: ids may be strings" in text
    assert "Re-judged" in text
    assert 'data-status="accepted"' in page
    assert "ids may be strings" in page
    assert 'data-status="rejudged"' in page


UUIDS = Difference(
    "value",
    "body/session",
    '"0f6a8f8e-4b8e-4c1e-9a51-0e5a0c2b9d11"',
    '"d2b1e4c7-1c5a-4a2e-8f3d-5b6e7f8a9c01"',
)
CSRF = Difference("token", "body:html/body/form/input[name=csrf]@value", "9f" * 16, "0c" * 16)


@pytest.mark.parametrize(
    ("differences", "status", "reason"),
    [
        ((UUIDS,), "unlearned", "<uuid>"),
        ((UUIDS, CSRF), "unlearned", "<hex>, <uuid>"),
        ((UUIDS, Difference("missing", "body/name", '"x"', "<absent>")), "open", ""),
        ((TOOK,), "open", ""),
        ((Difference("type", "body/at", "1733520000", '"1733520000"'),), "open", ""),
        ((Difference("value", "body/id", '"a-1733520000"', '"b-1733520001"'),), "open", ""),
    ],
    ids=["uuids", "uuid-and-csrf", "with-missing", "small-number", "retyped", "not-whole"],
)
def test_volatile_values_at_unlearned_places_are_set_aside_as_unlearned_noise(
    differences: tuple[Difference, ...], status: str, reason: str
) -> None:
    """A cause whose every difference is a volatile value on both sides is unlearned noise."""
    found = SignatureSummary("/stats", "s", 4, T0, T0, differences)
    still, aside = classify([found], [], {})
    [judged] = still + aside
    assert (judged.status, judged.reason) == (status, reason)


def test_unlearned_noise_counts_neither_way_and_is_shown_apart(tmp_path: Path) -> None:
    """Unlearned-noise records leave the mismatches and the rate; every report lists them."""
    store = ShadowStore.open(tmp_path / "shadow.db", retention_days=1e6)
    store.write([_record(T0 + i, UUIDS) for i in range(3)] + [_record(T0 + 5)], now=T0)
    store.close()
    path = str(tmp_path / "shadow.db")
    data = json.loads(_report("--store", path, "--json")[1])
    text = _report("--store", path)[1]
    with StoreReader.open(path) as reader:
        page = render_report(reader)
    [route] = data["routes"]
    assert (route["compared"], route["mismatched"], route["unlearned"]) == (4, 0, 3)
    assert route["match_rate"] == 1.0
    assert [(s["status"], s["count"]) for s in data["set_aside"]] == [("unlearned", 3)]
    assert "Unlearned noise" in text
    assert "both sides are <uuid>" in text
    assert 'data-status="unlearned"' in page
    assert "3 unlearned noise" in page
