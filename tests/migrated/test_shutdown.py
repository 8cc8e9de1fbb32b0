"""Shutdown with a frozen broker: every acked answer is durable, nothing is dropped.

A real strangler process (supervisor and worker) serves the demo validator
with ``delivery = "acked"`` against its own Tansu broker.  The broker is
frozen (SIGSTOP) while requests wait for their acks, and strangler gets
SIGTERM.  Every client must get an answer (or a refusal) well inside
``graceful_timeout``, the worker must exit by itself, and after SIGCONT and
``strangler spool replay`` every answered event must be on the broker.  A
PHP request outliving ``graceful_timeout`` beside them is cut with an error
its client sees, never answered 2xx.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest

from ops.services import PhpFpm, Strangler, Tansu, build_config
from tests.conftest import DEMO_ROOT, REPO_ROOT, serving
from tests.migrated.conftest import consume_values
from tests.migrated.test_routes_e2e import ROUTES, event, resources

pytestmark = pytest.mark.service
GRACEFUL = 20.0
IN_FLIGHT = 16
RUNTIMES = pytest.mark.parametrize("runtime", ["uvloop", "trio"])


def _config(php: PhpFpm, broker: Tansu, spool: Path, runtime: str) -> str:
    text = build_config(php.address, DEMO_ROOT, runtime=runtime, extra_routes=ROUTES)
    text = text.replace("graceful_timeout = 5", f"graceful_timeout = {GRACEFUL:g}")
    # A message_timeout far beyond the test: only the shutdown may spool them.
    return text + resources(broker.address, spool, message_timeout="300s")


def _post_all(url: str, bodies: list[bytes]) -> tuple[list[threading.Thread], dict[int, object]]:
    """Start one client per body; each records its response, or the error it got."""
    answers: dict[int, object] = {}

    def post(i: int, body: bytes) -> None:
        try:
            answers[i] = httpx.post(url + "/api/v2/validate", content=body, timeout=60)
        except httpx.HTTPError as exc:
            answers[i] = exc

    threads = [
        threading.Thread(target=post, args=(i, body), daemon=True) for i, body in enumerate(bodies)
    ]
    for thread in threads:
        thread.start()
    return threads, answers


def _published(response: httpx.Response) -> bytes:
    """The event value the validator published for this answer (as test_routes_e2e reads it)."""
    return json.dumps(response.json()["normalized"], separators=(",", ":")).encode()


def _replay(config_path: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "proxy", "spool", "replay", "--config", str(config_path)]
    return subprocess.run(
        command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False
    )


@RUNTIMES
def test_sigterm_with_a_frozen_broker_answers_and_spools_every_acked_request(
    php_fpm: PhpFpm, tmp_path: Path, runtime: str
) -> None:
    """Acked requests waiting on a frozen broker are answered at SIGTERM; none is lost."""
    spool = tmp_path / "spool"
    with (
        serving(Tansu) as broker,
        serving(lambda: Strangler(_config(php_fpm, broker, spool, runtime))) as proxy,
    ):
        warm = httpx.post(proxy.url + "/api/v2/validate", content=json.dumps(event(999)))
        assert warm.status_code == 200  # the topic exists and the producer is connected
        broker.pause()
        try:
            bodies = [json.dumps(event(i)).encode() for i in range(IN_FLIGHT)]
            threads, answers = _post_all(proxy.url, bodies)
            time.sleep(1.0)
            assert answers == {}  # they wait for the frozen broker's acks
            assert proxy.process is not None
            started = time.monotonic()
            proxy.signal(signal.SIGTERM)
            for thread in threads:
                thread.join(GRACEFUL)
            answered_after = time.monotonic() - started
            status = proxy.process.wait(GRACEFUL + 10)
            exited_after = time.monotonic() - started
        finally:
            broker.resume()
        log = proxy.log_text()
        config_path = proxy.config_path
        assert status == 0, log[-3000:]
        assert "worker_killed" not in log
        replayed = _replay(config_path)
        assert replayed.returncode == 0, replayed.stdout + replayed.stderr
        assert "0 still spooled" in replayed.stdout

        assert sorted(answers) == list(range(IN_FLIGHT))
        responses = [a for a in answers.values() if isinstance(a, httpx.Response)]
        assert [r.status_code for r in responses] == [200] * IN_FLIGHT, answers
        assert answered_after < GRACEFUL / 2
        assert exited_after < GRACEFUL
        expected = {_published(r) for r in responses}
        records = consume_values(broker.address, "validated-events", expected)
        assert expected <= {value for _, value, _ in records}


SLOW_ROOT = REPO_ROOT / "tests" / "apps" / "slow" / "public"
SLOW_ROUTE = """
[[routes]]
name = "slow"
match = { path = "/sleep.php" }
mode = "legacy"
backend = "slow"
"""


def _slow_config(php: PhpFpm, broker: Tansu, spool: Path) -> str:
    text = build_config(
        php.address,
        DEMO_ROOT,
        extra_routes=ROUTES + SLOW_ROUTE,
        server_extra='default_backend = "php"',
    )
    text = text.replace("graceful_timeout = 5", "graceful_timeout = 1")
    text += f'\n[backends.slow]\ntype = "fastcgi"\naddress = "{php.address}"\n'
    text += f'document_root = "{SLOW_ROOT}"\n'
    return text + resources(broker.address, spool, message_timeout="300s")


def _slow_request(url: str, marker: Path) -> tuple[threading.Thread, dict[str, object]]:
    """GET sleep.php for 10 s in a thread; it records the response or the error it got."""
    result: dict[str, object] = {}

    def get() -> None:
        try:
            result["r"] = httpx.get(f"{url}/sleep.php?ms=10000&started={marker.name}", timeout=30)
        except httpx.HTTPError as exc:
            result["r"] = exc

    thread = threading.Thread(target=get, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    marker.unlink()
    return thread, result


def test_a_request_outliving_graceful_timeout_is_cut_loudly_and_acked_ones_spooled(
    php_fpm: PhpFpm, tmp_path: Path
) -> None:
    """A PHP request longer than graceful_timeout gets an error; acked ones got 200, spooled."""
    spool = tmp_path / "spool"
    marker = Path(tempfile.gettempdir()) / f"strangler-started-{uuid.uuid4().hex}"
    with (
        serving(Tansu) as broker,
        serving(lambda: Strangler(_slow_config(php_fpm, broker, spool))) as proxy,
    ):
        warm = httpx.post(proxy.url + "/api/v2/validate", content=json.dumps(event(999)))
        assert warm.status_code == 200
        slow_thread, slow = _slow_request(proxy.url, marker)
        broker.pause()
        try:
            bodies = [json.dumps(event(i)).encode() for i in range(8)]
            threads, answers = _post_all(proxy.url, bodies)
            time.sleep(1.0)
            assert proxy.process is not None
            proxy.signal(signal.SIGTERM)
            started = time.monotonic()
            for thread in [*threads, slow_thread]:
                thread.join(20)
            status = proxy.process.wait(20)
            exited_after = time.monotonic() - started
        finally:
            broker.resume()
        log = proxy.log_text()
        replayed = _replay(proxy.config_path)
        assert (status, "worker_killed" in log) == (0, False), log[-3000:]
        assert exited_after < 5  # graceful_timeout (1 s) and the close, not the supervisor's kill
        assert replayed.returncode == 0, replayed.stdout + replayed.stderr
        responses = [a for a in answers.values() if isinstance(a, httpx.Response)]
        assert [r.status_code for r in responses] == [200] * 8, answers
        assert isinstance(slow["r"], httpx.HTTPError), slow  # cut, the client knows: never a 2xx
        expected = {_published(r) for r in responses}
        records = consume_values(broker.address, "validated-events", expected)
        assert expected <= {value for _, value, _ in records}
