"""PHP-FPM behind nginx's locations: which file answers, then FastCGI for a script.

``FastCGIBackend`` composes the two halves that Caddy also keeps apart: its
``Locations`` decide what answers the path (a script with its ``PATH_INFO``,
a static file, a directory redirect, a 404 or 403) and answer everything but
a script themselves; a script's CGI params (``_cgi``) go to its
``FastCGIClient``, which streams the body in and the answer out.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from functools import partial

import anyio.abc

from ._cgi import ParamPlan
from ._fastcgi import FastCGIClient, Params
from ._locations import Locations
from ._resolve import RunScript, ScriptSettings
from ._settings import FastCGISettings
from ._types import LegacyRequest, UpstreamResponse


class FastCGIBackend:
    """A PHP-FPM pool reached over FastCGI, with nginx's script resolution.

    Args:
        settings: the backend's configuration (address, document root, pool limits).
    """

    def __init__(self, settings: FastCGISettings) -> None:
        self.name = settings.name
        self.settings = settings
        self.locations = Locations(
            ScriptSettings(
                document_root=settings.document_root,
                front_controller=settings.front_controller,
                index=settings.index,
                static=settings.static,
            )
        )
        self.client = FastCGIClient(settings.name, settings.address, settings.pool)
        self.params = ParamPlan(settings.document_root, dict(settings.params))  # fastcgi_param
        self._started = False

    async def start(self, tg: anyio.abc.TaskGroup) -> None:
        """Start closing idle connections in ``tg`` (once, however often called)."""
        if not self._started:
            self._started = True
            await self.client.start(tg)

    def send(self, request: LegacyRequest) -> AbstractAsyncContextManager[UpstreamResponse]:
        """Answer ``request`` from a PHP script, or from what nginx answers without one."""
        target = self.locations.resolve(request.path)
        if not isinstance(target, RunScript):
            return self.locations.answer(target, request)
        return self.client.request(request, partial(self.params_for, request, target))

    def params_for(
        self, request: LegacyRequest, target: RunScript, content_length: int | None
    ) -> Params:
        """The FastCGI params for ``request`` running ``target`` on this backend."""
        return self.params.encode(
            request,
            target,
            https=request.scheme == "https",
            remote=request.client,
            content_length=content_length,
        )

    def script_for(self, path: str) -> RunScript | None:
        """The PHP script answering ``path``; ``None`` for a file, a redirect or a 404."""
        return self.locations.script_for(path)

    async def ping(self) -> None:
        """Open and close a connection to PHP-FPM (readiness)."""
        await self.client.ping()

    async def aclose(self) -> None:
        """Close idle pooled connections."""
        await self.client.aclose()
