"""The readiness verdict, the HTML report and the dashboard app (in process, no browser)."""

from __future__ import annotations

import json
import re
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from shadow._dashboard import ShadowDashboard
from shadow._model import Difference, RouteSummary
from shadow._pages import pct, render_report, write_report_html
from shadow._readiness import Thresholds, verdict

from ._fake_reader import (
    SIG_CHECKOUT,
    SIG_CONTENT_TYPE,
    SIG_MESSAGE,
    SIG_NAME_NFD,
    XSS,
    FakeReader,
    sample_reader,
)

T = Thresholds()


def _route(compared: int = 1000, matched: int | None = None, **kw: Any) -> RouteSummary:
    matched = compared if matched is None else matched
    s = RouteSummary("r", compared=compared, matched=matched, mismatched=compared - matched)
    s.control_p50, s.control_p99, s.candidate_p50, s.candidate_p99 = 0.01, 0.05, 0.01, 0.05
    for name, value in kw.items():
        setattr(s, name, value)
    return s


# -- readiness ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("summary", "label"),
    [
        pytest.param(_route(), "ready to canary", id="ready"),
        pytest.param(_route(200), "ready to canary", id="exactly-min-compared"),
        pytest.param(_route(1000, 999), "ready to canary", id="exactly-min-match-rate"),
        pytest.param(_route(2000, candidate_errors=2), "ready to canary", id="exactly-max-errors"),
        pytest.param(_route(candidate_p99=0.075), "ready to canary", id="exactly-max-latency"),
        pytest.param(_route(199), "not enough traffic", id="too-few"),
        pytest.param(_route(0), "not enough traffic", id="nothing"),
        pytest.param(_route(1000, 998), "mismatches", id="mismatches"),
        pytest.param(_route(1000, 998, candidate_errors=2), "candidate errors", id="errors"),
        pytest.param(_route(skips={"candidate_error": 5}), "candidate errors", id="error-skips"),
        pytest.param(_route(candidate_p99=0.08), "too slow", id="slow-p99"),
        pytest.param(_route(candidate_p50=0.02), "too slow", id="slow-p50"),
        pytest.param(_route(control_p99=0.0, candidate_p99=1.0), "ready to canary", id="no-base"),
    ],
)
def test_verdict_labels(summary: RouteSummary, label: str) -> None:
    """Each threshold decides its own label, and a value on the threshold passes."""
    result = verdict(summary, T)
    assert (result.label, result.ready) == (label, label == "ready to canary")
    assert bool(result.reasons) == (not result.ready)


def test_verdict_names_every_reason_and_labels_the_first() -> None:
    """Several failures: all are listed, the label is the most fundamental one."""
    result = verdict(_route(100, 90, candidate_errors=3, candidate_p99=0.5), T)
    assert result.label == "not enough traffic"
    assert result.reasons[0] == "100 compared, need 200"
    assert [r.split(" ")[1] for r in result.reasons[1:]] == ["candidate", "mismatches:", "p99"]


def test_verdict_uses_the_given_thresholds() -> None:
    """Looser thresholds turn the same totals ready."""
    loose = Thresholds(min_compared=50, min_match_rate=0.9, max_latency_ratio=20)
    assert verdict(_route(100, 95, candidate_p99=0.5), loose).ready


# -- formatting and charts ------------------------------------------------------------


@pytest.mark.parametrize(
    ("rate", "text"),
    [(0.975, "97.5%"), (0.5, "50.0%"), (0.9995, "99.95%"), (0.99999, "99.99%"), (1.0, "100%")],
    ids=["one-decimal", "half", "two-decimals-near-bar", "never-rounds-to-100", "all"],
)
def test_pct(rate: float, text: str) -> None:
    """Rates near the bar get two decimals and never round up to 100%."""
    assert pct(rate) == text


# -- the report ---------------------------------------------------------------------


@pytest.fixture
def report() -> str:
    """The report of the synthetic data set."""
    return render_report(sample_reader())


def _row(page: str, route: str) -> str:
    found = re.search(rf'<tr data-route="{route}">(.*?)</tr>', page)
    assert found, route
    return found.group(1)


