"""Shadow mode end to end: real PHP answers, Python candidates, the SQLite store.

Different Host names route the same PHP script to different candidates, so one
proxy shows a faithful port, each kind of bug, noise, failures and floods.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ops.services import Nginx, PhpFpm, Strangler, Tansu, build_config
from shadow import ShadowStore
from shadow._model import RouteSummary
from tests.conftest import DEMO_ROOT, REPO_ROOT, serving
from tests.migrated.conftest import consume_values

pytestmark = pytest.mark.service
RULES = REPO_ROOT / "ops" / "demo" / "app" / "rules.json"
CANDIDATES = {
    "match": "ops.demo.handlers.validator:validate",
    "status": "tests.shadow.candidates:validate_wrong_status",
    "header": "tests.shadow.candidates:validate_no_content_type",
    "raise": "tests.shadow.candidates:raises",
    "sleep": "tests.shadow.candidates:sleeps",
    "effects": "tests.shadow.candidates:validate_no_content_type",
}


def routes() -> str:
    out = ""
    for name, handler in CANDIDATES.items():
        out += f"""
[[routes]]
name = "validate-{name}"
match = {{ path = "/validate.php", host = "{name}.test" }}
mode = "shadow"
handler = "{handler}"
timeout = "500ms"
"""
    out += """
[[routes]]
name = "quote-reverse"
match = { path = "/quote.php", host = "reverse.test" }
mode = "migrated"
handler = "tests.shadow.candidates:quote"
reverse_shadow = 1.0
[routes.compare]
ignore = ["/quote_id", "/quoted_at"]

[[routes]]
name = "info-reverse"
match = { path = "/info.php", host = "reverse.test" }
mode = "migrated"
handler = "tests.shadow.candidates:info"
reverse_shadow = 1.0
"""
    for name, handler in (("quote", "quote"), ("quote-bug", "quote_wrong_total")):
        out += f"""
[[routes]]
name = "{name}"
match = {{ path = "/quote.php", host = "{name}.test" }}
mode = "shadow"
handler = "tests.shadow.candidates:{handler}"
"""
    return out


def config(php: str, kafka: str, tmp: Path, runtime: str = "uvloop", **shadow: object) -> str:
    settings = {"store": str(tmp / "shadow.sqlite"), "noise_sample_rate": 1.0, **shadow}
    table = "".join(f"{k} = {json.dumps(v)}\n" for k, v in settings.items())
    text = build_config(php, DEMO_ROOT, extra_routes=routes(), runtime=runtime)
    return (
        text
        + f"""
[shadow]
{table}
[kafka]
bootstrap_servers = "{kafka}"
spool_dir = "{tmp / "spool"}"

[caches.rules]
source = "file://{RULES}"
"""
    )


@pytest.fixture(scope="module")
def broker() -> Iterator[Tansu]:
    with serving(Tansu) as tansu:
        yield tansu


@pytest.fixture(scope="module", params=["uvloop", "trio"])
def proxy(
    php_fpm: PhpFpm,
    broker: Tansu,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> Iterator[Strangler]:
    """The shadow proxy on each runtime."""
    tmp = tmp_path_factory.mktemp("shadow")
    text = config(php_fpm.address, broker.address, tmp, runtime=request.param)
    with serving(lambda: Strangler(text)) as s:
        s.store_path = tmp / "shadow.sqlite"  # type: ignore[attr-defined]
        yield s


def event(i: int, valid: bool) -> bytes:
    data = {
        "type": "signup",
        "user_id": i + 1 if valid else 0,
        "email": f"u{i}@example.org",
        "age": 30,
        "country": "DE",
    }
    return json.dumps(data).encode()


def post(proxy: Strangler, host: str, body: bytes) -> httpx.Response:
    return httpx.post(proxy.url + "/validate.php", content=body, headers={"host": f"{host}.test"})


def summary(proxy: Strangler, route: str, until: Callable[[RouteSummary], bool]) -> RouteSummary:
    """The route's summary once the background writer has stored enough of it."""
    deadline = time.monotonic() + 20
    while True:
        store = ShadowStore.open(proxy.store_path)  # type: ignore[attr-defined]
        try:
            found = {r.route: r for r in store.routes()}.get(route)
        finally:
            store.close()
        if found is not None and until(found):
            return found
        assert time.monotonic() < deadline, f"store never showed {route}: {found}"
        time.sleep(0.2)


