"""The embedding entry point: load policies, feed events, get decisions.

    from policyengine import Engine
    engine = Engine.load("policies/community", state="community.db")

    @engine.on("mute")
    def mute(decision):                 # wire decisions to platform calls
        bot.timeout(decision.user, decision.duration_s)

    engine.process({"type": "message", "ts": "2026-11-01T08:00:00Z", "user": "u1", "text": "加微信"})
    engine.checkpoint()                 # every minute or so
    engine.close()                      # at shutdown: a last checkpoint, and the file let go of

Thread safety: one Engine may be shared by threads and asyncio tasks; `process`, `aprocess`,
`reload`, `checkpoint` and `acheckpoint` take one lock, so events are evaluated one at a time, in
the order they get the lock. For throughput, shard members across engines (each with its own state).
"""
from __future__ import annotations

import asyncio
import threading
from collections import defaultdict
from typing import Callable, Iterable

from policyengine.compiler import compile_program
from policyengine.diagnostics import Diagnostic, render_text
from policyengine.events.decode import BadEvent, EventDecoder
from policyengine.loader import LoadResult, load_paths, load_text
from policyengine.model import Decision, Event
from policyengine.runtime.evaluator import Evaluator
from policyengine.runtime.store import MemoryStore
from policyengine.state.snapshot import capture, held_apart, restore, written

__all__ = ["Engine", "PolicyError", "BadEvent", "Decision", "Event"]

# A decision dict made a Decision by the model's own validator, called directly: what
# `Decision(**d)` does, without its keyword arguments and __init__ (2.0 -> 1.3 us a decision; the
# community pack decides on six events in ten, and this was a third of Engine.process).
_decision = Decision.__pydantic_validator__.validate_python


class PolicyError(Exception):
    """Policies did not check; `diagnostics` holds every error, `str()` renders them."""

    def __init__(self, diagnostics: list[Diagnostic], sources: dict[str, str]):
        self.diagnostics = diagnostics
        super().__init__(render_text(diagnostics, sources))


