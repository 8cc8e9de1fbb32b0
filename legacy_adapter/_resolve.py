"""Which script or file answers a path, as the two usual nginx configs decide.

Strategy: a pure function over the normalised path plus ``os.stat`` calls (nginx
stats the same files through ``try_files`` and the index module).  Each nginx
location is one small function; an nginx internal redirect (``index``, the
front-controller fallback) is a recursive call on the new URI.

Per-path scripts (``front_controller`` is ``None``)::

    index index.php index.html;
    location / { try_files $uri $uri/ =404; }
    location ~ [^/]\\.php(/|$) {
        fastcgi_split_path_info ^(.+?\\.php)(/.*)$;
        set $path_info $fastcgi_path_info;      # Debian's snippets/fastcgi-php.conf
        try_files $fastcgi_script_name =404;
        fastcgi_param PATH_INFO $path_info; ... }

Front controller (``front_controller="/index.php"``)::

    location / { try_files $uri $uri/ /index.php?$query_string; }
    location ~ \\.php$ { try_files $uri =404; ... }

Observed with nginx 1.22.1 (tree: foo.php, dir/index.php, htmldir/index.html,
noidx/, sub.php/ a directory, a/b.txt):

* both: ``/dir`` -> 301 ``/dir/``; ``/dir/`` -> SCRIPT_NAME and DOCUMENT_URI
  ``/dir/index.php``; ``/htmldir/`` -> index.html; ``/noidx/`` -> 403;
  ``/missing.php`` -> 404; ``/UP.PHP`` and ``/.hidden`` served as plain files
  (the PHP locations are case-sensitive; deny rules are route config).
* per-path: ``/foo.php/bar/baz`` -> SCRIPT_NAME and DOCUMENT_URI ``/foo.php``
  (``try_files`` rewrites ``$uri``), PATH_INFO ``/bar/baz`` with the Debian
  ``set $path_info`` line; without it nginx sends an empty PATH_INFO because
  ``try_files`` clears the regex captures.  We reproduce the working variant.
  ``/missing.php/x`` and ``/sub.php/`` -> 404; ``/a/b.txt/`` -> 404.
* front controller: ``/foo.php/bar`` does not match ``\\.php$``, so it goes to
  ``/index.php`` with an empty PATH_INFO, as do ``/missing.php/x``,
  ``/nothing`` and ``/a/b.txt/``; ``/sub.php`` -> 404, ``/sub.php/`` -> 403.

Containment: the path is already normalised (no ``..``), so ``root + path``
cannot leave the root lexically.  Symlinks are followed, as nginx does by
default (``disable_symlinks off``); a link pointing outside the root is the
site owner's decision, exactly as it was under nginx.

``static=False`` treats every non-script file as missing (per-path: 404,
front controller: the fallback script).
"""

from __future__ import annotations

import functools
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class ScriptSettings:
    """How a FastCGI backend maps paths to scripts (see module docstring)."""

    document_root: str
    front_controller: str | None
    index: tuple[str, ...] = ("index.php", "index.html")
    static: bool = True
    php_suffix: str = ".php"


@dataclass(frozen=True, slots=True, init=False)
class RunScript:
    """Run a script through FastCGI with these CGI variables."""

    script_name: str
    script_filename: str
    path_info: str
    document_uri: str

    # Written out so that it compiles (see proxy/_build.py, "per-request classes").
    def __init__(
        self, script_name: str, script_filename: str, path_info: str, document_uri: str
    ) -> None:
        object.__setattr__(self, "script_name", script_name)
        object.__setattr__(self, "script_filename", script_filename)
        object.__setattr__(self, "path_info", path_info)
        object.__setattr__(self, "document_uri", document_uri)


@dataclass(frozen=True, slots=True)
class ServeFile:
    """Send this file as nginx's static module would."""

    filename: str


@dataclass(frozen=True, slots=True)
class Redirect:
    """A directory asked for without its trailing slash: nginx's 301 to ``location_path``."""

    location_path: str


@dataclass(frozen=True, slots=True)
class NotFound:
    """No script or file answers the path; nginx's error page with ``status``."""

    reason: str
    status: int = 404


@dataclass(frozen=True, slots=True)
class Forbidden(NotFound):
    """A directory with no index file: nginx refuses to list it (403)."""

    status: int = 403


Target = RunScript | ServeFile | Redirect | NotFound
_Redirector = Callable[[str], Target]  # an nginx internal redirect to a new URI


def resolve(path: str, settings: ScriptSettings) -> Target:
    """Decide what answers ``path`` (see the module docstring for the rules).

    Args:
        path: the normalised path from ``normalize_path``.
        settings: the backend's document root, style and index files.

    Raises:
        ValueError: ``path`` is not normalised (a bug in the caller).
    """
    _check_normalised(path)
    if settings.front_controller is None:
        return _per_path(path, settings)
    return _front_controller(path, settings, fallback=True)


