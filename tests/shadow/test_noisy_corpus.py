"""The noisy corpus end to end: real PHP-FPM, strangler in shadow mode, the report's truth.

A PHP app that makes the noise a real one makes (``tests/apps/noisy``) is
shadowed by a candidate with planted differences (``noisy_candidate``); the
manifest is the ground truth.  On each runtime, once with compare rules and
once with none: a warm-up with every safe or idempotent request asked twice
(``noise_sample_rate = 1.0``), then a restart on the same store that learns
nothing more (rate 0), then the fixed mix.  The report must name every
planted cause as one signature with its exact count and nothing else as a
mismatch; with no rules, what no pair of legacy answers can show is listed as
unlearned noise, not counted.  PHP logs the digest of every answer it sends,
so the test also checks that the client got legacy's bytes and that legacy
saw a non-idempotent request only once.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
import tomllib
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from ops.services import PhpFpm, Strangler, build_config
from shadow import ShadowStore, report_main
from shadow._normalize import normalise_where
from tests.conftest import REPO_ROOT, serving

pytestmark = pytest.mark.service
APP = REPO_ROOT / "tests" / "apps" / "noisy"
MANIFEST: dict[str, Any] = tomllib.loads((APP / "manifest.toml").read_text())
ROUTES = ("order", "page", "status", "search", "vote")
RULES = {
    "order": 'scrub = ["uuid", "timestamp", "hex_id"]\nunordered = ["/tags"]',
    "page": 'scrub = ["csrf", "timestamp"]',
    "status": 'scrub = ["timestamp"]',
    "search": 'scrub = ["uuid"]\nunordered = ["/results"]\nidempotent = true',
    "vote": 'scrub = ["uuid", "timestamp"]',
}
BARE = {"search": "idempotent = true"}  # a declaration, not a compare rule
Keys = frozenset[tuple[str, str]]


@dataclass(frozen=True)
class Sent:
    """One request the test sent, and the digest of the body the client got."""

    test_id: str
    route: str
    method: str
    phase: str
    digest: str


@pytest.fixture(scope="module")
def legacy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PhpFpm, Path]]:
    """PHP-FPM serving the corpus, logging each answer's digest per X-Test-Id."""
    log = tmp_path_factory.mktemp("noisy") / "answers.log"
    log.touch()
    with serving(lambda: PhpFpm(max_children=2, env={"NOISY_LOG": str(log)})) as fpm:
        yield fpm, log


def _routes(rules: dict[str, str]) -> str:
    out = ""
    for name in ROUTES:
        out += f"""
[[routes]]
name = "{name}"
match = {{ path = "/{name}.php" }}
mode = "shadow"
handler = "tests.shadow.noisy_candidate:{name}"
timeout = "5s"
"""
        if name in rules:
            out += f"[routes.compare]\n{rules[name]}\n"
    return out


def _config(fpm: PhpFpm, runtime: str, store: Path, rules: dict[str, str], rate: float) -> str:
    text = build_config(fpm.address, APP / "public", extra_routes=_routes(rules), runtime=runtime)
    return text + f'\n[shadow]\nstore = "{store}"\nnoise_sample_rate = {rate}\n'


def _send(proxy: Strangler, route: str, method: str, path: str, body: str, phase: str) -> Sent:
    test_id = uuid.uuid4().hex
    headers = {"x-test-id": test_id, "cookie": "sid=corpus-session"}
    if body:
        headers["content-type"] = "application/json"
    answer = httpx.request(method, proxy.url + path, content=body.encode(), headers=headers)
    assert answer.status_code == 200, (path, answer.status_code, answer.text)
    return Sent(test_id, route, method, phase, hashlib.sha256(answer.content).hexdigest())


def _mix(phase: str) -> Iterator[tuple[str, str, str, str]]:
    """``(route, method, path, body)`` of each request of a phase, in a fixed order."""
    for r in MANIFEST["requests"]:
        for _ in range(r[phase]):
            yield r["route"], r["method"], r["path"], r.get("body", "")
    if phase == "measured":
        for p in MANIFEST["planted"]:
            joiner = "&" if "?" in p["path"] else "?"
            path = f"{p['path']}{joiner}case={p['case']}"
            for _ in range(p["count"]):
                yield p["route"], p.get("method", "GET"), path, p.get("body", "")


def _compared(store: Path) -> int:
    with ShadowStore.open(store) as s:
        return sum(r.compared for r in s.routes())


def _run_phase(
    fpm: PhpFpm, runtime: str, store: Path, rules: dict[str, str], phase: str
) -> list[Sent]:
    """Send one phase's mix through a fresh strangler; wait until the store has it all."""
    rate = 1.0 if phase == "warmup" else 0.0
    before = _compared(store) if store.exists() else 0
    with serving(lambda: Strangler(_config(fpm, runtime, store, rules, rate))) as proxy:
        sent = [_send(proxy, *request, phase) for request in _mix(phase)]
        deadline = time.monotonic() + 20
        while _compared(store) < before + len(sent):
            assert time.monotonic() < deadline, f"{phase}: the store never caught up"
            time.sleep(0.1)
    return sent


