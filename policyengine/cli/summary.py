"""The run summary and the progress line `eval` prints on stderr."""
from __future__ import annotations

import time

from policyengine.replay import ReplayStats


def summary_text(stats: ReplayStats, strict_stop: bool = False, workers: int = 1) -> str:
    rate = stats.events / stats.elapsed if stats.elapsed > 0 else 0.0
    total = sum(stats.decisions.values())
    lines = ["", "── summary " + "─" * 49,
             f"events read     {stats.events:>12,}",
             f"bad lines       {stats.bad_lines:>12,}" + ("   (stopped: --strict)" if strict_stop else ""),
             f"decisions       {total:>12,}"]
    if stats.late_events:
        lines.append(f"late events     {stats.late_events:>12,}   (older than the latest; evaluated at the latest time)")
    if stats.runtime_errors:
        lines.append(f"rule errors     {stats.runtime_errors:>12,}   (rules skipped on those events)")
    lines.append(f"elapsed         {stats.elapsed:>11.2f}s")
    lines.append(f"throughput      {rate:>12,.0f} events/s")
    if workers > 1:
        lines.append(f"workers         {workers:>12,}")
    if stats.decisions:
        lines.append("")
        lines.append(f"{'policy/rule':<44} {'action':<14} {'count':>8}")
        for (policy, rule, action), n in sorted(stats.decisions.items(), key=lambda kv: (-kv[1], kv[0])):
            lines.append(f"{policy + '/' + rule:<44} {action:<14} {n:>8,}")
    return "\n".join(lines) + "\n"


class Progress:
    """A one-line progress indicator, redrawn at most twice a second."""

    def __init__(self, stream):
        self.stream = stream
        self.last = 0.0
        self.shown = False

    def __call__(self, log, stats: ReplayStats) -> None:
        now = time.perf_counter()
        if now - self.last < 0.5:
            return
        self.last = now
        pos = log.position()
        share = f" {100 * pos / log.size:5.1f}%" if (pos is not None and log.size) else ""
        rate = stats.events / max(now - stats.started, 1e-9)
        self.stream.write(f"\r{log.name}:{share} {stats.events:,} events, {rate:,.0f}/s ")
        self.stream.flush()
        self.shown = True

    def clear(self) -> None:
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.shown = False
