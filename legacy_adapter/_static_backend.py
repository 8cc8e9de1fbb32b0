"""A backend serving only files from a directory, as an nginx ``root`` location does."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from ._pages import directory_redirect, error_page
from ._resolve import NotFound, Redirect, ScriptSettings, ServeFile, resolve
from ._settings import StaticSettings
from ._static import serve_static
from ._types import LegacyRequest, UpstreamResponse

# A suffix no normalised path can contain: nothing under a static root is a script.
_NO_SCRIPTS = "\x00"


class StaticBackend:
    """Files under ``settings.root``, with index files and directory redirects."""

    def __init__(self, settings: StaticSettings) -> None:
        self.name = settings.name
        self.settings = settings
        self._scripts = ScriptSettings(
            document_root=settings.root,
            front_controller=None,
            index=tuple(i for i in settings.index if not i.endswith(".php")),
            static=True,
            php_suffix=_NO_SCRIPTS,
        )

    @asynccontextmanager
    async def send(self, request: LegacyRequest) -> AsyncIterator[UpstreamResponse]:
        """Answer from the file the path names (404/403/301 as nginx would)."""
        target = resolve(request.path, self._scripts)
        if isinstance(target, ServeFile):
            yield await serve_static(target.filename, request)
        elif isinstance(target, Redirect):
            yield directory_redirect(request, target.location_path)
        else:
            status = target.status if isinstance(target, NotFound) else 404
            yield error_page(status, head=request.method == "HEAD")

    async def ping(self) -> None:
        """A directory is always ready."""

    async def aclose(self) -> None:
        """Nothing to close."""
