"""The admin listener: health, readiness, routes, metrics and reload.

It runs in the supervisor process on its own port (loopback by default).  When
a token is configured every endpoint requires ``Authorization: Bearer <token>``;
the loader insists on a token when the listener is not on loopback.
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

if TYPE_CHECKING:
    from ._supervisor import Supervisor

_PING_TIMEOUT = 3.0
_SNAPSHOT_TIMEOUT = 2.0  # a worker that does not answer in time counts as not live


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
        status, ctype, body = await self._dispatch(scope)
        headers = [(b"content-type", ctype.encode()), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _dispatch(self, scope: Any) -> tuple[int, str, bytes]:
        token = self.sup.config.admin.token
        if token and not _authorized(scope, token):
            return _json(401, {"error": "missing or wrong bearer token"})
        path, method = scope["path"], scope["method"]
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
        out.append(
            {
                "name": route.name,
                "match": route.match.describe(),
                "mode": mode.name,
                "target": getattr(mode, "backend", None)
                or getattr(mode, "handler", None)
                or getattr(mode, "status", None),
            }
        )
    return out


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
