"""Shadow mode as the proxy sees it: which requests are offered to the shadow side.

Strategy: the engine makes the per-request decision (a shadow route's sticky
sample, a migrated or canary route's reverse sample, a mirror with room) and
keeps bounded copies of what streams past the client; once the client has its
whole answer it offers the request here.  This module turns the route's mode
and the worker's state into the values ``shadow.ShadowRuntime`` takes (the
candidate handler, the legacy backend, the comparison rules); what happens
after the offer is shadow's.

Sampling is a hash of the route's sample key with its own salt, so it is
sticky and independent of canary bucketing.
"""

from __future__ import annotations

from legacy_adapter import Backend, LegacyRequest
from shadow import Candidate, Capture, ShadowRuntime, open_shadow

from ._canary import bucket, sticky_key
from ._config import Config
from ._migrated import Resources
from ._routing import Canary, Migrated, Route, Shadow
from ._state import State


def make_shadow(config: Config, resources: Resources | None) -> ShadowRuntime | None:
    """The worker's shadow side, or ``None`` when the config has no ``[shadow]``."""
    if config.shadow is None:
        return None
    publisher = resources.publisher if resources is not None else None
    return open_shadow(config.shadow, publisher)


def sampled(route: str, rate: float, key_spec: str, request: LegacyRequest) -> bool:
    """Sticky sampling: the same key is always in or out at a given rate."""
    if rate >= 1.0:
        return True
    client = request.client[0] if request.client else ""
    key = sticky_key(key_spec, request.headers, request.query_string, client)
    return bucket(f"shadow:{route}", key) < round(rate * 10_000)


def offer_shadow(
    runtime: ShadowRuntime,
    route: Route,
    mode: Shadow,
    state: State,
    request: LegacyRequest,
    params: dict[str, str],
    body: Capture,
    legacy: Capture,
    resources: Resources | None,
) -> None:
    """Offer the candidate's run for a request legacy has answered."""
    caches = resources.caches if resources is not None else None
    handler = state.handlers[mode.handler]
    candidate = Candidate(mode.handler, handler, mode.timeout, caches, mode.php)
    backend = state.backends[mode.backend]
    runtime.offer_shadow(route.name, candidate, backend, request, params, body, legacy, mode.rules)


def wants_reverse(
    runtime: ShadowRuntime, route: Route, mode: Migrated | Canary, request: LegacyRequest
) -> bool:
    """Whether this handler-answered request is also sent to legacy for comparison."""
    if mode.reverse_rate <= 0 or mode.backend is None:
        return False
    if request.method not in mode.reverse_methods:
        return False
    if not sampled(route.name, mode.reverse_rate, "client", request):
        return False
    return runtime.has_room(route.name)  # no copy is kept for a job that would be dropped


def offer_reverse(
    runtime: ShadowRuntime,
    route: Route,
    mode: Migrated | Canary,
    backend: Backend,
    request: LegacyRequest,
    body: bytes,
    handler_answer: Capture,
) -> None:
    """Offer legacy's run on a copy of a request the handler has answered."""
    runtime.offer_reverse(route.name, backend, request, body, handler_answer, mode.rules)