def signatures(proxy: Strangler, route: str) -> list[Any]:
    store = ShadowStore.open(proxy.store_path)  # type: ignore[attr-defined]
    try:
        return [(s, store.examples(s.signature)) for s in store.signatures(route=route)]
    finally:
        store.close()


def test_identical_answers_match(proxy: Strangler, nginx_demo: Nginx) -> None:
    """The byte-identical port gives a 100% match, and the client gets PHP's answer."""
    for i in range(12):
        body = event(i, valid=i % 3 != 0)
        r = post(proxy, "match", body)
        assert r.content == httpx.post(nginx_demo.url + "/validate.php", content=body).content
    found = summary(proxy, "validate-match", lambda s: s.compared >= 12)
    assert (found.compared, found.matched, found.match_rate) == (12, 12, 1.0)


@pytest.mark.parametrize(
    ("host", "kind", "where"),
    [("status", "status", "status"), ("header", "header", "header:content-type")],
    ids=["changed-status", "missing-header"],
)
def test_bugs_are_found_and_grouped(proxy: Strangler, host: str, kind: str, where: str) -> None:
    """A changed status or a missing header is one signature with an example."""
    for i in range(6):
        post(proxy, host, event(i, valid=False))
    found = summary(proxy, f"validate-{host}", lambda s: s.compared >= 6)
    assert found.mismatched == 6
    (sig, examples), *rest = signatures(proxy, f"validate-{host}")
    assert rest == []
    assert sig.count == 6
    assert [(d.kind, d.where) for d in sig.differences] == [(kind, where)]
    assert examples
    assert examples[0].record.mirrored.control.status == 422


def test_changed_field_found_and_noise_learned(proxy: Strangler) -> None:
    """A wrong total is reported at its JSON pointer; timestamps and random ids are noise."""
    for qty in (1, 2, 3, 4):
        good = httpx.get(
            proxy.url + f"/quote.php?sku=A-{qty}&qty={qty}", headers={"host": "quote.test"}
        )
        assert good.status_code == 200
        httpx.get(proxy.url + f"/quote.php?sku=B&qty={qty}", headers={"host": "quote-bug.test"})
    clean = summary(proxy, "quote", lambda s: s.compared >= 4)
    assert clean.mismatched == 0
    assert clean.noise_only >= 1
    buggy = summary(proxy, "quote-bug", lambda s: s.compared >= 4)
    (sig, _), *rest = signatures(proxy, "quote-bug")
    assert rest == []
    assert [(d.kind, d.where) for d in sig.differences] == [("value", "body/total")]
    assert buggy.mismatched == 3  # qty=1: the total equals the unit price


def test_failing_candidates_never_touch_the_client(proxy: Strangler, nginx_demo: Nginx) -> None:
    """A raising or slow candidate leaves the client's answer as PHP's; the error is recorded."""
    body = event(1, valid=True)
    expected = httpx.post(nginx_demo.url + "/validate.php", content=body).content
    assert post(proxy, "raise", body).content == expected
    r = post(proxy, "sleep", body)
    assert r.content == expected
    # the answer came back while the candidate was still asleep: no timeout recorded yet
    store = ShadowStore.open(proxy.store_path)  # type: ignore[attr-defined]
    try:
        before = {x.route: x for x in store.routes()}.get("validate-sleep")
    finally:
        store.close()
    assert before is None or before.skips.get("timeout", 0) == 0
    summary(proxy, "validate-raise", lambda s: s.candidate_errors == 1 and s.mismatched == 1)
    summary(proxy, "validate-sleep", lambda s: s.skips.get("timeout", 0) == 1)


