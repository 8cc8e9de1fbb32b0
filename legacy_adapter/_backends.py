"""Building a backend from its settings."""

from __future__ import annotations

from ._fastcgi_backend import FastCGIBackend
from ._http import HTTPBackend
from ._locations import StaticBackend
from ._settings import BackendSettings, FastCGISettings, HTTPSettings
from ._types import Backend


def make_backend(settings: BackendSettings) -> Backend:
    """The backend object for ``settings`` (its pools open lazily, on first use)."""
    if isinstance(settings, FastCGISettings):
        return FastCGIBackend(settings)
    if isinstance(settings, HTTPSettings):
        return HTTPBackend(settings)
    return StaticBackend(settings)
