"""The report and the live dashboard as a real browser renders them (headless Chromium).

The dashboard is served by hypercorn on a loopback port; Chromium loads it and
its refresh script runs for a few seconds of virtual time, then the DOM is
dumped and checked.  Chromium missing: skipped locally, failed in CI.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from ops.shadow_screenshots import ChromiumMissing, dump_dom, find_chromium, serving_asgi
from shadow._dashboard import ShadowDashboard
from shadow._readiness import Thresholds
from tests.conftest import service_unavailable

from ._fake_reader import FakeReader, sample_reader

pytestmark = pytest.mark.service


@pytest.fixture(scope="module", autouse=True)
def chromium() -> str:
    """The Chromium executable, or skip (locally) / fail (CI)."""
    try:
        return find_chromium()
    except ChromiumMissing as exc:
        service_unavailable(str(exc))


def _row(dom: str, route: str) -> str:
    found = re.search(rf'<tr data-route="{route}">(.*?)</tr>', dom)
    assert found, f"no row for {route}"
    return found.group(1)


def _check_sections(dom: str) -> None:
    """Rows, verdicts and charts of the synthetic data set are in the DOM."""
    for route, label in [
        ("users", "ready to canary"),
        ("checkout", "candidate errors"),
        ("search", "too slow"),
        ("orders", "not enough traffic"),
    ]:
        assert f">{label}</span>" in _row(dom, route)
    assert len(re.findall(r'<polyline class="series"', dom)) == 5
    for route in ("users", "validate", "checkout", "search", "orders"):
        assert len(re.findall(rf'<circle class="pt" data-route="{route}"', dom)) == 30
    assert len(re.findall(r'<rect class="bar"', dom)) == 3


def test_report_file_renders(tmp_path: Path) -> None:
    """The written report opens from disk with its table, charts and drill-down."""
    from shadow._pages import write_report_html

    path = tmp_path / "report.html"
    write_report_html(sample_reader(), path)
    dom = dump_dom(path.as_uri(), budget_ms=1000)
    _check_sections(dom)
    assert ">97.5%</td>" in _row(dom, "validate")
    assert len(re.findall(r'<details class="sig"', dom)) == 3
    assert "<script" not in dom


class _Changing:
    """A reader factory whose data changes after the first read (the page load)."""

    def __init__(self) -> None:
        self.calls = 0
        self.later = sample_reader()
        validate = self.later.summaries[1]
        self.later.summaries[1] = replace(validate, compared=800, matched=796, mismatched=4)

    def __call__(self) -> FakeReader:
        self.calls += 1
        return sample_reader() if self.calls == 1 else self.later


def test_dashboard_refreshes_live() -> None:
    """The page loads, then its script refetches data.json and shows the new numbers."""
    factory = _Changing()
    with serving_asgi(ShadowDashboard(factory, Thresholds())) as base:
        dom = dump_dom(f"{base}/shadow", budget_ms=5000)
    assert factory.calls >= 2, "the page never fetched data.json"
    _check_sections(dom)
    row = _row(dom, "validate")
    assert ">800</td>" in row
    assert ">99.50%</td>" in row
    assert ">mismatches</span>" in row
    assert '<p class="muted" id="live">Live: refreshed every 2 s</p>' in dom
