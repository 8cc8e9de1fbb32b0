"""S3 fixtures: moto's server mode on a loopback port, reached by boto3 over HTTP.

Import the fixtures into a test module (``from ._s3_fixtures import moto_s3, ...``).
moto keeps its buckets in process-global state, shared by every server in the
process, so each test gets its own bucket name.  A server that cannot start
skips its tests locally and fails them in CI (``service_unavailable``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from ops.services import free_port
from tests.conftest import service_unavailable

REGION = "us-east-1"
_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}


class MotoS3:
    """One moto server on 127.0.0.1 and a boto3 client of it for the test's own puts."""

    def __init__(self, port: int = 0) -> None:
        import boto3
        from moto.server import ThreadedMotoServer

        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        self._server.start()
        host, self.port = self._server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{self.port}"
        self.client: Any = boto3.session.Session().client(
            "s3", region_name=REGION, endpoint_url=self.endpoint_url
        )
        self.running = True

    def bucket(self) -> str:
        """Create a bucket with a fresh name and return the name."""
        name = f"cache-{uuid.uuid4().hex[:12]}"
        self.client.create_bucket(Bucket=name)
        return name

    def put(self, bucket: str, key: str, body: bytes) -> str:
        """Store an object and return its ETag."""
        return str(self.client.put_object(Bucket=bucket, Key=key, Body=body)["ETag"])

    def stop(self) -> None:
        """Stop serving and close the listening socket, so clients are refused, not hung."""
        if self.running:
            self.running = False
            self._server.stop()
            # stop() leaves the socket listening: connections would hang in the backlog.
            assert self._server._server is not None
            self._server._server.server_close()

    def close(self) -> None:
        """Stop the server and close the test's client."""
        self.stop()
        self.client.close()


def _start(port: int = 0) -> MotoS3:
    try:
        return MotoS3(port)
    except (ImportError, OSError) as exc:
        service_unavailable(f"moto server: {exc}")


@pytest.fixture(scope="module")
def aws_env() -> Iterator[None]:
    """Dummy credentials in the environment; no profile files, no instance metadata."""
    with pytest.MonkeyPatch.context() as mp:
        for name, value in _ENV.items():
            mp.setenv(name, value)
        mp.delenv("AWS_SESSION_TOKEN", raising=False)
        mp.delenv("AWS_PROFILE", raising=False)
        yield


@pytest.fixture(scope="module")
def moto_s3(aws_env: None) -> Iterator[MotoS3]:
    """A moto server shared by a test module."""
    s3 = _start()
    yield s3
    s3.close()


@pytest.fixture
def own_s3(aws_env: None) -> Iterator[MotoS3]:
    """A moto server of one test's own, which the test may stop."""
    s3 = _start()
    yield s3
    s3.close()


@pytest.fixture
def closed_url() -> str:
    """An endpoint URL on a loopback port where nothing listens."""
    return f"http://127.0.0.1:{free_port()}"
