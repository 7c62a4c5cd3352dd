"""`eval --profile`: where the evaluation's time goes, rule by rule.

The program is compiled with `profile` (compiler/codegen.py): each rule's code starts with
`LAP(its index)`, so the time from one lap to the next is the rule's that lapped — its conditions,
its gates and its actions; the handler's updates and the word tests that skip runs of rules lap
rows of their own too (compiler/plan.py: lapped_sections). The evaluator times the sections
around the rules: an event type's handler reading the event, the timers, the sweep of expired
state and the roles; whatever is left between events is reading and decoding the log and the
evaluator's own steps.

A profiled run goes through the evaluator's per-event path, not eval's fused loop
(compiler/loop.py), so its total is longer than the same run's without `--profile`; the rules'
code is the same. A test that several rules share is timed in the first rule that works it out.
Each lap costs the profiler a little (a call and a clock read, ~0.1 µs), measured when the
profile starts and taken off every section per run, so that a cheap rule is not shown as costly
as the lap. Times are the machine's clock; they never change a decision.
"""
from __future__ import annotations

import time
from typing import Callable, NamedTuple

import orjson

from policyengine.compiler import CompiledProgram
from policyengine.compiler.plan import lapped_sections

_CALIBRATION_LAPS = 20_000
LOG_AND_STEPS = "reading and decoding the log, the evaluator's steps"      # eval's time between sections


class Section(NamedTuple):
    """A row of the profile: what was timed, how often it ran, and for how long."""
    name: str
    kind: str                    # "rule", "handler", "engine"
    runs: int
    ns: int                      # the profiler's own cost already taken off


