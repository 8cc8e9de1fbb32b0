"""Settings of each kind of legacy backend, built by the proxy's config loader."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, slots=True)
class PoolSettings:
    """Connection limits per backend and per worker process.

    Size FastCGI pools against PHP-FPM: every kept-alive connection holds a
    PHP-FPM child even while idle, so ``workers * size`` (plus nginx or any
    other client of the same pool) must stay below ``pm.max_children``.
    """

    size: int = 4
    idle_timeout: float = 5.0
    acquire_timeout: float = 5.0
    connect_timeout: float = 3.0
    read_timeout: float = 60.0
    send_timeout: float = 60.0


@dataclass(frozen=True, slots=True)
class FastCGISettings:
    """PHP-FPM reached over FastCGI, with nginx-style script resolution and static files."""

    name: str
    address: str
    document_root: str
    front_controller: str | None = None
    index: tuple[str, ...] = ("index.php", "index.html")
    static: bool = True
    pool: PoolSettings = PoolSettings()
    params: tuple[tuple[str, str], ...] = ()
    type: Literal["fastcgi"] = "fastcgi"


@dataclass(frozen=True, slots=True)
class HTTPSettings:
    """An existing web server reached over HTTP."""

    name: str
    url: str
    pool: PoolSettings = PoolSettings()
    type: Literal["http"] = "http"


@dataclass(frozen=True, slots=True)
class StaticSettings:
    """Files from a directory, served as nginx serves them."""

    name: str
    root: str
    index: tuple[str, ...] = ("index.html",)
    type: Literal["static"] = "static"


BackendSettings = FastCGISettings | HTTPSettings | StaticSettings