@pytest.mark.parametrize(
    ("route", "label", "rate"),
    [
        ("users", "ready to canary", "100%"),
        ("validate", "mismatches", "97.5%"),
        ("checkout", "candidate errors", "99.50%"),
        ("search", "too slow", "100%"),
        ("orders", "not enough traffic", "100%"),
    ],
    ids=lambda v: str(v),
)
def test_summary_row(report: str, route: str, label: str, rate: str) -> None:
    """Each route's row shows its verdict and match rate."""
    row = _row(report, route)
    assert f">{label}</span>" in row
    assert f">{rate}</td>" in row


def test_summary_shows_totals_skips_and_latencies(report: str) -> None:
    """The validate row has its counts, skips by reason and both sides' p50/p99."""
    row = _row(report, "validate")
    for text in (">400<", ">10<", "<div>body_too_large 1</div><div>queue_full 3</div>"):
        assert text in row
    assert "11.0 / 40.0 ms" in row
    assert "7.0 / 22.0 ms" in row
    assert "<b>1 of 6</b> routes ready to canary" in report


def test_charts(report: str) -> None:
    """One line per route with a point per ten-minute bucket of six hours, a bar per signature."""
    assert report.count('<polyline class="series"') == 6
    assert report.count('<circle class="pt" data-route="validate"') == 36
    assert "one point per 10 minutes" in report
    bars = re.findall(r'<a href="#(sig-[^"]+)"[^>]*>.*?<span class="bar"', report)
    assert len(bars) == 6
    assert all(f'id="{anchor}"' in report for anchor in bars)


def test_drilldown(report: str) -> None:
    """Signatures expand to their differences, examples, both answers and side effects."""
    assert report.count('<details class="sig"') == 6
    assert f'<details class="sig" id="sig-{SIG_MESSAGE}" open>' in report
    assert "<code>body/errors/0/message</code>" in report
    assert "&quot;email is invalid&quot;" in report
    assert "Control (legacy): <b>422</b>" in report
    assert 'Candidate (migrated): <b class="diff">500</b>' in report
    assert "KeyError: &#x27;currency&#x27;" in report
    assert "<code>orders.events</code>" in report
    assert report.count('<details class="example"') == 7


def _details(page: str, signature: str) -> str:
    start = page.index(f'<details class="sig" id="sig-{signature}"')
    return page[start : page.index('<details class="sig"', start + 1)]


def test_look_alike_names_show_their_code_points(report: str) -> None:
    """An NFC name against its NFD twin is flagged and shown escaped, by code point."""
    part = _details(report, SIG_NAME_NFD)
    assert '<tr class="invisible">' in part
    assert "reads alike: differs in code points" in part
    assert "<code>&quot;\\u00e9&quot;</code> <span>U+00E9</span>" in part
    assert "<code>&quot;e\\u0301&quot;</code> <span>U+0065 U+0301</span>" in part


def test_each_signature_has_its_own_label(report: str) -> None:
    """The three profile causes, alike in their first place, are named apart in chart and list."""
    chart = re.findall(r'<span class="label">([^<]+)</span>', report)
    listed = re.findall(r'<span class="sig-label">([^<]+)</span>', report)
    assert len(set(chart)) == len(chart) == 6
    assert chart == listed
    assert "profile · value body/name, type body/age" in chart


def test_differing_fields_are_marked_in_both_bodies(report: str) -> None:
    """The changed name is marked on both sides, the dropped email on the control's only."""
    part = _details(report, SIG_NAME_NFD)
    control = part[
        part.index('<div class="side control">') : part.index('<div class="side candidate">')
    ]
    candidate = part[part.index('<div class="side candidate">') :]
    assert '<mark class="diff" data-where="body/name">' in control
    assert '<mark class="diff" data-where="body/name">' in candidate
    assert '<mark class="diff" data-where="body/email">' in control
    assert "body/email" not in candidate
    assert '<mark class="noise" data-where="body/generated_at">' in candidate
    assert "Excused as learned noise: value body/generated_at" in part


def test_headers_and_status_that_differ_are_marked(report: str) -> None:
    """A changed content-type row and a changed status stand out on both sides."""
    part = _details(report, SIG_CONTENT_TYPE)
    assert part.count("<tr class=diff><th>content-type</th>") == 2
    assert 'Candidate (migrated): <b class="diff">500</b>' in report