class Resolver:
    """``resolve`` for one backend's settings, remembering the scripts named by their suffix.

    A path that names its script (``/validate.php``, ``/a.php/info``) gets the
    same ``RunScript`` for as long as the file is there: only the script's
    ``stat`` is made again, as nginx makes it, and the rest is pure over the
    path; resolving is on every PHP request's path (``ops/bench/engine_cpu.py``).
    Paths that reach a script through ``try_files`` (an index file, the front
    controller's fallback) are resolved in full every time, since the files
    tried on the way may come and go.
    """

    __slots__ = ("_scripts", "settings")

    def __init__(self, settings: ScriptSettings) -> None:
        self.settings = settings
        self._scripts: dict[str, RunScript] = {}

    def resolve(self, path: str) -> Target:
        """``resolve(path, settings)``.

        Raises:
            ValueError: ``path`` is not normalised (a bug in the caller).
        """
        known = self._scripts.get(path)
        if known is not None and _kind(known.script_filename) == "file":
            return known
        target = resolve(path, self.settings)
        if (
            isinstance(target, RunScript)
            and len(path) <= _CACHED_PATH_LENGTH
            and _names_script(path, self.settings)
        ):
            scripts = self._scripts
            if len(scripts) >= _CACHED_SCRIPTS:
                del scripts[next(iter(scripts))]  # the oldest goes
            scripts[path] = target
        return target


# Paths come from clients: bounded in count and length (a PATH_INFO makes
# each path its own).
_CACHED_SCRIPTS: Final = 1024
_CACHED_PATH_LENGTH: Final = 256


def _names_script(path: str, settings: ScriptSettings) -> bool:
    """Whether the PHP location takes ``path`` itself, without ``try_files``."""
    if settings.front_controller is None:
        return _suffix_patterns(settings.php_suffix)[0].search(path) is not None
    return path.endswith(settings.php_suffix)


def script_of(path: str, settings: ScriptSettings) -> RunScript | None:
    """The PHP script answering ``path``; ``None`` for a file, a redirect or a 404."""
    target = resolve(path, settings)
    return target if isinstance(target, RunScript) else None


def _check_normalised(path: str) -> None:
    if not path.startswith("/") or "\x00" in path or "\r" in path or "\n" in path:
        raise ValueError(f"path not normalised: {path!r}")
    if "//" in path or ("/." in path and any(seg in (".", "..") for seg in path.split("/"))):
        raise ValueError(f"path not normalised: {path!r}")


def _per_path(path: str, settings: ScriptSettings) -> Target:
    is_script, split_path_info = _suffix_patterns(settings.php_suffix)
    if is_script.search(path):
        split = split_path_info.match(path)
        script, path_info = (split[1], split[2]) if split else (path, "")
        return _run(script, path_info, settings)
    return _try_files(path, settings, lambda p: _per_path(p, settings))


@functools.lru_cache(maxsize=8)
def _suffix_patterns(suffix: str) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """``location ~ \\.php$`` with PATH_INFO, and the ``fastcgi_split_path_info`` regex."""
    escaped = re.escape(suffix)
    return re.compile(rf"[^/]{escaped}(/|$)"), re.compile(rf"^(.+?{escaped})(/.*)$", re.DOTALL)


def _front_controller(path: str, settings: ScriptSettings, *, fallback: bool) -> Target:
    if path.endswith(settings.php_suffix):
        return _run(path, "", settings)
    target = _try_files(path, settings, lambda p: _front_controller(p, settings, fallback=False))
    if isinstance(target, NotFound) and not isinstance(target, Forbidden) and fallback:
        assert settings.front_controller is not None
        return _front_controller(settings.front_controller, settings, fallback=False)
    return target


def _run(script: str, path_info: str, settings: ScriptSettings) -> Target:
    """``try_files $fastcgi_script_name =404`` then the FastCGI hand-off."""
    filename = _filename(settings, script)
    if _kind(filename) != "file":
        return NotFound(f"no script {script!r}")
    return RunScript(script, filename, path_info, script)


def _try_files(path: str, settings: ScriptSettings, redirect: _Redirector) -> Target:
    """``try_files $uri $uri/ ...`` in ``location /`` plus the index module."""
    filename = _filename(settings, path)
    kind = _kind(filename)
    if kind == "file" and not path.endswith("/"):
        return ServeFile(filename) if settings.static else NotFound(f"{path!r} is not a script")
    if kind != "dir":
        return NotFound(f"no file {path!r}")
    if not path.endswith("/"):
        return Redirect(path + "/")
    for name in settings.index:
        if _kind(filename + name) == "file":
            return redirect(path + name)
    return Forbidden(f"directory {path!r} has no index file")


def _filename(settings: ScriptSettings, path: str) -> str:
    # nginx drops a trailing slash from ``root`` before building $document_root.
    return settings.document_root.rstrip("/") + path


def _kind(filename: str) -> str:
    """``file``, ``dir`` or ``missing``; any stat error counts as missing, as in try_files."""
    try:
        mode = os.stat(filename).st_mode
    except (OSError, ValueError):
        return "missing"
    return "dir" if stat.S_ISDIR(mode) else "file"
