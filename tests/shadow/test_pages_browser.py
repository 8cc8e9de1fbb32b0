"""The report and the live dashboard as headless Chromium lays them out at 1280 px.

Chromium is driven over the DevTools protocol (``ops.shadow_screenshots.Browser``),
so the checks measure the laid-out page: widths, what is highlighted, what
text shows.  The same tests take the screenshots of the docs: with
``SHADOW_SCREENSHOTS=DIR`` (``python -m ops.shadow_screenshots``) they are
written there.  Chromium missing: skipped locally, failed in CI.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from ops.shadow_screenshots import (
    SCREENSHOTS_ENV,
    Browser,
    ChromiumMissing,
    find_chromium,
    serving_asgi,
)
from shadow._dashboard import ShadowDashboard
from shadow._pages import write_report_html
from shadow._readiness import Thresholds

from ._fake_reader import SIG_MESSAGE, SIG_NAME_NFD, FakeReader, sample_reader

pytestmark = pytest.mark.service
WIDTH = 1280
FITS = "document.scrollingElement.scrollWidth"
TABLE = "[...['scrollWidth', 'clientWidth'].map(k => document.querySelector('#summary')[k])]"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless Chromium for the module, or skip (locally) / fail (CI)."""
    try:
        find_chromium()
    except ChromiumMissing as exc:
        from tests.conftest import service_unavailable

        service_unavailable(str(exc))
    with Browser() as chromium:
        yield chromium


def _keep(png: bytes, name: str) -> None:
    """Check the image is 1280 px wide; write it where ``SHADOW_SCREENSHOTS`` says."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, _height = struct.unpack(">II", png[16:24])
    assert width == WIDTH
    if out := os.environ.get(SCREENSHOTS_ENV):
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / name).write_bytes(png)


def _wide() -> FakeReader:
    """The sample with a long route name, many skip reasons and large counts."""
    reader = sample_reader()
    first = reader.summaries[0]
    reader.summaries[0] = replace(
        first,
        route="/api/v2/organisations/{organisation_id}/members/{member_id}/permissions",
        compared=123_456_789,
        matched=123_456_789,
        skips={r: 9_876_543 for r in ("sampled_out", "queue_full", "body_too_large", "timeout")},
    )
    return reader


@pytest.mark.parametrize("make", [sample_reader, _wide], ids=["sample", "wide"])
def test_report_fits_1280_px(
    browser: Browser, tmp_path: Path, make: Callable[[], FakeReader]
) -> None:
    """Neither the page nor the routes table scrolls sideways at 1280 px."""
    path = tmp_path / "report.html"
    write_report_html(make(), path)
    browser.open(path.as_uri(), width=WIDTH)
    assert browser.evaluate(FITS) <= WIDTH
    scroll, client = browser.evaluate(TABLE)
    assert scroll <= client
    assert browser.evaluate("document.querySelectorAll('script').length") == 0


def test_report_shows_the_truth_at_a_glance(browser: Browser, tmp_path: Path) -> None:
    """Distinct labels, code points of look-alikes, marks in both bodies, buckets, noise."""
    path = tmp_path / "report.html"
    write_report_html(sample_reader(), path)
    browser.open(path.as_uri(), width=WIDTH)
    labels = browser.evaluate(
        "[...document.querySelectorAll('.bars .label')].map(e => e.innerText)"
    )
    assert len(labels) == len(set(labels)) == 6
    assert (
        browser.evaluate("document.querySelectorAll('circle.pt[data-route=validate]').length") == 36
    )
    assert "one point per 10 minutes" in browser.evaluate(
        "document.querySelector('.legend').innerText"
    )
    noise = browser.evaluate("document.querySelector('#noise').innerText")
    assert "users 3 places" in noise
    assert "legacy asked twice (request req-u-9)" in noise
    # as a reader would: fold the first signature, unfold the NFD one
    browser.evaluate(f"document.getElementById('sig-{SIG_MESSAGE}').open = false")
    browser.evaluate(f"document.getElementById('sig-{SIG_NAME_NFD}').open = true")
    shown = browser.evaluate(f"document.getElementById('sig-{SIG_NAME_NFD}').innerText")
    assert "U+00E9" in shown
    assert "U+0065 U+0301" in shown
    marks = browser.evaluate(
        f"[...document.querySelectorAll('#sig-{SIG_NAME_NFD} .side mark.diff')].map(m => {{"
        " const r = m.getBoundingClientRect(); return [m.closest('.side').className,"
        " m.dataset.where, r.width > 0 && r.height > 0, getComputedStyle(m).backgroundColor]; })"
    )
    assert sorted(m[:3] for m in marks) == [
        ["side candidate", "body/name", True],
        ["side control", "body/email", True],
        ["side control", "body/name", True],
    ]
    assert {m[3] for m in marks} == {"rgb(255, 216, 181)"}
    assert browser.evaluate(FITS) <= WIDTH
    _keep(browser.screenshot(), "shadow-report.png")


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


def test_dashboard_refreshes_live_and_fits_1280_px(browser: Browser) -> None:
    """The page loads, its script refetches data.json and shows the new numbers, at 1280 px."""
    factory = _Changing()
    with serving_asgi(ShadowDashboard(factory, Thresholds())) as base:
        browser.open(f"{base}/shadow", width=WIDTH, height=1000)
        row = "document.querySelector('tr[data-route=validate]').innerText"
        browser.wait_until(f"{row}.includes('800')")
        text = browser.evaluate(row)
        assert "99.50%" in text
        assert "mismatches" in text
        assert browser.evaluate("document.getElementById('live').innerText") == (
            "Live: refreshed every 2 s"
        )
        assert browser.evaluate(FITS) <= WIDTH
        scroll, client = browser.evaluate(TABLE)
        assert scroll <= client
        data = json.loads(browser.evaluate("fetch('data.json').then(r => r.text())"))
        assert data["timeline_bucket"] == 600
        marks = f"#sig-{SIG_MESSAGE} .side mark.diff"
        assert browser.evaluate(f"document.querySelectorAll('{marks}').length") == 4  # 2 x 2 sides
        _keep(browser.screenshot(), "shadow-dashboard.png")
