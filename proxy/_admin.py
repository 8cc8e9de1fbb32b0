"""The admin listener: health, readiness, routes, metrics, reload, canary percents.

It runs in the supervisor process on its own port (loopback by default).  When
a token is configured every endpoint requires ``Authorization: Bearer <token>``;
the loader insists on a token when the listener is not on loopback.  Changing
a canary's percent (``POST /routes/NAME/percent``) needs a token even on
loopback: it changes what users get without anyone editing the file.
"""

from __future__ import annotations

import hmac
import json
from typing import TYPE_CHECKING, Any

import anyio
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from legacy_adapter import LegacyError, make_backend
from shadow import ShadowDashboard, StoreReader, Thresholds

from ._metrics_snapshot import fetch_snapshots, snapshot_path, take_snapshot
from ._metrics_union import MetricsUnion
from ._percents import percent_problem
from ._routing import Canary, Route

if TYPE_CHECKING:
    from ._supervisor import Supervisor

_PING_TIMEOUT = 3.0
_SNAPSHOT_TIMEOUT = 2.0  # a worker that does not answer in time counts as not live
_MAX_BODY = 4096  # a percent change is a few bytes of JSON


class AdminApp:
    """ASGI app of the admin listener.

    Args:
        supervisor: gives the current config, the workers and ``reload()``.
    """

    def __init__(self, supervisor: Supervisor) -> None:
        self.sup = supervisor
        self._dashboard: ShadowDashboard | None = None
        self._dashboard_store = ""
        self._union = MetricsUnion()
        self._metrics = CollectorRegistry()
        self._metrics.register(self._union)
        self._scrape = anyio.Lock()  # one scrape at a time: snapshots are taken in order

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                await _lifespan(receive, send)
            return
        if scope["path"] == "/shadow" or scope["path"].startswith("/shadow/"):
            dashboard = self._shadow_dashboard()
            token = self.sup.config.admin.token
            if dashboard is not None and (not token or _authorized(scope, token)):
                await dashboard(scope, receive, send)
                return
        status, ctype, body = await self._dispatch(scope, receive)
        headers = [(b"content-type", ctype.encode()), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _dispatch(self, scope: Any, receive: Any) -> tuple[int, str, bytes]:
        token = self.sup.config.admin.token
        if token and not _authorized(scope, token):
            return _json(401, {"error": "missing or wrong bearer token"})
        path, method = scope["path"], scope["method"]
        if path.startswith("/routes/") and path.endswith("/percent"):
            if method != "POST":
                return _json(405, {"error": "use POST"})
            if not token:
                return _json(403, {"error": "set [admin] token to change percents at run time"})
            name = path.removeprefix("/routes/").removesuffix("/percent")
            return self._set_percent(name, await _read_body(receive))
        if path == "/reload":
            if method != "POST":
                return _json(405, {"error": "use POST"})
            ok, message = self.sup.reload()
            return _json(200 if ok else 400, {"reloaded": ok, "message": message})
        if method not in ("GET", "HEAD"):
            return _json(405, {"error": "use GET"})
        if path == "/health":
            return _json(200, {"status": "ok", "workers": self._live_workers()})
        if path == "/ready":
            return await self._ready()
        if path == "/routes":
            return _json(200, {"config": self.sup.config_path, "routes": route_table(self.sup)})
        if path.startswith("/shadow"):
            return _json(404, {"error": "no shadow store here (no shadow routes, or Kafka sink)"})
        if path == "/metrics":
            return 200, CONTENT_TYPE_LATEST, await self._scrape_metrics()
        return _json(404, {"error": f"no admin endpoint {path}"})

    def _set_percent(self, name: str, body: bytes | None) -> tuple[int, str, bytes]:
        """Check and apply a run-time percent; the answer says how long it lasts."""
        if body is None:
            return _json(413, {"error": f"body over {_MAX_BODY} bytes"})
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        percent: Any = data.get("percent") if isinstance(data, dict) and len(data) == 1 else None
        problem = percent_problem(self.sup.config, name, percent)
        if problem is not None:
            return _json(problem[0], {"error": problem[1]})
        self.sup.set_percent(name, float(percent))
        row = next(r for r in route_table(self.sup) if r["name"] == name)
        message = (
            f"route {name}: {percent:g}% of keys to the handler until the next config load "
            f"(reload or restart), which restores the file's {row['config_percent']:g}%; "
            "every worker applies it within a second"
        )
        return _json(200, {**row, "message": message})

    def _shadow_dashboard(self) -> ShadowDashboard | None:
        """The live shadow dashboard over the embedded store, if there is one."""
        settings = self.sup.config.shadow
        if settings is None or settings.kafka_topic:
            return None
        if self._dashboard is None or self._dashboard_store != settings.store:
            store = settings.store
            self._dashboard = ShadowDashboard(lambda: StoreReader.open(store), Thresholds())
            self._dashboard_store = store
        return self._dashboard

    async def _scrape_metrics(self) -> bytes:
        """Every worker's snapshot and the supervisor's own, rendered as their union."""
        async with self._scrape:
            count = len(self.sup.workers)
            paths = [snapshot_path(self.sup.run_dir, i) for i in range(count)]
            snapshots = await fetch_snapshots(paths, _SNAPSHOT_TIMEOUT)
            self._union.update("supervisor", take_snapshot())
            for i, snapshot in enumerate(snapshots):
                self._union.update(str(i), snapshot)
            return generate_latest(self._metrics)

    def _live_workers(self) -> int:
        return sum(1 for p in self.sup.workers if p is not None and p.poll() is None)

    async def _ready(self) -> tuple[int, str, bytes]:
        """Ready when every worker reported ready, no cache is stale, and legacy answers."""
        config = self.sup.config
        used = {getattr(r.mode, "backend", None) for r in config.routes.routes} - {None}
        results: dict[str, str] = {}
        for settings in config.backends:
            if settings.name in used:
                results[settings.name] = await _ping(settings)
        workers = [self.sup.worker_status(i) for i in range(len(self.sup.workers))]
        problems = [f"worker {i} not ready" for i, w in enumerate(workers) if w is None]
        problems += [p for w in workers if w for p in w.get("problems", [])]
        problems += [f"backend {n}: {r}" for n, r in results.items() if r != "ok"]
        body = {"ready": not problems, "backends": results, "problems": problems}
        body["workers"] = [w for w in workers if w]
        return _json(503 if problems else 200, body)


def route_table(sup: Supervisor) -> list[dict[str, Any]]:
    """The compiled routes in match order, as JSON-ready dicts."""
    out = []
    for route in sup.config.routes.routes:
        mode = route.mode
        row = {
            "name": route.name,
            "match": route.match.describe(),
            "mode": mode.name,
            "target": getattr(mode, "backend", None)
            or getattr(mode, "handler", None)
            or getattr(mode, "status", None),
        }
        if isinstance(mode, Canary):
            row |= _canary_row(route, mode, sup.percents)
        out.append(row)
    return out


def _canary_row(route: Route, mode: Canary, percents: dict[str, float]) -> dict[str, Any]:
    """A canary's effective percent, the file's, and how a request may force a side.

    A custom header value is not shown: it is what keeps strangers off the new side.
    """
    force = mode.force
    return {
        "handler": mode.handler,
        "percent": percents.get(route.name, mode.percent),
        "config_percent": mode.percent,
        "overridden": route.name in percents,
        "force": None
        if force is None
        else {
            "header": force.header.decode() or None,
            "custom_value": bool(force.value),
            "cookie": force.cookie or None,
        },
    }


async def _ping(settings: Any) -> str:
    backend = make_backend(settings)
    try:
        with anyio.fail_after(_PING_TIMEOUT):
            await backend.ping()
        return "ok"
    except LegacyError as exc:
        return exc.detail
    except TimeoutError:
        return "timed out"
    finally:
        await backend.aclose()


async def _read_body(receive: Any) -> bytes | None:
    """The request body, or ``None`` when it is over ``_MAX_BODY`` or the client left.

    Read to its end either way (only a client with the token gets here), so
    the connection can be kept alive.
    """
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size <= _MAX_BODY:
            chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks) if size <= _MAX_BODY else None


def _authorized(scope: Any, token: str) -> bool:
    for name, value in scope["headers"]:
        if name == b"authorization":
            return hmac.compare_digest(value, b"Bearer " + token.encode())
    return False


def _json(status: int, payload: object) -> tuple[int, str, bytes]:
    return status, "application/json", json.dumps(payload, indent=1).encode() + b"\n"


async def _lifespan(receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        kind = message["type"].rsplit(".", 1)[-1]
        await send({"type": f"lifespan.{kind}.complete"})
        if kind == "shutdown":
            return
