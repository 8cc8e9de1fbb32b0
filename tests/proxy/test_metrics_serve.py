"""``/metrics`` of a running proxy with two workers: their union, and a restart that
does not send a counter backwards."""

from __future__ import annotations

import os
import signal

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ops.services import PhpFpm, Strangler
from tests.conftest import DEMO_ROOT, serving
from tests.waiting import wait_for

pytestmark = pytest.mark.service
ANSWERED = (
    "strangler_requests_total",
    (("mode", "legacy"), ("route", "everything"), ("status", "2xx")),
)


def scrape(proxy: Strangler) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(proxy.admin_url + "/metrics").text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def worker_pids(proxy: Strangler) -> dict[int, int]:
    ready = httpx.get(proxy.admin_url + "/ready").json()
    return {w["index"]: w["pid"] for w in ready.get("workers", [])}


def test_the_union_counts_every_worker_and_keeps_counting_across_restarts(
    php_fpm: PhpFpm,
) -> None:
    """Twenty requests show as twenty, with process series per worker, after both restart too."""
    make = lambda: Strangler(  # noqa: E731
        backend_address=php_fpm.address, document_root=DEMO_ROOT, workers=2
    )
    with serving(make) as s:
        for _ in range(20):
            assert httpx.get(s.url + "/index.php").status_code == 200
        assert wait_for(lambda: scrape(s).get(ANSWERED) == 20, 20.0)
        shown = scrape(s)
        processes = {dict(k[1])["worker"] for k in shown if k[0] == "process_cpu_seconds_total"}
        assert processes == {"0", "1", "supervisor"}
        for index, pid in sorted(worker_pids(s).items()):
            os.kill(pid, signal.SIGKILL)
            assert wait_for(lambda i=index, p=pid: worker_pids(s).get(i, p) != p, 20.0)  # type: ignore[misc]
            assert scrape(s).get(ANSWERED) == 20
        for _ in range(5):
            assert httpx.get(s.url + "/index.php").status_code == 200
        assert wait_for(lambda: scrape(s).get(ANSWERED) == 25, 20.0)
