"""What PHP would see for a request: the CGI params of the route's fallback backend.

Strategy.  A handler porting a PHP script must sometimes answer as PHP did
for the request *as sent*: a front controller routing on ``REQUEST_URI``
answers 404 to ``/v1//events`` or ``/v1/%65vents``, which the normalised
``Request.path`` shows as ``/v1/events``.  Rather than a second copy of
nginx's rules, ``PhpSite`` asks a ``legacy_adapter.FastCGIBackend`` built
from the backend's own settings, the same class and methods the legacy
path runs (``script_for``, then ``params_for``): one behaviour, one place.
That backend is never started, so it opens no connection; it is made on
the first view asked for, and a view is computed only when a handler reads
``Request.php`` (a ``stat`` or two and the params), never per request.
"""

from __future__ import annotations

from dataclasses import dataclass

from legacy_adapter import FastCGIBackend, FastCGISettings, LegacyRequest, decode_pairs


class PhpSite:
    """One FastCGI backend's script resolution and params (see the module docstring).

    Args:
        settings: the backend's settings, as the legacy path builds it from them.
    """

    __slots__ = ("_backend", "settings")

    def __init__(self, settings: FastCGISettings) -> None:
        self.settings = settings
        self._backend: FastCGIBackend | None = None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PhpSite) and other.settings == self.settings

    def __hash__(self) -> int:
        return hash(self.settings)

    def __repr__(self) -> str:
        return f"PhpSite({self.settings.name!r})"

    def view(self, request: LegacyRequest) -> PhpView | None:
        """The params PHP-FPM would get for ``request``; ``None`` when no script would run.

        No script runs when nginx's locations answer without PHP: an existing
        static file, a directory redirect, or a 404.
        """
        backend = self._backend
        if backend is None:
            backend = self._backend = FastCGIBackend(self.settings)
        script = backend.script_for(request.path)
        if script is None:
            return None
        params = backend.params_for(request, script, None)
        decoded = tuple(
            (name.decode("latin-1"), value.decode("utf-8", "surrogateescape"))
            for name, value in decode_pairs(params)  # the very bytes the backend sends
        )
        return PhpView(self.settings.name, decoded)


@dataclass(frozen=True, slots=True)
class PhpView:
    """The FastCGI params PHP-FPM would receive for a request (``$_SERVER``'s CGI part).

    Attributes:
        backend: the backend they are computed for (the route's fallback).
        params: every param in the order sent, ``HTTP_*`` headers included.
    """

    backend: str
    params: tuple[tuple[str, str], ...]

    def param(self, name: str, default: str | None = None) -> str | None:
        """The first value of param ``name``."""
        return next((v for k, v in self.params if k == name), default)

    def _fixed(self, name: str) -> str:
        return self.param(name) or ""

    @property
    def request_uri(self) -> str:
        """``REQUEST_URI``: the target as sent, path percent-encoded, with the query."""
        return self._fixed("REQUEST_URI")

    @property
    def script_name(self) -> str:
        """``SCRIPT_NAME``: the script run, as a URL path (``/index.php``)."""
        return self._fixed("SCRIPT_NAME")

    @property
    def path_info(self) -> str:
        """``PATH_INFO``: what follows the script in the path (``/a/b.php/extra``)."""
        return self._fixed("PATH_INFO")

    @property
    def script_filename(self) -> str:
        """``SCRIPT_FILENAME``: the script's file under the document root."""
        return self._fixed("SCRIPT_FILENAME")

    @property
    def document_uri(self) -> str:
        """``DOCUMENT_URI``: nginx's ``$document_uri`` (the normalised path after rewrites)."""
        return self._fixed("DOCUMENT_URI")

    @property
    def query_string(self) -> str:
        """``QUERY_STRING``."""
        return self._fixed("QUERY_STRING")
