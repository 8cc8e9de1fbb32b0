"""Cache settings, source parsing and the jittered refresh delay: pure values, no I/O."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from migrated._cache import next_delay
from migrated._cache_settings import CacheSettings, FileLocation, S3Location, parse_source


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param("s3://bucket/key.json", S3Location("bucket", "key.json"), id="s3"),
        pytest.param("s3://b/dir/sub/k", S3Location("b", "dir/sub/k"), id="s3-nested-key"),
        pytest.param("file:///etc/data.json", FileLocation(Path("/etc/data.json")), id="file-abs"),
        pytest.param("file://data/x.json", FileLocation(Path("/base/data/x.json")), id="file-rel"),
    ],
)
def test_parse_source(source: str, expected: object) -> None:
    """Sources parse into locations; relative file paths join the base directory."""
    assert parse_source(source, "/base") == expected


@pytest.mark.parametrize(
    "source",
    [
        pytest.param("s3://bucket", id="s3-no-key"),
        pytest.param("s3:///key", id="s3-no-bucket"),
        pytest.param("file://", id="file-no-path"),
        pytest.param("https://example.com/x", id="unknown-scheme"),
    ],
)
def test_parse_source_rejects(source: str) -> None:
    """Malformed or unknown sources are rejected with the source in the message."""
    with pytest.raises(ValueError, match="source"):
        parse_source(source)


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        pytest.param({"name": "a b"}, "name", id="name"),
        pytest.param({"refresh": 0}, "refresh", id="refresh"),
        pytest.param({"jitter": 1.0}, "jitter", id="jitter-high"),
        pytest.param({"jitter": -0.1}, "jitter", id="jitter-negative"),
        pytest.param({"max_staleness": 0}, "max_staleness", id="max-staleness"),
        pytest.param({"timeout": float("nan")}, "timeout", id="timeout-nan"),
        pytest.param({"format": "yaml"}, "format", id="format"),
        pytest.param({"endpoint_url": "localhost:9000"}, "endpoint_url", id="endpoint"),
        pytest.param({"source": "ftp://x"}, "source", id="source"),
    ],
)
def test_settings_reject_bad_values(changes: dict[str, Any], match: str) -> None:
    """Every bad value fails at construction, naming the field."""
    values: dict[str, Any] = {"name": "rates", "source": "s3://b/k"} | changes
    with pytest.raises(ValueError, match=match):
        CacheSettings(**values)


def test_settings_resolve_paths_against_base_dir() -> None:
    """Relative source and disk copy paths are resolved against ``base_dir``."""
    settings = CacheSettings(
        "rates", "file://data/rates.json", disk_copy="var/rates.copy", base_dir="/srv/app"
    )
    assert settings.location == FileLocation(Path("/srv/app/data/rates.json"))
    assert settings.disk_copy_path == Path("/srv/app/var/rates.copy")


@given(
    interval=st.floats(min_value=0.001, max_value=1e6),
    jitter=st.floats(min_value=0.0, max_value=0.999),
    u=st.floats(min_value=0.0, max_value=1.0),
)
def test_next_delay_stays_within_jitter(interval: float, jitter: float, u: float) -> None:
    """The delay is within ``interval * (1 ± jitter)`` and positive."""
    delay = next_delay(interval, jitter, u)
    slack = 1e-9 * interval
    assert interval * (1 - jitter) - slack <= delay <= interval * (1 + jitter) + slack
    assert delay > 0


def test_next_delay_extremes() -> None:
    """u=0 gives the lower bound, u=1 the upper, u=0.5 the interval itself."""
    assert next_delay(100.0, 0.1, 0.0) == pytest.approx(90.0)
    assert next_delay(100.0, 0.1, 1.0) == pytest.approx(110.0)
    assert next_delay(100.0, 0.1, 0.5) == pytest.approx(100.0)
