"""Time buckets fit the period shown: not one dot per minute over a day."""

from __future__ import annotations

import re

import pytest

from shadow._model import RouteSummary, TimePoint
from shadow._pages import render_report
from shadow._timeline import bucket_name, choose_bucket, rebucket, ticks, time_format

from ._fake_reader import FakeReader

MINUTE, HOUR, DAY = 60, 3600, 86400


@pytest.mark.parametrize(
    ("span", "resolution", "width", "name"),
    [
        pytest.param(90, 1, 5, "5 seconds", id="ninety-seconds"),
        pytest.param(10 * MINUTE, 60, MINUTE, "1 minute", id="ten-minutes"),
        pytest.param(6 * HOUR, 60, 10 * MINUTE, "10 minutes", id="six-hours"),
        pytest.param(DAY, 60, 30 * MINUTE, "30 minutes", id="a-day"),
        pytest.param(7 * DAY, 60, 3 * HOUR, "3 hours", id="a-week"),
        pytest.param(90 * DAY, 60, 2 * DAY, "2 days", id="a-quarter"),
    ],
)
def test_bucket_width_follows_the_span(span: int, resolution: int, width: int, name: str) -> None:
    """The width is the finest round one keeping the period within 60 buckets."""
    assert choose_bucket(span, resolution) == width
    assert bucket_name(width) == name


def test_a_bucket_is_never_finer_than_the_data() -> None:
    """Five minutes of per-minute rows are five one-minute buckets, not seconds."""
    assert choose_bucket(5 * MINUTE, resolution=60) == MINUTE


def test_rebucket_keeps_totals_on_round_boundaries() -> None:
    """Minutes summed into half hours start on the half hour and lose nothing."""
    minutes = [TimePoint(1_764_000_600.0 + 60 * i, 10, 9) for i in range(DAY // 60)]
    buckets = rebucket(minutes, 30 * MINUTE)
    assert len(buckets) == 49  # the day does not start on the half hour
    assert all(p.start % 1800 == 0 for p in buckets)
    assert sum(p.compared for p in buckets) == 14_400
    assert sum(p.matched for p in buckets) == 12_960


def test_axis_ticks_and_labels_fit_the_bucket() -> None:
    """Day-long charts show dates with hours; sub-minute buckets show seconds."""
    assert time_format(30 * MINUTE, 2 * DAY) == "%m-%d %H:%M"
    assert time_format(5, 90) == "%H:%M:%S"
    assert time_format(DAY, 30 * DAY) == "%Y-%m-%d"
    marks = ticks(0.0, float(DAY), 30 * MINUTE)
    assert len(marks) <= 7
    assert all(t % (30 * MINUTE) == 0 for t in marks)


def test_a_day_of_minutes_is_drawn_in_half_hours() -> None:
    """The report of a day of per-minute rows draws about 48 points, not 1440."""
    start = 1_764_000_000.0 - 1_764_000_000.0 % DAY
    minutes = [TimePoint(start + 60 * i, 5, 5 - (i % 97 == 0)) for i in range(DAY // 60)]
    reader = FakeReader([RouteSummary("day", 7200, 7185, 15)], timelines={"day": minutes})
    page = render_report(reader)
    assert len(re.findall(r'<circle class="pt"', page)) == 48
    assert 'data-bucket="1800"' in page
    assert "one point per 30 minutes" in page
