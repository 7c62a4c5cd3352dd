"""The record loop fires timers by the bound the timeline keeps (store.clock.due) instead of looking
at the heap on every event: timers set by a rule, by a silence and by a state file fire where
they are due, as hand-worked here."""
from __future__ import annotations

import io
from datetime import datetime, timezone

import orjson

from policyengine.cli.writers import jsonl_writer
from policyengine.compiler import compile_program
from policyengine.events.decode import EventDecoder
from policyengine.loader import load_text
from policyengine.logs import open_log
from policyengine.replay import ReplayStats, replay
from policyengine.runtime.evaluator import Evaluator
from policyengine.runtime.store import MemoryStore
from policyengine.state.snapshot import capture, restore

POLICY = ('rule flood { on message when count(message by user within 10s) >= 3 do mute(1m) then unmute '
          'cooldown 1m per user }\n'
          'rule wake { on absence(message by user for 1h) do notify(user, "hi") }\n')
DAY = "2026-11-02T"


def _message(clock: str, user: str) -> dict:
    return {"type": "message", "ts": DAY + clock + "Z", "user": user, "id": f"{user}@{clock}", "text": "x"}


def _run(tmp_path, events: list[dict], store: MemoryStore | None = None):
    compiled = compile_program(load_text([("t.policy", POLICY)]).program)
    log = tmp_path / "log.jsonl"
    log.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    evaluator, out, reported = Evaluator(compiled, store), io.BytesIO(), []
    replay(open_log(str(log)), evaluator, EventDecoder(compiled.plan.field_types), jsonl_writer(out),
           reported.append, ReplayStats())
    assert reported == []
    decisions = [orjson.loads(line) for line in out.getvalue().splitlines()]
    return [(d["rule"], d["action"], d.get("user"), d["ts"][11:19]) for d in decisions], evaluator, compiled


def test_timers_fire_where_they_are_due(tmp_path):
    # u's third message in 10 s (00:00:02) mutes u until 00:01:02; v's message at 00:01:30 comes
    # after that, so the unmute is decided first, at its due time. u's silence ends an hour after
    # u's last message (01:00:02), before w's message at 01:00:10; v's (01:01:30) before 02:00:00.
    # w's own (02:00:10 and 03:00:00) are not due by the last event: no decision.
    events = [_message("00:00:00", "u"), _message("00:00:01", "u"), _message("00:00:02", "u"),
              _message("00:00:30", "v"), _message("00:01:30", "v"), _message("01:00:10", "w"),
              _message("02:00:00", "w")]
    got, evaluator, _ = _run(tmp_path, events)
    assert got == [("flood", "mute", "u", "00:00:02"), ("flood", "unmute", "u", "00:01:02"),
                   ("wake", "notify", "u", "01:00:02"), ("wake", "notify", "v", "01:01:30")]
    store = evaluator.store
    # w's silence is the one left. Its timer stays where its first message put it (02:00:10): the
    # message at 02:00:00 re-armed the silence's due time in its table only, and the timer looks
    # there when it fires (Timeline._fire_absence). The clock's bound is that timer's time.
    w_due = int(datetime(2026, 11, 2, 2, 0, 10, tzinfo=timezone.utc).timestamp()) * 1_000_000
    assert [t[0] for t in store.timers] == [w_due] and store.clock.due == w_due


def test_a_timer_from_a_state_file_fires_in_the_next_run(tmp_path):
    first = [_message("00:00:00", "u"), _message("00:00:01", "u"), _message("00:00:02", "u")]
    got, evaluator, compiled = _run(tmp_path, first)
    assert got == [("flood", "mute", "u", "00:00:02")]
    restored, dropped = restore(capture(evaluator.store, compiled), compiled)
    unmute_due = int(datetime(2026, 11, 2, 0, 1, 2, tzinfo=timezone.utc).timestamp()) * 1_000_000
    assert dropped == [] and restored.clock.due == unmute_due            # u's unmute, the earliest
    got, _, _ = _run(tmp_path, [_message("00:05:00", "v")], restored)
    assert got == [("flood", "unmute", "u", "00:01:02")]
