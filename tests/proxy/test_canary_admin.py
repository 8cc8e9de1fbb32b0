"""Forced sides and run-time percents on the real supervisor and workers, before PHP-FPM.

The canary route's handler marks its answers (``x-handler: echo``); PHP's
page does not, so every answer says which side gave it.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from ops.services import PhpFpm, Strangler, build_config, child_pids
from proxy._canary import goes_to_new
from tests.conftest import DEMO_ROOT, serving
from tests.waiting import wait_for

pytestmark = pytest.mark.service
TOKEN = "t0ken"
AUTH = {"authorization": f"Bearer {TOKEN}"}
KEYS = [f"user-{i}" for i in range(60)]
LOW, HIGH = 20, 60
ROUTE = f"""
[[routes]]
name = "pages"
match = {{ path = "/index.php" }}
mode = "canary"
handler = "tests.proxy.sample_handlers:echo"
percent = {LOW}
key = "header:X-User"
force_header = "X-Canary"
force_cookie = "canary"
"""


class TokenStrangler(Strangler):
    """strangler whose admin listener wants the token, readiness included."""

    def _is_ready(self) -> bool:
        try:
            return httpx.get(self.admin_url + "/ready", headers=AUTH).status_code == 200
        except httpx.HTTPError:
            return False


@pytest.fixture(scope="module")
def proxy(php_fpm: PhpFpm) -> Iterator[Strangler]:
    """Two uvloop workers, a token on the admin listener, the canary route at LOW percent."""
    text = build_config(php_fpm.address, DEMO_ROOT, workers=2, extra_routes=ROUTE)
    text = text.replace("[admin]\n", f'[admin]\ntoken = "{TOKEN}"\n')
    with serving(lambda: TokenStrangler(text)) as s:
        yield s


def side(response: httpx.Response) -> str:
    """``new`` when the handler answered, ``legacy`` when PHP did."""
    assert response.status_code == 200
    return "new" if response.headers.get("x-handler") == "echo" else "legacy"


def test_header_and_cookie_force_a_side(proxy: Strangler) -> None:
    """X-Canary and the canary cookie pin every user to a side; the header wins."""
    cases = [
        ({"x-canary": "always"}, "new"),
        ({"cookie": "canary=always"}, "new"),
        ({"x-canary": "never"}, "legacy"),
        ({"cookie": "canary=never"}, "legacy"),
        ({"x-canary": "never", "cookie": "canary=always"}, "legacy"),
    ]
    with httpx.Client(base_url=proxy.url) as client:
        for headers, expected in cases:
            sides = {side(client.get("/index.php", headers={"x-user": k, **headers})) for k in KEYS}
            assert sides == {expected}, headers
        unforced = {side(client.get("/index.php", headers={"x-user": k})) for k in KEYS}
    assert unforced == {"new", "legacy"}  # else the forcing above proved nothing


class Load:
    """Threads asking for the canary page with sticky keys, recording each key's sides in order."""

    def __init__(self, url: str, threads: int = 4) -> None:
        self.url = url
        self.sides: dict[str, list[str]] = {k: [] for k in KEYS}
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        shares = [KEYS[i::threads] for i in range(threads)]
        self.threads = [threading.Thread(target=self._run, args=(s,)) for s in shares]

    def _run(self, keys: list[str]) -> None:
        try:
            with httpx.Client(base_url=self.url, timeout=10) as client:
                while not self.stop.is_set():
                    for key in keys:
                        response = client.get("/index.php", headers={"x-user": key})
                        self.sides[key].append(side(response))
        except BaseException as exc:  # reported by the test, not lost in a thread
            self.errors.append(exc)

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)

    def seen(self) -> dict[str, list[str]]:
        """Each key's sides so far (a copy)."""
        return {k: list(v) for k, v in self.sides.items()}


def set_percent(proxy: Strangler, percent: float) -> httpx.Response:
    return httpx.post(
        f"{proxy.admin_url}/routes/pages/percent", json={"percent": percent}, headers=AUTH
    )


def routes_command(proxy: Strangler) -> str:
    command = [sys.executable, "-m", "proxy", "routes", "--admin", proxy.admin_url]
    command += ["--token", TOKEN]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


def test_raising_the_percent_under_load_keeps_stickiness(proxy: Strangler) -> None:
    """Raised through the admin API under load, the percent moves keys legacy->new only."""
    moving = {k for k in KEYS if goes_to_new(HIGH, "pages", k) and not goes_to_new(LOW, "pages", k)}
    with Load(proxy.url) as load:
        assert wait_for(lambda: all(len(s) >= 3 for s in load.sides.values()))
        before = load.seen()
        assert set_percent(proxy, HIGH).status_code == 200
        # Until the moving keys answer from new; the assertions below say what went wrong.
        wait_for(lambda: all(load.sides[k][-3:] == ["new"] * 3 for k in moving))
        time.sleep(1.0)  # every worker's poll has passed: nothing may move back
    assert load.errors == []
    after = load.seen()
    for key, sides in after.items():
        assert set(before[key]) == {"new" if goes_to_new(LOW, "pages", key) else "legacy"}
        flips = [(a, b) for a, b in itertools.pairwise(sides) if a != b]
        assert flips in ([], [("legacy", "new")]), key  # never new -> legacy
        assert sides[-1] == ("new" if goes_to_new(HIGH, "pages", key) else "legacy"), key
    assert len(moving) >= 10
    assert {k for k, s in after.items() if s[0] != s[-1]} == moving
    assert proxy.log_text().count('"event": "percents_applied"') == 2  # each worker once
    assert f"{HIGH}% (run-time; config {LOW}%) forced by header x-canary, cookie canary" in (
        routes_command(proxy)
    )


def test_restarted_workers_keep_the_run_time_percent(proxy: Strangler) -> None:
    """Workers killed and restarted start with the run-time percent; a reload drops it."""
    moving = {k for k in KEYS if goes_to_new(HIGH, "pages", k) and not goes_to_new(LOW, "pages", k)}
    assert set_percent(proxy, HIGH).status_code == 200
    assert proxy.process is not None
    time.sleep(1.0)  # the running workers have polled the file
    applied = proxy.log_text().count('"event": "percents_applied"')
    workers = child_pids(proxy.process.pid)
    for pid in workers:
        os.kill(pid, signal.SIGKILL)
    supervisor = proxy.process.pid
    assert wait_for(lambda: len(set(child_pids(supervisor)) - set(workers)) == 2)
    assert wait_for(lambda: httpx.get(proxy.admin_url + "/ready", headers=AUTH).status_code == 200)
    with httpx.Client(base_url=proxy.url) as client:

        def sides() -> set[str]:
            return {side(client.get("/index.php", headers={"x-user": k})) for k in moving}

        assert sides() == {"new"}  # only the restarted workers answer now
        time.sleep(1.0)
        # They started with it: none had to catch up from the file's percent meanwhile.
        assert proxy.log_text().count('"event": "percents_applied"') == applied
        reload = httpx.post(proxy.admin_url + "/reload", headers=AUTH).json()
        assert "run-time percents dropped" in reload["message"]
        assert wait_for(lambda: sides() == {"legacy"})
    row = next(r for r in httpx.get(proxy.admin_url + "/routes", headers=AUTH).json()["routes"])
    assert (row["name"], row["percent"], row["overridden"]) == ("pages", LOW, False)