def test_an_example_shows_its_own_differences() -> None:
    """Each example lists the values of its own request, next to that request."""
    reader = sample_reader()
    record = reader.example_map[SIG_MESSAGE][1].record
    own = (Difference("value", "body/errors/0/message", '"bad address"', '"invalid"'),)
    changed = replace(record, comparison=replace(record.comparison, differences=own))
    reader.example_map[SIG_MESSAGE][1] = replace(reader.example_map[SIG_MESSAGE][1], record=changed)
    page = render_report(reader)
    second = page[page.index('data-request="req-9f1c2a-1"') :]
    second = second[: second.index("<h5>Request</h5>")]
    assert "&quot;bad address&quot;" in second
    assert "email is invalid" not in second


def test_learned_noise_is_listed_per_route(report: str) -> None:
    """Each route's learned places are listed with their kind and how they were learned."""
    section = report[report.index('<div id="noise">') : report.index("<h2>Drill-down</h2>")]
    assert re.findall(r"</span>(\w+) <span class=\"muted\">(\d) places?</span>", section) == [
        ("users", "3"),
        ("search", "1"),
        ("validate", "1"),
        ("profile", "1"),
    ]
    assert '<code>body/friends</code></td><td><span class="kind">order</span>' in section
    assert '<span class="kind">token</span>' in section
    assert "legacy asked twice (request req-u-3)" in section
    assert "<code>12 then 15</code>" in section
    empty = render_report(FakeReader())
    assert "No noise learned yet" in empty


def test_everything_untrusted_is_escaped(report: str) -> None:
    """Markup in queries and bodies shows as text; the page has no script at all."""
    assert "<script" not in report
    assert "&lt;script&gt;alert(&#x27;pwned&#x27;)&lt;/script&gt;" in report
    assert "script-src &#x27;none&#x27;" in report  # the CSP, escaped in its attribute


def test_hostile_route_and_signature_names_are_escaped() -> None:
    """A route or signature made of markup cannot break out of its attribute or element."""
    reader = sample_reader()
    reader.summaries[0] = replace(reader.summaries[0], route='"><img src=x onerror=alert(1)>')
    reader.signature_list[0] = replace(reader.signature_list[0], signature=XSS)
    page = render_report(reader)
    assert "<img" not in page
    assert "<script" not in page


def test_report_is_self_contained(report: str) -> None:
    """No external stylesheet, script, image or font: one file is the whole report."""
    assert not re.search(r"<link|src=|url\(|@import|https?://", report)


def test_route_filter_and_empty_store() -> None:
    """A route filter narrows every section; an empty store still renders."""
    page = render_report(sample_reader(), route="checkout")
    assert re.findall(r'<tr data-route="([^"]+)"', page) == ["checkout"]
    assert page.count('<details class="sig"') == 1
    assert f"sig-{SIG_CHECKOUT}" in page
    empty = render_report(FakeReader())
    assert "No shadow records yet." in empty
    assert "No mismatches: nothing to explain." in empty


def test_bodies_binary_and_long() -> None:
    """Non-UTF-8 bodies show as hex; long ones are cut with a note."""
    reader = sample_reader()
    record = reader.example_map[SIG_MESSAGE][0].record
    control = replace(record.mirrored.control, body=b"\xff\xfe<b>")
    candidate = replace(record.mirrored.candidate, body=b"x" * 30_000)
    mirrored = replace(record.mirrored, control=control, candidate=candidate)
    example = replace(reader.example_map[SIG_MESSAGE][0], record=replace(record, mirrored=mirrored))
    reader.example_map[SIG_MESSAGE] = [example]
    page = render_report(reader)
    assert "(5 bytes, not UTF-8)\nff fe 3c 62 3e" in page
    assert "… (10000 more characters)" in page


def test_write_report_html(tmp_path: Path) -> None:
    """The report is written as one UTF-8 file."""
    path = tmp_path / "report.html"
    write_report_html(sample_reader(), path, route="validate")
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert "<title>Shadow report: validate</title>" in text


# -- the dashboard app --------------------------------------------------------------


async def _get(
    app: ShadowDashboard, path: str, method: str = "GET"
) -> tuple[int, dict[str, str], bytes]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "headers": []}
    await app(scope, receive, send)
    headers = {k.decode(): v.decode() for k, v in sent[0]["headers"]}
    return sent[0]["status"], headers, sent[1]["body"]


