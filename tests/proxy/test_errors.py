"""Every adapter error has exactly one HTTP answer."""

from __future__ import annotations

import pytest

import legacy_adapter
from legacy_adapter import LegacyError
from proxy._errors import BodyTooLarge, RequestError, error_kind, status_for


def _all_subclasses(cls: type) -> set[type]:
    found = set(cls.__subclasses__())
    for sub in list(found):
        found |= _all_subclasses(sub)
    return found


def test_every_legacy_error_is_mapped() -> None:
    """Each public LegacyError subclass maps to a 4xx/5xx status and a metric label."""
    public = [getattr(legacy_adapter, n) for n in dir(legacy_adapter)]
    errors = {c for c in _all_subclasses(LegacyError) if c in public}
    assert len(errors) >= 5
    for cls in errors:
        exc = cls("php", "detail")
        assert 400 <= status_for(exc) <= 599, cls
        assert error_kind(exc) != "internal", cls


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("UpstreamUnavailable", 502),
        ("UpstreamProtocolError", 502),
        ("UpstreamTimeout", 504),
        ("PoolExhausted", 503),
        ("BadRequest", 400),
    ],
    ids=["refused", "garbage", "timeout", "pool", "bad-request"],
)
def test_status_of_each_error(name: str, status: int) -> None:
    """The statuses are the ones the README documents."""
    assert status_for(getattr(legacy_adapter, name)("php", "x")) == status


def test_request_errors() -> None:
    """The proxy's own request errors are 400 and 413."""
    assert status_for(RequestError("bad")) == 400
    assert status_for(BodyTooLarge("big")) == 413
