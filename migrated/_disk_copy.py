"""A cache's disk copy: the source object's bytes as they are, its validator beside them.

Strategy.  The copy at ``disk_copy`` is a plain copy of the source object
(``rules.json`` byte for byte), so an operator can seed a cold start by hand:
``aws s3 cp s3://bucket/rules.json /var/lib/strangler/rules.json``, or any
copy of the file.  What the cache knows about it goes in a sidecar,
``<disk_copy>.meta``: a JSON object with the source URL, the version (the
S3 ETag, or a file's ``mtime_ns-size``), when it was saved, and the size and
SHA-256 of the bytes it describes.

Both are written atomically (temp file, fsync, ``os.replace``), the copy
first: a crash between the two leaves a sidecar describing other bytes,
which the digest reveals, so a stale validator never makes a refresh answer
"not modified" for data the cache does not hold.  A copy with no sidecar, or
one whose sidecar describes other bytes, is loaded with no version (the next
refresh is an unconditional GET) and the file's mtime as its age.  A sidecar
written by hand may hold only some of the keys (``{"version": "\\"etag\\""}``);
a key that is unknown or of the wrong type is refused, naming the file and
the key.

Copies written by earlier versions (a JSON header line, then the bytes, in
one file) are still read; the next successful load rewrites them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._exceptions import CacheFormatError, CacheSourceDenied, CacheSourceError, CacheSourceMissing

_SIDECAR_KEYS: dict[str, tuple[type, ...]] = {
    "source": (str,),
    "version": (str,),
    "saved_at": (int, float),
    "size": (int,),
    "sha256": (str,),
}
_LEGACY_KEYS = {"source", "version", "saved_at"}


@dataclass(frozen=True, slots=True)
class DiskCopy:
    """The last good raw bytes of a cache and what is known about them.

    Attributes:
        source: the source URL they are a copy of; ``None`` when unknown (placed by hand).
        version: their validator (ETag, ``mtime_ns-size``); ``None`` when unknown.
        saved_at: when they were saved (epoch seconds; the file's mtime when unknown).
        body: the bytes.
    """

    source: str | None
    version: str | None
    saved_at: float
    body: bytes


def sidecar_path(path: Path) -> Path:
    """Where the validator of the copy at ``path`` is kept."""
    return path.with_name(path.name + ".meta")


def write_disk_copy(path: Path, copy: DiskCopy) -> None:
    """Write the bytes, then their sidecar, each atomically (see the module docstring)."""
    meta = {
        "source": copy.source,
        "version": copy.version,
        "saved_at": copy.saved_at,
        "size": len(copy.body),
        "sha256": hashlib.sha256(copy.body).hexdigest(),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_atomically(path, copy.body)
    text = json.dumps({k: v for k, v in meta.items() if v is not None}, indent=2) + "\n"
    _write_atomically(sidecar_path(path), text.encode())


def _write_atomically(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_disk_copy(path: Path) -> DiskCopy:
    """Read the copy at ``path`` and, if there is one, its sidecar.

    Raises:
        CacheSourceMissing: there is no copy.
        CacheFormatError: the sidecar is not JSON, or has an unknown or ill-typed key.
        CacheSourceError: a file cannot be read.
    """
    body, mtime = _read(path)
    meta = _read_sidecar(sidecar_path(path))
    if meta is None:
        legacy = _legacy(body)
        return legacy or DiskCopy(None, None, mtime, body)
    source = meta.get("source")
    if not _describes(meta, body):  # the bytes were replaced: the validator is another's
        return DiskCopy(source, None, mtime, body)
    return DiskCopy(source, meta.get("version"), float(meta.get("saved_at", mtime)), body)


def _read(path: Path) -> tuple[bytes, float]:
    try:
        with path.open("rb") as file:
            return file.read(), os.fstat(file.fileno()).st_mtime
    except OSError as exc:
        raise os_error(str(path), exc) from exc


def _read_sidecar(path: Path) -> dict[str, Any] | None:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise os_error(str(path), exc) from exc
    try:
        meta = json.loads(raw)
    except ValueError as exc:
        raise CacheFormatError(str(path), f"not JSON: {exc}") from None
    if not isinstance(meta, dict):
        raise CacheFormatError(str(path), "not a JSON object")
    for key, value in meta.items():
        kinds = _SIDECAR_KEYS.get(key)
        if kinds is None:
            known = ", ".join(_SIDECAR_KEYS)
            raise CacheFormatError(str(path), f"{key}: unknown key (known: {known})")
        if not isinstance(value, kinds) or isinstance(value, bool):
            raise CacheFormatError(str(path), f"{key}: expected {kinds[0].__name__}")
    return meta


def _describes(meta: dict[str, Any], body: bytes) -> bool:
    """Whether the sidecar's size and digest, where given, are those of ``body``."""
    if "size" in meta and meta["size"] != len(body):
        return False
    return "sha256" not in meta or meta["sha256"] == hashlib.sha256(body).hexdigest()


def _legacy(raw: bytes) -> DiskCopy | None:
    """A copy in the earlier one-file format (a JSON header line, then the bytes), else None."""
    head, newline, body = raw.partition(b"\n")
    if not newline or not head.startswith(b"{"):
        return None
    try:
        header = json.loads(head)
    except ValueError:
        return None
    if not isinstance(header, dict) or set(header) != _LEGACY_KEYS:
        return None
    try:
        return DiskCopy(
            str(header["source"]), str(header["version"]), float(header["saved_at"]), body
        )
    except (TypeError, ValueError):
        return None


def os_error(url: str, exc: OSError) -> CacheSourceError:
    """The ``CacheSourceError`` for an ``OSError`` reading ``url``."""
    reason = exc.strerror or str(exc)
    if isinstance(exc, FileNotFoundError):
        return CacheSourceMissing(url, reason)
    if isinstance(exc, PermissionError):
        return CacheSourceDenied(url, reason)
    return CacheSourceError(url, reason)
