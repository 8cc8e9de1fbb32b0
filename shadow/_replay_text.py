"""Counting a replay's outcomes, the progress bar, and the summary (pure but for the bar).

Verdicts, from the comparisons *before* (recorded answers) and *after* (the
current handler):

    matching          matched before, matches now
    fixed             differed before, matches now
    still_differing   differs now with a signature some recorded request had
    broke             matched before, differs now                  (regression)
    new_difference    differs now with a signature never recorded  (regression)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, TextIO

from ._model import Comparison, Mirrored

Verdict = Literal["matching", "fixed", "still_differing", "broke", "new_difference"]
REGRESSIONS: frozenset[Verdict] = frozenset({"broke", "new_difference"})
_BAR = 30
_SHOWN = 20


@dataclass(frozen=True, slots=True)
class Outcome:
    """One replayed request and its two comparisons."""

    mirrored: Mirrored
    before: Comparison
    after: Comparison

    def verdict(self, known: set[str]) -> Verdict:
        """See the module docstring; ``known`` holds the recorded signatures."""
        if self.after.matched:
            return "matching" if self.before.matched else "fixed"
        if self.before.matched:
            return "broke"
        return "still_differing" if self.after.signature in known else "new_difference"


@dataclass(slots=True)
class Tally:
    """Counts per verdict, and the regressions to show."""

    known: set[str]
    counts: dict[Verdict, int] = field(default_factory=dict)
    regressions: list[tuple[Verdict, Outcome]] = field(default_factory=list)

    def add(self, outcome: Outcome) -> None:
        """Count one outcome."""
        verdict = outcome.verdict(self.known)
        self.counts[verdict] = self.counts.get(verdict, 0) + 1
        if verdict in REGRESSIONS:
            self.regressions.append((verdict, outcome))

    @property
    def done(self) -> int:
        """Requests replayed so far."""
        return sum(self.counts.values())


class Progress:
    """A one-line text bar on a terminal, redrawn in place; one final line otherwise."""

    def __init__(self, total: int, stream: TextIO) -> None:
        self.total = total
        self.stream = stream
        self.live = stream.isatty()

    def update(self, tally: Tally) -> None:
        """Redraw the bar (terminals only)."""
        if self.live:
            self.stream.write("\r" + self._line(tally))
            self.stream.flush()

    def finish(self, tally: Tally) -> None:
        """End the bar with a newline, or print the final state once."""
        self.stream.write(("\r" if self.live else "") + self._line(tally) + "\n")
        self.stream.flush()

    def _line(self, tally: Tally) -> str:
        filled = _BAR * tally.done // max(self.total, 1)
        c = tally.counts
        return (
            f"[{'#' * filled}{'.' * (_BAR - filled)}] {tally.done}/{self.total}"
            f"  fixed {c.get('fixed', 0)}  differing {c.get('still_differing', 0)}"
            f"  regressions {len(tally.regressions)}"
        )


def render_summary(tally: Tally, handler: str) -> str:
    """What changed, by verdict, and the first regressions with their differences."""
    c = tally.counts
    lines = [
        f"replayed {tally.done} recorded requests through {handler}",
        f"  fixed            {c.get('fixed', 0):>6}",
        f"  still differing  {c.get('still_differing', 0):>6}",
        f"  still matching   {c.get('matching', 0):>6}",
        f"  regressions      {len(tally.regressions):>6}"
        f"  ({c.get('broke', 0)} matched before, {c.get('new_difference', 0)} new differences)",
    ]
    if tally.regressions:
        lines += ["", "Regressions:"]
    for verdict, outcome in tally.regressions[:_SHOWN]:
        m = outcome.mirrored
        why = "matched before, differs now" if verdict == "broke" else "new difference"
        query = f"?{m.query}" if m.query else ""
        sig = outcome.after.signature
        lines.append(f"  {m.request_id}  {m.route}  {m.method} {m.path}{query}  {why} [{sig}]")
        lines += [
            f"      {d.kind:<7} {d.where}: legacy {d.control!r} | now {d.candidate!r}"
            for d in outcome.after.differences[:5]
        ]
    if len(tally.regressions) > _SHOWN:
        lines.append(f"  ... and {len(tally.regressions) - _SHOWN} more")
    return "\n".join(lines) + "\n"