class Profile:
    """Nanoseconds and runs by section. The first sections are those the program laps by number,
    in order; the rest are named by `section()`. One section is current at a time: a lap charges
    the time since the last one to it and makes another current."""

    def __init__(self, numbered: list[tuple[str, str]] = (), between: str = LOG_AND_STEPS) -> None:
        """`numbered`: (name, kind) of the sections the program laps by number (compiler/plan.py:
        lapped_sections)."""
        self.names = [name for name, _ in numbered]
        self.kinds = [kind for _, kind in numbered]
        self.ns = [0] * len(self.names)
        self.runs = [0] * len(self.names)
        self._index: dict[str, int] = {name: i for i, name in enumerate(self.names)}
        self.between = self.section(between, "engine")
        self.current = self.between
        self.mark = time.perf_counter_ns()
        self.lap_ns = 0.0

    def section(self, name: str, kind: str) -> int:
        """The number of the section `name`, made the first time it is asked for."""
        if name not in self._index:
            self._index[name] = len(self.names)
            self.names.append(name)
            self.kinds.append(kind)
            self.ns.append(0)
            self.runs.append(0)
        return self._index[name]

    def lap(self, section: int) -> None:
        """`section` starts: the time since the last lap was the current section's."""
        now = time.perf_counter_ns()
        self.ns[self.current] += now - self.mark
        self.runs[section] += 1
        self.current = section
        self.mark = now

    def enter(self, section: int) -> int:
        """`section` starts within the current one, which `leave` makes current again: the
        section that was current."""
        outer = self.current
        self.lap(section)
        return outer

    def leave(self, outer: int) -> None:
        now = time.perf_counter_ns()
        self.ns[self.current] += now - self.mark
        self.current = outer
        self.mark = now

    def calibrate(self, laps: int = _CALIBRATION_LAPS) -> float:
        """The time one lap adds to the run, the least of a few tries (ns), kept as `lap_ns`."""
        trial = Profile()
        a, b = trial.section("a", "engine"), trial.section("b", "engine")
        lap = trial.lap
        best = float("inf")
        for _ in range(5):
            start = time.perf_counter_ns()
            for _ in range(laps // 2):
                lap(a)
                lap(b)
            best = min(best, (time.perf_counter_ns() - start) / laps)
        self.lap_ns = best
        return best

    def start(self) -> None:
        """Measure a lap's cost, then start the clock: what comes before is no section's."""
        self.calibrate()
        self.mark = time.perf_counter_ns()

    def close(self) -> None:
        """The time since the last lap charged to the current section (the end of the run, or a
        pause: an embedded engine's profile counts no time between its calls)."""
        self.leave(self.current)

    def resume(self) -> None:
        """After `close`: the clock runs again from now, the time since charged to no section."""
        self.mark = time.perf_counter_ns()

    def sections(self) -> list[Section]:
        """Every rule, run or not, and every other section that ran, the costliest first; the
        profiler's cost taken off each run."""
        rows = [Section(name, kind, runs, max(0, round(ns - runs * self.lap_ns)))
                for name, kind, runs, ns in zip(self.names, self.kinds, self.runs, self.ns)
                if kind == "rule" or runs or ns]
        return sorted(rows, key=lambda row: (-row.ns, row.name))


def timed(profile: Profile, section: int | None, function: Callable) -> Callable:
    """`function`, its calls charged to `section` (and what runs inside to the sections it laps).
    With no section, `function` laps one of its own (a silence rule a timer runs), and the time
    after it goes back to the section that called it (the timers'), not to the rule it ran last."""
    enter, leave = profile.enter, profile.leave

    def run(*args):
        outer = enter(section) if section is not None else profile.current
        try:
            return function(*args)
        finally:
            leave(outer)
    return run


def profiled_evaluator(compiled: CompiledProgram, store=None, between: str = LOG_AND_STEPS):
    """An evaluator of `compiled` (compiled with `profile`) that charges its time to a Profile:
    (evaluator, profile). It takes events one at a time (process, process_record). `between`
    names the time outside every other section."""
    from policyengine.runtime.evaluator import Evaluator

    profile = Profile(lapped_sections(compiled.plan), between)
    evaluator = Evaluator(compiled, store, lap=profile.lap)
    evaluator.record_loop = evaluator.share_loop = None        # one event at a time, through the handlers
    for handlers in (evaluator.handlers, evaluator.record_handlers):
        for event_type, handler in (handlers or {}).items():
            handlers[event_type] = timed(profile, profile.section(f"`on {event_type}` reading the event", "handler"),
                                         handler)
    timeline, store, rewards = evaluator.timeline, evaluator.store, evaluator.rewards
    timeline.fire_until = timed(profile, profile.section("timers (ladders, silences, periods)", "engine"),
                                timeline.fire_until)
    for rule_index, handler in list(timeline.absence_handlers.items()):
        timeline.absence_handlers[rule_index] = timed(profile, None, handler)
    store.sweep = timed(profile, profile.section("sweeping expired state", "engine"), store.sweep)
    rewards.check_roles = timed(profile, profile.section("roles", "engine"), rewards.check_roles)
    return evaluator, profile


def profile_text(profile: Profile, width: int = 100) -> str:
    """The profile as a table for the terminal: each section's runs, total, time a run and share."""
    rows = profile.sections()
    total = sum(row.ns for row in rows) or 1
    name_width = min(max([len(row.name) for row in rows] + [len("where the time went")]), width - 46)
    lines = [f"── profile {'─' * (name_width + 35)}",
             f"{'where the time went':<{name_width}} {'runs':>10} {'total':>10} {'a run':>10} {'share':>6}"]
    for row in rows:
        name = row.name if len(row.name) <= name_width else row.name[:name_width - 1] + "…"
        per_run = _duration(row.ns / row.runs) if row.runs else "-"
        runs = f"{row.runs:,}" if row.runs or row.kind == "rule" else "-"      # the time between sections
        lines.append(f"{name:<{name_width}} {runs:>10} {_duration(row.ns):>10} {per_run:>10} "
                     f"{100 * row.ns / total:>5.1f}%")
    lines.append(f"(a rule's time: its conditions, gates and actions; a test rules share counts in the first "
                 f"that works it out; {profile.lap_ns:.0f} ns a run, the profiler's own, taken off)")
    return "\n".join(lines) + "\n"


def profile_dict(profile: Profile) -> dict:
    """The profile for a program to read: every row as the table has it (nanoseconds, the
    profiler's cost taken off), and that cost a run."""
    rows = profile.sections()
    return {"lap_ns": round(profile.lap_ns, 1), "total_ns": sum(row.ns for row in rows),
            "sections": [row._asdict() for row in rows]}


def profile_json(profile: Profile) -> bytes:
    return orjson.dumps(profile_dict(profile), option=orjson.OPT_INDENT_2) + b"\n"


def _duration(ns: float) -> str:
    if ns >= 1e9:
        return f"{ns / 1e9:.2f} s"
    if ns >= 1e6:
        return f"{ns / 1e6:.1f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.1f} µs"
    return f"{ns:.0f} ns"