@pytest.fixture
def dashboard() -> ShadowDashboard:
    """The dashboard over the synthetic data set."""
    reader = sample_reader()
    return ShadowDashboard(lambda: reader, Thresholds())


@pytest.mark.anyio
async def test_dashboard_page(dashboard: ShadowDashboard) -> None:
    """/shadow is the report page plus its refresh script, allowed by a fresh nonce."""
    status, headers, body = await _get(dashboard, "/shadow")
    page = body.decode()
    assert (status, headers["content-type"]) == (200, "text/html; charset=utf-8")
    nonce = re.search(r"'nonce-([^']+)'", headers["content-security-policy"])
    assert nonce
    assert f'<script nonce="{nonce.group(1)}">' in page
    assert page.count("<script") == 1
    assert "fetch(url" in page
    assert ">97.5%</td>" in _row(page, "validate")
    assert headers["cache-control"] == "no-store"


@pytest.mark.anyio
async def test_dashboard_data_json(dashboard: ShadowDashboard) -> None:
    """/shadow/data.json has routes with summaries and verdicts, signatures, timelines."""
    status, headers, body = await _get(dashboard, "/shadow/data.json")
    data = json.loads(body)
    assert (status, headers["content-type"]) == (200, "application/json")
    routes = {r["route"]: r for r in data["routes"]}
    assert routes["validate"]["summary"]["match_rate"] == 0.975
    assert routes["validate"]["verdict"]["label"] == "mismatches"
    assert routes["users"]["verdict"] == {"ready": True, "label": "ready to canary", "reasons": []}
    assert [s["count"] for s in data["signatures"]] == [7, 4, 3, 3, 2, 2]
    assert len(data["timelines"]["validate"]) == 36
    assert data["timeline_bucket"] == 600
    assert set(data["fragments"]) == {
        "stamp",
        "overview",
        "summary",
        "timeline",
        "signatures",
        "aside",
        "noise",
    }
    assert {n["route"] for n in data["noise"]} == {"users", "search", "validate", "profile"}
    assert data["thresholds"]["min_compared"] == 200


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("POST", "/shadow", 405), ("GET", "/shadow/nope", 404), ("GET", "/", 200)],
    ids=["post", "unknown", "mount-stripped"],
)
async def test_dashboard_routing(
    dashboard: ShadowDashboard, method: str, path: str, status: int
) -> None:
    """Only GET/HEAD of the page and data.json; a stripped mount prefix works too."""
    assert (await _get(dashboard, path, method))[0] == status


@pytest.mark.anyio
async def test_dashboard_head(dashboard: ShadowDashboard) -> None:
    """HEAD answers the headers of GET without the body."""
    status, headers, body = await _get(dashboard, "/shadow/data.json", "HEAD")
    assert (status, body) == (200, b"")
    assert int(headers["content-length"]) > 0


@pytest.mark.anyio
async def test_dashboard_reads_in_a_worker_thread() -> None:
    """The factory runs off the event loop's thread, once per request."""
    threads: list[int] = []

    def factory() -> FakeReader:
        threads.append(threading.get_ident())
        return sample_reader()

    app = ShadowDashboard(factory, Thresholds())
    await _get(app, "/shadow")
    await _get(app, "/shadow/data.json")
    assert len(threads) == 2
    assert threading.get_ident() not in threads


@pytest.mark.anyio
async def test_dashboard_window() -> None:
    """A window hides older records (the synthetic ones are from 2025)."""
    reader = sample_reader()
    app = ShadowDashboard(lambda: reader, Thresholds(), window=3600)
    data = json.loads((await _get(app, "/shadow/data.json"))[2])
    assert data["since"] is not None
    assert data["signatures"] == []
    assert "No comparisons in this window." in data["fragments"]["timeline"]


@pytest.mark.anyio
async def test_dashboard_store_failure_is_answered_and_logged() -> None:
    """A failing reader gives a 500 with the cause and a log line, not a crash."""

    def broken() -> FakeReader:
        raise OSError("disk on fire")

    with capture_logs() as logs:
        status, _, body = await _get(ShadowDashboard(broken, Thresholds()), "/shadow")
    assert status == 500
    assert "disk on fire" in json.loads(body)["error"]
    assert logs[0]["event"] == "shadow dashboard could not read the store"