def _report(store: Path) -> dict[str, Any]:
    out, err = io.StringIO(), io.StringIO()
    assert report_main(["--store", str(store), "--json", "--top", "100"], out=out, err=err) == 0
    data: dict[str, Any] = json.loads(out.getvalue())
    return data


def _keys(differences: list[dict[str, str]]) -> Keys:
    return frozenset((d["kind"], normalise_where(d["where"])) for d in differences)


def _pairs(items: list[list[str]]) -> Keys:
    return frozenset((kind, where) for kind, where in items)


def _expected(bare: bool) -> dict[tuple[str, Keys], int]:
    """Each planted cause's (route, signature keys) and count; bare: with the unlearnable."""
    expected: dict[tuple[str, Keys], int] = {}
    for p in MANIFEST["planted"]:
        keys = _pairs(p["differences"])
        if bare:
            keys |= _pairs(MANIFEST["unlearnable"].get(p["route"], []))
        expected[(p["route"], keys)] = p["count"]
    return expected


def _check_legacy_saw(sent: list[Sent], log: Path) -> None:
    """The client got legacy's first answer's bytes; legacy saw a request twice only if allowed."""
    answers: dict[str, list[str]] = {}
    for line in log.read_text().splitlines():
        test_id, _, digest = line.split()
        answers.setdefault(test_id, []).append(digest)
    for s in sent:
        seen = answers.get(s.test_id, [])
        assert seen, f"{s.route}: legacy never logged the request"
        assert seen[0] == s.digest, f"{s.route}: the client did not get legacy's bytes"
        twice = s.phase == "warmup" and (s.method == "GET" or s.route == "search")
        assert len(seen) == (2 if twice else 1), (s.route, s.method, s.phase, len(seen))


@pytest.mark.parametrize("runtime", ["uvloop", "asyncio", "trio"])
@pytest.mark.parametrize("bare", [False, True], ids=["rules", "no-rules"])
def test_planted_differences_found_and_noise_explained(
    legacy: tuple[PhpFpm, Path], tmp_path: Path, runtime: str, bare: bool
) -> None:
    """Every planted cause is one signature with its exact count; noise is never a mismatch."""
    fpm, log = legacy
    store = tmp_path / "shadow.sqlite"
    rules = BARE if bare else RULES
    started = time.monotonic()
    sent = _run_phase(fpm, runtime, store, rules, "warmup")
    sent += _run_phase(fpm, runtime, store, rules, "measured")
    data = _report(store)
    _check_legacy_saw(sent, log)

    found = {(s["route"], _keys(s["differences"])): s["count"] for s in data["signatures"]}
    expected = _expected(bare)
    recalled = [cause for cause, count in expected.items() if found.get(cause) == count]
    false = {cause: n for cause, n in found.items() if cause not in expected}
    routes = {r["route"]: r for r in data["routes"]}
    unlearned = sum(r["unlearned"] for r in routes.values())
    print(
        f"\n{runtime} {'no-rules' if bare else 'rules'}: recall {len(recalled)}/{len(expected)},"
        f" false mismatches {sum(false.values())}, unlearned noise {unlearned},"
        f" {len(sent)} requests in {time.monotonic() - started:.1f} s"
    )
    assert found == expected  # recall 100%, one signature per cause, exact counts, no false
    assert len(expected) == len(MANIFEST["planted"]) >= 12
    planted = Counter[str]()
    for p in MANIFEST["planted"]:
        planted[p["route"]] += p["count"]
    assert {r: routes[r]["mismatched"] for r in ROUTES} == {r: planted[r] for r in ROUTES}
    assert sum(r["compared"] for r in routes.values()) == len(sent)
    _check_set_aside(data, sent, bare)
    assert any(n["kind"] == "token" for n in data["noise"])  # text and HTML noise was learned


def _check_set_aside(data: dict[str, Any], sent: list[Sent], bare: bool) -> None:
    """No rules: the unlearnable noise of each clean request is listed apart, and only that."""
    aside = {
        (s["route"], _keys(s["differences"]), s["status"]): s["count"] for s in data["set_aside"]
    }
    if not bare:
        assert aside == {}
        return
    clean = Counter(s.route for s in sent)
    for p in MANIFEST["planted"]:
        clean[p["route"]] -= p["count"]
    assert aside == {
        (route, _pairs(keys), "unlearned"): clean[route]
        for route, keys in MANIFEST["unlearnable"].items()
    }
    routes = {r["route"]: r for r in data["routes"]}
    assert {r: routes[r]["unlearned"] for r in MANIFEST["unlearnable"]} == {
        r: clean[r] for r in MANIFEST["unlearnable"]
    }
