"""Migrated and canary routes end to end: strangler, PHP-FPM, Tansu and a file cache.

The migrated validator must answer byte for byte what validate.php answers,
publish each accepted event to the broker, and a canary must split users
stickily between the two without the client seeing a difference.  The
migrated batch validator must answer what validate_batch.php answers and
publish exactly one message per accepted event of each batch.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from ops.bench._migrated import batch_route, count_keys
from ops.bench.bench import BATCH_SCRIPT, validate_body
from ops.services import Nginx, PhpFpm, Strangler, Tansu, build_config, free_port
from tests.conftest import DEMO_ROOT, REPO_ROOT, serving
from tests.migrated.conftest import Record, consume_values

pytestmark = pytest.mark.service
RULES = REPO_ROOT / "ops" / "demo" / "app" / "rules.json"
ROUTES = """
[[routes]]
name = "validate-v2"
match = { path = "/api/v2/validate" }
mode = "migrated"
handler = "ops.demo.handlers.validator:validate"

[[routes]]
name = "validate-canary"
match = { path = "/validate.php" }
mode = "canary"
handler = "ops.demo.handlers.validator:validate"
percent = 50
key = "header:x-user"
"""


def resources(bootstrap: str, spool: Path, **kafka: str) -> str:
    extra = "".join(f"{k} = {json.dumps(v)}\n" for k, v in kafka.items())
    return f"""
[kafka]
bootstrap_servers = "{bootstrap}"
spool_dir = "{spool}"
{extra}
[caches.rules]
source = "file://{RULES}"
"""


def event(i: int, valid: bool = True) -> dict[str, object]:
    return {
        "type": "signup",
        "user_id": i + 1 if valid else 0,
        "email": f"User{i}@Example.org",
        "age": 20 + i % 50,
        "country": "de",
    }


@pytest.fixture(scope="module")
def proxy(
    php_fpm: PhpFpm, kafka_broker: Tansu, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Strangler]:
    """strangler with the migrated validator, its canary, a producer and a rules cache."""
    spool = tmp_path_factory.mktemp("spool")
    text = build_config(php_fpm.address, DEMO_ROOT, runtime="uvloop", extra_routes=ROUTES)
    text += resources(kafka_broker.address, spool)
    with serving(lambda: Strangler(text)) as s:
        yield s


def test_migrated_route_matches_php_and_publishes(
    proxy: Strangler, nginx_demo: Nginx, kafka_broker: Tansu
) -> None:
    """The Python validator answers like PHP; every accepted event reaches the broker."""
    pairs: set[tuple[bytes, bytes]] = set()
    with httpx.Client() as client:
        for i in range(20):
            body = json.dumps(event(i, valid=i % 4 != 0)).encode()
            ours = client.post(proxy.url + "/api/v2/validate", content=body)
            php = client.post(nginx_demo.url + "/validate.php", content=body)
            assert (ours.status_code, ours.content) == (php.status_code, php.content)
            assert ours.headers["content-type"] == php.headers["content-type"]
            if ours.status_code == 200:
                answer = ours.json()
                value = json.dumps(answer["normalized"], separators=(",", ":")).encode()
                pairs.add((answer["id"].encode(), value))
    assert len(pairs) == 15
    records = consume_values(kafka_broker.address, "validated-events", {v for _, v in pairs})
    assert pairs <= {(key, value) for key, value, _ in records}


def test_batch_route_publishes_one_message_per_accepted_event(
    php_fpm: PhpFpm, nginx_demo: Nginx, tmp_path: Path
) -> None:
    """The batch port answers like the PHP; its broker then holds each accepted event once."""
    same = [event(3), event(3), event(4, valid=False)]
    bodies = [
        validate_body(BATCH_SCRIPT),  # the benchmark's batch: 15 accepted of 20
        json.dumps({"events": same}).encode(),  # equal events, ids differ by index
        json.dumps({"events": [event(5, valid=False), 7]}).encode(),  # nothing accepted
        json.dumps({"events": [event(6)], "extra": 1}).encode(),  # refused whole: 422
    ]
    expected: dict[bytes, tuple[bytes, tuple[tuple[str, bytes], ...]]] = {}
    with serving(Tansu) as broker:
        text = build_config(
            php_fpm.address, DEMO_ROOT, runtime="uvloop", extra_routes=batch_route()
        )
        text += resources(broker.address, tmp_path / "spool")
        with serving(lambda: Strangler(text)) as proxy, httpx.Client() as client:
            for body in bodies:
                ours = client.post(proxy.url + "/api/v2/validate-batch", content=body)
                php = client.post(nginx_demo.url + "/validate_batch.php", content=body)
                assert (ours.status_code, ours.content) == (php.status_code, php.content)
                assert ours.headers["content-type"] == php.headers["content-type"]
                for result in ours.json().get("results", []) if ours.status_code == 200 else []:
                    if result["ok"]:
                        value = json.dumps(result["normalized"], separators=(",", ":")).encode()
                        header = (("event-type", result["type"].encode()),)
                        expected[result["id"].encode()] = (value, header)
        # The proxy has stopped: whatever it produced is on the broker.
        counts = count_keys(broker.address)
        records = read_records(broker.address, "validated-events", len(expected))
    assert len(expected) == 15 + 2
    assert counts == dict.fromkeys(expected, 1)
    assert {key: (value, tuple(headers)) for key, value, headers in records} == expected


def read_records(bootstrap: str, topic: str, count: int) -> list[Record]:
    """The first ``count`` records of ``topic`` (or fewer after 20 s)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "tests"})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        records: list[Record] = []
        deadline = time.monotonic() + 20
        while len(records) < count and time.monotonic() < deadline:
            message = consumer.poll(0.2)
            if message is not None and message.error() is None:
                records.append((message.key(), message.value() or b"", message.headers()))
        return records
    finally:
        consumer.close()


