"""Running wrk and reading its text report.

wrk prints a human report; with ``--latency`` it includes the 50/75/90/99th
percentiles.  ``parse_report`` turns that text into a ``WrkResult`` and keeps
the error counters (non-2xx/3xx answers, socket errors) so a run with errors
can be flagged instead of silently counted as throughput.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}
_TIME = r"([\d.]+)(us|ms|s|m|h)"
_PERCENTILE = re.compile(rf"^\s*(50|75|90|99)%\s+{_TIME}\s*$", re.MULTILINE)
_RPS = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
_TOTAL = re.compile(r"^\s*(\d+) requests in ([\d.]+)(\w+),", re.MULTILINE)
_SOCKET = re.compile(
    r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", re.MULTILINE
)
_NON_2XX = re.compile(r"Non-2xx or 3xx responses: (\d+)")


class WrkError(RuntimeError):
    """wrk failed to run or printed a report without the expected numbers."""


@dataclass(frozen=True)
class WrkResult:
    """One wrk run: throughput, latency percentiles in ms, and error counters."""

    requests_per_second: float
    requests: int
    latency_ms: dict[str, float]
    errors: dict[str, int] = field(default_factory=dict)

    @property
    def error_count(self) -> int:
        """All errors wrk saw: non-2xx/3xx answers plus socket errors."""
        return sum(self.errors.values())

    def to_json(self) -> dict[str, Any]:
        """A plain dict for the JSON report."""
        return {**asdict(self), "error_count": self.error_count}


def wrk_command(
    url: str, *, threads: int, connections: int, duration: int, script: Path | None
) -> list[str]:
    """The wrk command line for one run."""
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency"]
    if script is not None:
        command += ["-s", str(script)]
    return [*command, url]


def run_wrk(command: list[str], duration: float) -> WrkResult:
    """Run wrk (bounded: killed 30 s after its duration) and parse its report.

    Raises:
        WrkError: wrk exited with an error, hung, or its report was unreadable.
    """
    return run_wrk_text(command, duration)[0]


def run_wrk_text(command: list[str], duration: float) -> tuple[WrkResult, str]:
    """``run_wrk``, also returning wrk's whole output (what a script's ``done()`` printed).

    Raises:
        WrkError: wrk exited with an error, hung, or its report was unreadable.
    """
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=duration + 30, check=False
        )
    except subprocess.TimeoutExpired:
        raise WrkError(
            f"wrk did not finish within {duration + 30:g}s: {' '.join(command)}"
        ) from None
    if done.returncode != 0:
        raise WrkError(f"wrk exited with {done.returncode}: {done.stderr.strip() or done.stdout}")
    return parse_report(done.stdout), done.stdout


def parse_report(text: str) -> WrkResult:
    """Read throughput, percentiles and error counters from wrk's report.

    Raises:
        WrkError: the report lacks ``Requests/sec`` or the latency distribution.
    """
    rps = _RPS.search(text)
    total = _TOTAL.search(text)
    percentiles = {f"p{p}": float(v) * _UNITS[u] for p, v, u in _PERCENTILE.findall(text)}
    if rps is None or total is None or "p50" not in percentiles:
        raise WrkError(f"unreadable wrk report:\n{text}")
    errors: dict[str, int] = {}
    if socket := _SOCKET.search(text):
        for name, value in zip(
            ("connect", "read", "write", "timeout"), socket.groups(), strict=True
        ):
            if int(value):
                errors[name] = int(value)
    if non_2xx := _NON_2XX.search(text):
        errors["non_2xx_3xx"] = int(non_2xx[1])
    return WrkResult(float(rps[1]), int(total[1]), percentiles, errors)
