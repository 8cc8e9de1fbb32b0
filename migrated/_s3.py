"""The one place that imports boto3: a blocking, conditional GET of one S3 object.

Strategy: ``S3Object.get`` runs in a worker thread (``anyio.to_thread``) and
answers with a small closed set: ``S3Body`` (new bytes and their ETag),
``None`` (HTTP 304, the ETag still matches) or one of the ``CacheSourceError``
exceptions; every botocore error is translated here, in ``_translate``, and no
other module sees one.  Facts this relies on (measured against moto 5.2.5 and
matching AWS): ``get_object(IfNoneMatch=etag)`` raises ``ClientError`` with
``HTTPStatusCode`` 304 and ``Error.Code`` ``'304'``, and is not retried.

botocore retries are off (one HTTP attempt per fetch): the refresh loop is
the retry policy, with its own delay and jitter, and a fetch stays bounded by
``timeout``.  The client is made lazily, in the worker thread, because making
one reads service models from disk; each object gets its own boto3 session
because sessions are not thread-safe.  Credentials come from the default
chain (environment, profile, container or instance role).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    PartialCredentialsError,
)

from ._exceptions import CacheSourceDenied, CacheSourceError, CacheSourceMissing

_MISSING_CODES = frozenset({"NoSuchKey", "NoSuchBucket", "404", "NotFound"})
_DENIED_CODES = frozenset(
    {"AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken"}
)


@dataclass(frozen=True, slots=True)
class S3Body:
    """The bytes of an object and the ETag they were served with."""

    body: bytes
    etag: str


class S3Object:
    """Blocking access to ``s3://bucket/key``; call ``get`` from a worker thread.

    Args:
        bucket: the bucket name.
        key: the object key.
        region: the bucket's region, or ``None`` for the default chain.
        endpoint_url: an S3-compatible endpoint, or ``None`` for AWS.
        timeout: connect and read timeout in seconds.
    """

    def __init__(
        self,
        bucket: str,
        key: str,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.bucket = bucket
        self.key = key
        self.url = f"s3://{bucket}/{key}"
        self._region = region
        self._endpoint_url = endpoint_url
        self._timeout = timeout
        self._client: Any = None
        self._lock = threading.Lock()

    def get(self, etag: str | None = None) -> S3Body | None:
        """Fetch the object, or ``None`` when it still has ``etag`` (HTTP 304).

        Raises:
            CacheSourceMissing: the bucket or the key does not exist.
            CacheSourceDenied: no credentials, or the store refused them.
            CacheSourceError: any other failure (network, timeout, 5xx...).
        """
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": self.key}
        if etag is not None:
            kwargs["IfNoneMatch"] = etag
        try:
            response = self._get_client().get_object(**kwargs)
            with response["Body"] as stream:
                body: bytes = stream.read()
            return S3Body(body, str(response["ETag"]))
        except ClientError as exc:
            if _status(exc) == 304:
                return None
            raise _translate(self.url, exc) from exc
        except (BotoCoreError, OSError) as exc:
            raise _translate(self.url, exc) from exc

    def close(self) -> None:
        """Close the client's connection pool (safe to call more than once)."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def _get_client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = boto3.session.Session().client(
                    "s3",
                    region_name=self._region,
                    endpoint_url=self._endpoint_url,
                    config=Config(
                        connect_timeout=self._timeout,
                        read_timeout=self._timeout,
                        retries={"total_max_attempts": 1},
                    ),
                )
            return self._client


def _status(exc: ClientError) -> int | None:
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return status if isinstance(status, int) else None


def _translate(url: str, exc: Exception) -> CacheSourceError:
    """The ``CacheSourceError`` for a botocore (or socket) error."""
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return CacheSourceDenied(url, str(exc))
    if not isinstance(exc, ClientError):
        return CacheSourceError(url, f"{type(exc).__name__}: {exc}")
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    reason = f"HTTP {_status(exc)} {code}: {error.get('Message', '')}".rstrip(": ")
    if code in _MISSING_CODES:
        return CacheSourceMissing(url, reason)
    if code in _DENIED_CODES:
        return CacheSourceDenied(url, reason)
    return CacheSourceError(url, reason)