def test_side_effects_are_captured_not_sent(proxy: Strangler, broker: Tansu) -> None:
    """The candidate's events are in the stored record and never reach the broker."""
    answer = post(proxy, "effects", event(501, valid=True)).json()
    assert answer["ok"] is True
    summary(proxy, "validate-effects", lambda s: s.compared >= 1)
    effects = [
        effect
        for _, examples in signatures(proxy, "validate-effects")
        for example in examples
        for effect in example.record.mirrored.side_effects
    ]
    assert [(e.topic, e.key) for e in effects] == [("validated-events", answer["id"].encode())]
    assert consume_values(broker.address, "validated-events", set()) == []


@pytest.mark.parametrize("runtime", ["uvloop", "trio"])
def test_flooded_mirror_skips_without_delaying(
    php_fpm: PhpFpm, broker: Tansu, tmp_path: Path, runtime: str
) -> None:
    """With one slow candidate slot and a tiny queue, extra copies are dropped as queue_full."""
    text = config(
        php_fpm.address, broker.address, tmp_path, runtime=runtime, concurrency=1, queue_size=1
    )
    with serving(lambda: Strangler(text)) as s:
        s.store_path = tmp_path / "shadow.sqlite"  # type: ignore[attr-defined]
        body = event(3, valid=True)
        answers = {post(s, "sleep", body).status_code for _ in range(6)}
        assert answers == {200}
        found = summary(s, "validate-sleep", lambda x: x.skips.get("queue_full", 0) >= 1)
        assert found.skips["queue_full"] >= 1


def test_report_command_and_dashboard(proxy: Strangler, tmp_path: Path) -> None:
    """`strangler report` prints, gates and writes HTML; the admin dashboard serves the data."""
    import subprocess
    import sys

    for i in range(3):
        post(proxy, "status", event(i, valid=False))
    summary(proxy, "validate-status", lambda s: s.compared >= 3)
    store = str(proxy.store_path)  # type: ignore[attr-defined]
    run = [sys.executable, "-m", "proxy", "report", "--store", store]
    table = subprocess.run(run, capture_output=True, text=True, cwd=REPO_ROOT, check=True).stdout
    assert "validate-status" in table
    data = json.loads(
        subprocess.run([*run, "--json"], capture_output=True, text=True, check=True).stdout
    )
    rates = {r["route"]: r for r in data["routes"]}
    assert rates["validate-status"]["mismatched"] >= 3
    gate = subprocess.run([*run, "--gate", "0.99", "--min-compared", "3"], capture_output=True)
    assert gate.returncode == 1
    page = tmp_path / "report.html"
    subprocess.run([*run, "--html", str(page)], check=True, capture_output=True)
    assert "validate-status" in page.read_text()
    dashboard = httpx.get(proxy.admin_url + "/shadow/data.json").json()
    assert "validate-status" in json.dumps(dashboard)
    assert httpx.get(proxy.admin_url + "/shadow").status_code == 200


def test_reverse_shadow_compares_with_a_marked_legacy_copy(proxy: Strangler) -> None:
    """The handler answers; a copy marked X-Strangler-Shadow goes to legacy and is compared."""
    headers = {"host": "reverse.test"}
    answer = httpx.get(proxy.url + "/quote.php?sku=Z&qty=2", headers=headers).json()
    assert answer["quoted_at"].endswith("000000")  # the Python port answered
    assert httpx.get(proxy.url + "/info.php", headers=headers).json() == {"migrated": True}
    clean = summary(proxy, "quote-reverse", lambda s: s.compared >= 1)
    assert (clean.compared, clean.matched) == (1, 1)
    summary(proxy, "info-reverse", lambda s: s.compared >= 1)
    (_, examples), *_ = signatures(proxy, "info-reverse")
    legacy = json.loads(examples[0].record.mirrored.control.body)
    assert legacy["headers"]["HTTP_X_STRANGLER_SHADOW"] == "1"
    assert examples[0].record.mirrored.reverse is True