def test_canary_splits_users_stickily(proxy: Strangler, nginx_demo: Nginx) -> None:
    """Half the users go to Python, always the same ones, and all get PHP's exact answer."""
    body = json.dumps(event(7)).encode()
    with httpx.Client() as client:
        expected = client.post(nginx_demo.url + "/validate.php", content=body).content
        for user in range(40):
            for _ in range(2):
                r = client.post(
                    proxy.url + "/validate.php", content=body, headers={"x-user": f"u{user}"}
                )
                assert r.content == expected
    sides = _sides_by_user(proxy.log_text())
    assert set(sides.values()) == {"legacy", "new"}
    assert all(len(s) == 1 for s in _sides_per_user(proxy.log_text()).values())


def _sides_per_user(log: str) -> dict[str, set[str]]:
    """Access-log sides of canary requests, grouped by request id order (2 per user)."""
    lines = [json.loads(line) for line in log.splitlines() if '"route": "validate-canary"' in line]
    lines = [x for x in lines if x.get("event") == "request"]
    out: dict[str, set[str]] = {}
    for n, line in enumerate(lines):
        out.setdefault(str(n // 2), set()).add(line["side"])
    return out


def _sides_by_user(log: str) -> dict[str, str]:
    return {u: next(iter(s)) for u, s in _sides_per_user(log).items()}


def test_ready_reports_caches(proxy: Strangler) -> None:
    """/ready lists each worker's caches with their version and age."""
    ready = httpx.get(proxy.admin_url + "/ready").json()
    assert ready["ready"] is True
    caches = ready["workers"][0]["caches"]
    assert caches["rules"]["stale"] is False


def test_unreachable_broker_fails_startup(php_fpm: PhpFpm, tmp_path: Path) -> None:
    """With no broker at the configured address, serve exits 1 naming the cause."""
    text = build_config(php_fpm.address, DEMO_ROOT, extra_routes=ROUTES)
    text += resources(f"127.0.0.1:{free_port()}", tmp_path / "spool", startup_timeout="2s")
    config = tmp_path / "strangler.toml"
    port, admin = free_port(), free_port()
    config.write_text(text.replace("{port}", str(port)).replace("{admin_port}", str(admin)))
    result = subprocess.run(
        [sys.executable, "-m", "proxy", "serve", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO_ROOT,
    )
    assert result.returncode == 1
    assert "no broker reachable" in result.stdout + result.stderr
    assert "worker 0 failed to start" in result.stderr


def test_spool_replay_command(kafka_broker: Tansu, php_fpm: PhpFpm, tmp_path: Path) -> None:
    """`strangler spool replay` resends what a worker left in the spool, with progress."""
    import anyio

    from migrated import Message
    from migrated._spool import Spool

    spool_dir = tmp_path / "spool"
    messages = [Message("replayed", f"m{i}".encode(), key=f"k{i}".encode()) for i in range(3)]

    async def leave_behind() -> None:
        spool = await Spool.claim(spool_dir)
        await spool.append(messages)
        await spool.aclose()

    anyio.run(leave_behind)
    text = build_config(php_fpm.address, DEMO_ROOT) + resources(kafka_broker.address, spool_dir)
    config = tmp_path / "strangler.toml"
    config.write_text(text.replace("{port}", "1").replace("{admin_port}", "2"))
    result = subprocess.run(
        [sys.executable, "-m", "proxy", "spool", "replay", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO_ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert "3 sent, 0 still spooled" in result.stdout
    records = consume_values(kafka_broker.address, "replayed", {m.value for m in messages})
    assert {(m.key, m.value) for m in messages} <= {(k, v) for k, v, _ in records}
