"""Fixtures of the migrated side: Tansu brokers, TLS material, producer settings.

Each broker is started once per session (Tansu starts in ~25 ms).  Brokers
meant to sit behind a test's relay or TLS terminator advertise a port chosen
in advance, where the test starts its relay.  ``consume_values`` reads a topic
back by assigning every partition (a consumer group join takes ~23 s on Tansu)
and reading until the expected values arrived (high watermarks are
under-reported).
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import trustme
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from migrated._producer_settings import ProducerSettings
from ops.services import Tansu, free_port
from tests.conftest import serving

Record = tuple[bytes | None, bytes, Any]


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[Tansu]:
    """A plain Tansu broker (pause()/resume() freeze it)."""
    with serving(Tansu) as broker:
        yield broker


@pytest.fixture(scope="session")
def relayed_broker() -> Iterator[Tansu]:
    """A Tansu broker advertising ``advertised_port``, where a test runs its relay."""
    with serving(partial(Tansu, advertised_port=free_port())) as broker:
        yield broker


@pytest.fixture(scope="session")
def sasl_broker() -> Iterator[Tansu]:
    """A Tansu broker requiring SASL (every login fails), behind a test's TLS relay."""
    with serving(partial(Tansu, advertised_port=free_port(), authentication=True)) as broker:
        yield broker


@dataclass(frozen=True)
class TlsFiles:
    """A CA and certificates written to disk, plus the relay's server contexts."""

    ca_file: str
    other_ca_file: str
    cert_file: str
    key_file: str
    server_context: ssl.SSLContext  # requires a client certificate (mTLS)
    sasl_server_context: ssl.SSLContext  # server authentication only (SASL_SSL)


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A CA, a server certificate for 127.0.0.1, a client certificate, and a foreign CA."""
    directory = tmp_path_factory.mktemp("tls")
    ca, other = trustme.CA(), trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    client = ca.issue_cert("producer@strangler.test")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.configure_cert(context)
    ca.configure_trust(context)
    context.verify_mode = ssl.CERT_REQUIRED
    sasl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.configure_cert(sasl_context)
    paths = {
        "ca_file": ca.cert_pem,
        "other_ca_file": other.cert_pem,
        "cert_file": client.cert_chain_pems[0],
        "key_file": client.private_key_pem,
    }
    for name, blob in paths.items():
        blob.write_to_path(str(directory / name))
    files = {n: str(directory / n) for n in paths}
    return TlsFiles(**files, server_context=context, sasl_server_context=sasl_context)


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., ProducerSettings]:
    """Settings with a per-test spool and test-sized timeouts; keywords override."""

    def make(bootstrap_servers: str, **overrides: Any) -> ProducerSettings:
        values: dict[str, Any] = {
            "spool_dir": tmp_path / "spool",
            "message_timeout": 2.0,
            "startup_timeout": 5.0,
            "replay_interval": 0.2,
            **overrides,
        }
        return ProducerSettings(bootstrap_servers, **values)

    return make


def consume_values(
    bootstrap: str,
    topic: str,
    expected: set[bytes],
    config: dict[str, Any] | None = None,
    to_the_end: bool = False,
) -> list[Record]:
    """Every record of ``topic`` read until all ``expected`` values were seen (or 20 s).

    ``to_the_end``: then on until a second passes without a record (values sent
    more than once).
    """
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "tests", **(config or {})},
    )
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        return _read(consumer, expected, to_the_end)
    finally:
        consumer.close()


def _read(consumer: Consumer, expected: set[bytes], to_the_end: bool) -> list[Record]:
    records: list[Record] = []
    missing = set(expected)
    deadline = time.monotonic() + 20
    quiet = 0
    while (missing or (to_the_end and quiet < 5)) and time.monotonic() < deadline:
        message = consumer.poll(0.2)
        quiet = quiet + 1 if message is None else 0
        if message is None or message.error() is not None:
            continue
        value = message.value() or b""
        records.append((message.key(), value, message.headers()))
        missing.discard(value)
    return records