class Engine:
    def __init__(self, loaded: LoadResult, store: MemoryStore | None = None, state: str | None = None,
                 source: tuple = (), explain: bool = False, profile: bool = False):
        self._explain = explain
        self._profile = profile
        self._profiler = None
        self._lock = threading.RLock()
        self._writes = 0                    # checkpoints writing after the lock (close waits for them)
        self._written = threading.Condition(self._lock)
        self._handlers: dict[str, list[Callable]] = defaultdict(list)
        self._source = source
        self._state_file = None
        self._closed = False
        self.dropped: list[str] = []
        if state is None:
            self._build(loaded, store)
            return
        from policyengine.state.sqlite import SqliteStore
        self._state_file = SqliteStore(state, alone=True)     # one writer a file (SqliteStore._hold_alone)
        try:
            self._build(loaded, store)
        except BaseException:
            self._state_file.close()
            raise

    def _build(self, loaded: LoadResult, store: MemoryStore | None) -> None:
        if loaded.program is None:
            raise PolicyError(loaded.diagnostics, loaded.sources)
        self.warnings = [d for d in loaded.diagnostics if not d.is_error]
        self.compiled = compile_program(loaded.program, explain=self._explain, profile=self._profile)
        if store is None and self._state_file is not None:
            rows = self._state_file.load()
            store, self.dropped = restore(rows, self.compiled) if rows else (MemoryStore(), [])
        if self._profile:
            from policyengine.runtime.profile import profiled_evaluator
            self.evaluator, self._profiler = profiled_evaluator(self.compiled, store,
                                                                "validating events, the engine's own steps")
            self._profiler.start()
            self._profiler.close()              # the time between calls is no section's
        else:
            self.evaluator = Evaluator(self.compiled, store)
        self.decoder = EventDecoder(self.compiled.plan.field_types)

    # ---- construction ------------------------------------------------------------------
    @classmethod
    def load(cls, *paths: str, store: MemoryStore | None = None, state: str | None = None,
             explain: bool = False, profile: bool = False) -> "Engine":
        """Policies from files or folders of *.policy; `state` keeps member state in a SQLite file;
        `explain` makes each decision carry why (`decision.explain`); `profile` times each rule
        (`profile()`)."""
        return cls(load_paths(list(paths)), store, state, ("paths", paths), explain, profile)

    @classmethod
    def from_text(cls, text: str, name: str = "inline.policy", store: MemoryStore | None = None,
                  state: str | None = None, explain: bool = False, profile: bool = False) -> "Engine":
        return cls(load_text([(name, text)]), store, state, ("text", text, name), explain, profile)

    # ---- evaluation ----------------------------------------------------------------------
    def process(self, event: dict | Event) -> list[Decision]:
        """Decisions for one event (a dict in the event contract, or an Event); raises BadEvent
        if it is not valid. Handlers registered with `on` run before this returns."""
        decisions = self._evaluate(event)
        for decision in decisions:
            for handler in self._handlers_for(decision):
                handler(decision)
        return decisions

    def _evaluate(self, event: dict | Event) -> list[Decision]:
        data = event.model_dump(exclude_none=True) if isinstance(event, Event) else event
        with self._lock:
            # With profile=True its clock runs inside the engine's calls only (the bot's time
            # between events is no section's). Written out here: a context manager for it cost
            # every event 0.7 us of Engine.process's 4.6 (0.2 us even for contextlib's null one).
            profiler = self._profiler
            if profiler is not None:
                profiler.resume()
            try:
                ts = self.decoder.validate(data)
                return [_decision(d) for d in self.evaluator.process(data, ts)]
            finally:
                if profiler is not None:
                    profiler.close()

    def _handlers_for(self, decision: Decision) -> list[Callable]:
        return self._handlers.get(decision.action, []) + self._handlers.get("*", [])

    def process_many(self, events: Iterable[dict | Event]) -> list[Decision]:
        out: list[Decision] = []
        for event in events:
            out.extend(self.process(event))
        return out

    async def aprocess(self, event: dict | Event) -> list[Decision]:
        """For asyncio bots. Evaluation is CPU work of microseconds; it runs inline, and awaitable
        handlers registered with `on` are awaited."""
        decisions = self._evaluate(event)
        for decision in decisions:
            for handler in self._handlers_for(decision):
                result = handler(decision)
                if asyncio.iscoroutine(result):
                    await result
        return decisions

    def advance(self, until: str | int | float) -> list[Decision]:
        """Event time has reached `until` (RFC 3339 or epoch seconds) with no event: fire due timers."""
        from policyengine.events.timestamps import parse_ts
        with self._lock:
            # its clock runs inside the call, as in _evaluate; written out as there: one helper for
            # both cost Engine.process 0.08-0.12 us an event (~6 %), measured
            profiler = self._profiler
            if profiler is not None:
                profiler.resume()
            try:
                decisions = [_decision(d) for d in self.evaluator.advance(parse_ts(until))]
            finally:
                if profiler is not None:
                    profiler.close()
        for decision in decisions:
            for handler in self._handlers_for(decision):
                handler(decision)
        return decisions

    # ---- handlers ------------------------------------------------------------------------
    def on(self, action: str) -> Callable[[Callable], Callable]:
        """Register a handler for decisions of one action (`"*"`: all). Use as a decorator."""
        def register(fn: Callable) -> Callable:
            self._handlers[action].append(fn)
            return fn
        return register

    # ---- policies and state ----------------------------------------------------------------
    def reload(self, *paths: str, text: str | None = None) -> list[str]:
        """Swap in new policies while running; state is kept as `eval --state` keeps it across a
        policy change (see docs/state.md). Returns what state was dropped."""
        with self._lock:
            if text is not None:
                loaded = load_text([("inline.policy", text)])
            elif paths:
                loaded = load_paths(list(paths))
            elif self._source and self._source[0] == "paths":
                loaded = load_paths(list(self._source[1]))
            else:
                loaded = load_text([(self._source[2], self._source[1])])
            if loaded.program is None:
                raise PolicyError(loaded.diagnostics, loaded.sources)
            rows = capture(self.evaluator.store, self.compiled)
            new = compile_program(loaded.program, explain=self._explain)
            store, self.dropped = restore(rows, new)
            self._build(loaded, store)
            return self.dropped

    def checkpoint(self) -> None:
        """Save the state to the `state` file given at load time; back once it is on disk. From any
        thread; events wait only while the state is taken, not while it is written."""
        self._write_taken(*self._take())

    async def acheckpoint(self) -> None:
        """`checkpoint` for asyncio bots: the state taken on the loop's thread (events wait for
        that alone), then encoded, written and synced to disk on a worker thread while the loop
        serves events. Awaited inline, `checkpoint` held the loop for all of it (~0.39 s at
        100 000 members, the disk's sync included); here the loop waits at most for one table's
        encoding at a time (the encoder holds the interpreter for a table: ~20 ms for the
        largest there)."""
        taken = self._take()
        await asyncio.to_thread(self._write_taken, *taken)

    async def asave_every(self, seconds: float) -> None:
        """A checkpoint every `seconds`, off the loop (`acheckpoint`), until cancelled: what an
        asyncio bot runs as a task beside its handlers (`asyncio.create_task(engine.asave_every(60))`),
        cancelling it as it stops, before `aclose`."""
        while True:
            await asyncio.sleep(seconds)
            await self.acheckpoint()

    def _take(self):
        """Under the lock the state is taken: the tables whose values change in place (windows,
        deques, labels) encoded, the rest copied (held_apart). Encoding the copies, the timers'
        copy among them, the write and its sync to disk come after it (_write_taken), events going
        on: at 100 000 members the lock is held 62–77 ms, where encoding it all there held it
        132–157 ms (docs/performance.md, "The embedded engine")."""
        if self._state_file is None:
            raise RuntimeError("this engine was loaded without a state file")
        with self._lock:
            if self._closed:
                raise RuntimeError("this engine's state file was closed (Engine.close)")
            now, later = held_apart(capture(self.evaluator.store, self.compiled, to_write=True))
            snapshot = self._state_file.encode(now)
            self._writes += 1                   # close waits for it to be written
        return snapshot, later

    def _write_taken(self, snapshot, later) -> None:
        """What `_take` left encoded and committed, outside the lock; `close` waits for it."""
        try:
            self._state_file.encode_more(snapshot, written(later))
            self._state_file.write(snapshot, {})
        finally:
            with self._lock:
                self._writes -= 1
                self._written.notify_all()

    def close(self, save: bool = True) -> None:
        """The state saved (a last checkpoint, unless `save=False` or there is no state file), then
        the file and its lock let go of, once every checkpoint under way is written: what a bot
        calls as it stops. Another Engine, or `eval --state`, can then take the file; until then
        they are refused with StateFileError. Evaluation goes on in memory after it; `checkpoint`
        raises. Again does nothing. `with Engine.load(..., state=path) as engine:` closes at the
        block's end, `async with` by `aclose`. The lock is let go of even when the last checkpoint
        fails (a full disk): its error is raised after."""
        try:
            if self._saves_on_close(save):
                self.checkpoint()
        finally:
            self._let_go()

    async def aclose(self, save: bool = True) -> None:
        """`close` for asyncio bots: the last checkpoint written off the loop (`acheckpoint`)."""
        try:
            if self._saves_on_close(save):
                await self.acheckpoint()
        finally:
            self._let_go()

    def _saves_on_close(self, save: bool) -> bool:
        return save and self._state_file is not None and not self._closed

    def _let_go(self) -> None:
        with self._lock:
            self._closed = True
            self._written.wait_for(lambda: self._writes == 0)
            if self._state_file is not None:
                self._state_file.close()

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    async def __aenter__(self) -> "Engine":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

    def profile(self) -> dict:
        """Where evaluation's time went since the policies were loaded (or reloaded), for an engine
        loaded with `profile=True`: {"lap_ns", "total_ns", "sections": [{"name", "kind", "runs",
        "ns"}, …]}, the costliest first, as `eval --profile-out` writes it (docs/language.md)."""
        if self._profiler is None:
            raise RuntimeError("this engine was loaded without profile=True")
        from policyengine.runtime.profile import profile_dict
        with self._lock:
            return profile_dict(self._profiler)

    @property
    def state_path(self) -> str | None:
        """The state file given at load time, or None: whether `checkpoint` has somewhere to write."""
        return None if self._state_file is None else self._state_file.path

    @property
    def issues(self):
        """Run-time errors so far: rules skipped on an event because they raised."""
        return self.evaluator.issues
