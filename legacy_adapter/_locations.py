"""Which file answers a request, and every answer that needs no script.

Strategy: nginx's locations decide before anything talks to PHP: ``try_files``,
the index module, the PHP location with its ``PATH_INFO`` split (``resolve``
in ``_resolve``, pure over the path plus ``stat`` calls), then the static,
redirect and error answers for what is not a script.  ``Locations`` holds
those rules for one document root.  A backend that runs scripts hands a
``RunScript`` to its FastCGI client, which knows nothing of files (as Caddy's
``php_fastcgi`` rewrites first and its FastCGI transport only talks);
``StaticBackend`` is the same locations with no scripts at all.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from ._pages import directory_redirect, error_page
from ._resolve import (
    NotFound,
    Redirect,
    Resolver,
    RunScript,
    ScriptSettings,
    ServeFile,
    Target,
)
from ._settings import StaticSettings
from ._static import close_file, serve_static
from ._types import LegacyRequest, UpstreamResponse

# A suffix no normalised path can contain: nothing under a static root is a script.
_NO_SCRIPTS = "\x00"


class Locations:
    """The nginx locations of one document root (see ``_resolve`` for the rules).

    Args:
        settings: the document root, front controller or per-path scripts,
            index files, and whether plain files are served.
    """

    def __init__(self, settings: ScriptSettings) -> None:
        self.settings = settings
        self._resolver = Resolver(settings)

    def resolve(self, path: str) -> Target:
        """The script, file, redirect or error that answers the normalised ``path``.

        Raises:
            ValueError: ``path`` is not normalised (a bug in the caller).
        """
        return self._resolver.resolve(path)

    def script_for(self, path: str) -> RunScript | None:
        """The script answering ``path``; ``None`` for a file, a redirect or a 404."""
        target = self._resolver.resolve(path)
        return target if isinstance(target, RunScript) else None

    def answer(
        self, target: Target, request: LegacyRequest
    ) -> AbstractAsyncContextManager[UpstreamResponse]:
        """Answer a target that is not a script: the file, the 301, or nginx's error page.

        A ``RunScript`` here is answered 404: these locations have no one to run it.
        """
        return _Answer(target, request)


class _Answer:
    """``Locations.answer``: a class, not an async generator, so that it compiles."""

    __slots__ = ("_request", "_response", "_target")

    def __init__(self, target: Target, request: LegacyRequest) -> None:
        self._target = target
        self._request = request
        self._response: UpstreamResponse | None = None

    async def __aenter__(self) -> UpstreamResponse:
        target, request = self._target, self._request
        if isinstance(target, ServeFile):
            self._response = await serve_static(target.filename, request)
            return self._response
        if isinstance(target, Redirect):
            return directory_redirect(request, target.location_path)
        status = target.status if isinstance(target, NotFound) else 404
        return error_page(status, head=request.method == "HEAD")

    async def __aexit__(self, *exc_info: object) -> None:
        if self._response is not None:
            close_file(self._response)


class StaticBackend:
    """Files under ``settings.root``, with index files and directory redirects."""

    def __init__(self, settings: StaticSettings) -> None:
        self.name = settings.name
        self.settings = settings
        self.locations = Locations(
            ScriptSettings(
                document_root=settings.root,
                front_controller=None,
                index=tuple(i for i in settings.index if not i.endswith(".php")),
                static=True,
                php_suffix=_NO_SCRIPTS,
            )
        )

    def send(self, request: LegacyRequest) -> AbstractAsyncContextManager[UpstreamResponse]:
        """Answer from the file the path names (404/403/301 as nginx would)."""
        return self.locations.answer(self.locations.resolve(request.path), request)

    async def ping(self) -> None:
        """A directory is always ready."""

    async def aclose(self) -> None:
        """Nothing to close."""
