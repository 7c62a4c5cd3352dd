"""Durable state: resuming equals one run, crashes lose and repeat nothing, files are checked."""
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.loggen import generate, stretched
from conftest import ROOT, run_cli
from policyengine.cli.main import main

POLICIES = ["--policy", str(ROOT / "policies/community"), "--policy", str(ROOT / "policies/examples")]


def _write_log(path, events):
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))


def _events(n, seed=3):
    # Stretched ×40 so day-long timers, streaks and a month boundary all happen.
    return list(stretched(generate(n, seed=seed, members=150, spammers=15), 40))


EVENTS = _events(6000)


def _eval(*args) -> int:
    return main(["eval", "--quiet", "--progress", "never", *POLICIES, *args])


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.integers(min_value=1, max_value=len(EVENTS) - 1), min_size=1, max_size=9, unique=True))
def test_resume_in_parts_equals_one_run(tmp_path_factory, cuts):
    tmp = tmp_path_factory.mktemp("resume")
    whole = tmp / "all.jsonl"
    _write_log(whole, EVENTS)
    assert _eval("--out", str(tmp / "one.jsonl"), str(whole)) == 0
    bounds = [0, *sorted(cuts), len(EVENTS)]
    outputs = []
    for i, (a, b) in enumerate(zip(bounds, bounds[1:])):
        part = tmp / f"part{i}.jsonl"
        _write_log(part, EVENTS[a:b])
        out = tmp / f"out{i}.jsonl"
        assert _eval("--state", str(tmp / "state.db"), "--out", str(out), str(part)) == 0
        outputs.append(out.read_bytes())
    one = (tmp / "one.jsonl").read_bytes()
    assert b"".join(outputs) == one
    assert one.count(b"\n") > 1000          # the run decides plenty: the comparison means something


def test_a_killed_run_rerun_writes_every_decision_exactly_once(tmp_path):
    log = tmp_path / "log.jsonl"
    _write_log(log, _events(40_000, seed=9))
    clean = tmp_path / "clean.jsonl"
    assert _eval("--out", str(clean), str(log)) == 0
    out, state = tmp_path / "out.jsonl", tmp_path / "state.db"
    cmd = [sys.executable, "-m", "policyengine", "eval", "--quiet", "--progress", "never", *POLICIES,
           "--state", str(state), "--checkpoint-every", "1500", "--out", str(out), str(log)]
    # Killed once its committed output passes a quarter, a half, three quarters of the whole:
    # by progress, not after a fixed delay, which a faster engine outran (the run finished first).
    whole = clean.stat().st_size
    kills = 0
    for share in (0.25, 0.5, 0.75):
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while proc.poll() is None and (not out.exists() or out.stat().st_size < share * whole):
            time.sleep(0.002)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
        assert sqlite3.connect(state).execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert kills >= 1, "the run should still have been going when it was killed"
    assert subprocess.run(cmd, cwd=ROOT, capture_output=True).returncode == 0
    assert out.read_bytes() == clean.read_bytes()


def test_a_state_file_of_another_format_is_refused_with_a_clear_message(tmp_path):
    log = tmp_path / "log.jsonl"
    _write_log(log, EVENTS[:100])
    state = tmp_path / "s.db"
    assert _eval("--state", str(state), "--out", str(tmp_path / "o.jsonl"), str(log)) == 0
    db = sqlite3.connect(state)
    db.execute("UPDATE meta SET value = '99' WHERE key = 'format_version'")
    db.commit()
    db.close()
    r = run_cli("eval", *POLICIES, "--state", str(state), str(log))
    assert r.returncode == 3
    assert b"error[E0201]" in r.stderr and b"state format 99, this policyengine reads format 1" in r.stderr
    (tmp_path / "junk.db").write_bytes(b"this is not sqlite" * 100)
    r = run_cli("eval", *POLICIES, "--state", str(tmp_path / "junk.db"), str(log))
    assert r.returncode == 3 and b"not a readable state file" in r.stderr and b"Traceback" not in r.stderr


def test_a_policy_change_keeps_unchanged_state_and_names_what_it_drops(tmp_path):
    first = tmp_path / "a.policy"
    first.write_text('rule five { on message when count(message by user) == 5 do flag("5th") }\n'
                     'rule burst { on message when count(message by user within 1m) == 2 do flag("burst") }\n')
    log1, log2 = tmp_path / "1.jsonl", tmp_path / "2.jsonl"
    msgs = [{"type": "message", "user": "u", "id": f"m{i}", "ts": i * 100, "text": "x"} for i in range(8)]
    _write_log(log1, msgs[:3])
    _write_log(log2, msgs[3:])
    state = tmp_path / "s.db"
    r = run_cli("eval", "--quiet", "--policy", str(first), "--state", str(state), str(log1))
    assert r.returncode == 0
    first.write_text('rule five { on message when count(message by user) == 5 do flag("5th") }\n'
                     'rule burst { on message when count(message by user within 2m) == 2 do flag("burst") }\n')
    r = run_cli("eval", "--quiet", "--policy", str(first), "--state", str(state), str(log2))
    assert b"warning[W0301]: state of `count(message by user within 1m)` dropped" in r.stderr
    flags = [(d["rule"], d["event_id"]) for d in map(orjson.loads, r.stdout.splitlines())]
    # The all-time count kept its 3: m4 is the 5th message. The new 2-minute count starts empty at m3.
    assert ("five", "m4") in flags and ("burst", "m4") in flags


def test_state_show_export_and_stats(tmp_path):
    policy = tmp_path / "p.policy"
    policy.write_text('rule pts { on message do award_points(3) }\n'
                      'rule b { on message do award_badge("first") once per user }\n')
    log = tmp_path / "l.jsonl"
    _write_log(log, [{"type": "message", "user": "alice", "id": "m1", "ts": 1, "text": "x"},
                     {"type": "message", "user": "bob", "id": "m2", "ts": 2, "text": "x"},
                     {"type": "message", "user": "alice", "id": "m3", "ts": 3, "text": "x"}])
    state = tmp_path / "s.db"
    assert run_cli("eval", "--quiet", "--policy", str(policy), "--state", str(state), str(log)).returncode == 0
    show = run_cli("state", "show", "--state", str(state), "--user", "alice").stdout.decode()
    assert show.startswith("member alice") and "points: points" in show and " 6 (as of " in show
    assert "badges" in show and "fired once: p/b" in show
    exported = [orjson.loads(line) for line in run_cli("state", "export", "--state", str(state)).stdout.splitlines()]
    assert {"ledger", "once", "badges", "clock"} <= {e["kind"] for e in exported}
    from policyengine.runtime import codec
    ledger = codec.decode(next(e["value"] for e in exported if e["kind"] == "ledger"))
    assert {member: held[0] for member, held in ledger.items()} == {"alice": 6, "bob": 3}   # 3 a message
    stats = run_cli("state", "stats", "--state", str(state)).stdout.decode()
    assert "ledger" in stats and "events seen 3;" in stats
    assert run_cli("state", "stats", "--state", str(tmp_path / "none.db")).returncode == 3


def test_state_with_an_output_that_is_not_a_regular_file(tmp_path):
    # `--out /dev/null` with `--state` was an internal error (fsync of a device); it is written as
    # standard output is: not cut back, not synced. The state is still kept, and a second run on
    # the same log skips what the first committed — its output to a file holds no decisions.
    log, state = tmp_path / "log.jsonl", tmp_path / "state.db"
    _write_log(log, EVENTS[:2000])
    first = run_cli("eval", "--quiet", *POLICIES, "--out", "/dev/null", "--state", str(state), str(log))
    assert first.returncode == 0 and b"internal error" not in first.stderr
    again = tmp_path / "again.jsonl"
    second = run_cli("eval", "--quiet", *POLICIES, "--out", str(again), "--state", str(state), str(log))
    assert second.returncode == 0 and again.read_bytes() == b""
    plain = tmp_path / "plain.jsonl"
    assert run_cli("eval", "--quiet", *POLICIES, "--out", str(plain), str(log)).returncode == 0
    assert plain.read_bytes().count(b"\n") > 100            # the log decides something


def _state_values():
    from collections import Counter, OrderedDict, deque
    atoms = st.one_of(st.none(), st.booleans(), st.integers(-(1 << 63), (1 << 63) - 1), st.floats(allow_nan=False),
                      st.text(max_size=4))
    keys = st.one_of(st.integers(-3, 3), st.text(max_size=3), st.tuples(st.text(max_size=2), st.integers(0, 3)))
    return st.recursive(atoms, lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.tuples(inner, inner), st.frozensets(st.integers(0, 9), max_size=4),
        st.sets(st.text(max_size=3), max_size=4), st.dictionaries(keys, inner, max_size=4),
        st.dictionaries(keys, inner, max_size=3).map(Counter), st.dictionaries(keys, inner, max_size=3).map(OrderedDict),
        st.lists(st.integers(0, 99), max_size=4).map(deque)), max_leaves=12)


@settings(max_examples=500, deadline=None)
@given(st.recursive(st.one_of(_state_values(), st.integers(), st.floats(), st.text()),
                    lambda inner: st.one_of(st.lists(inner, max_size=3), st.tuples(inner),
                                            st.dictionaries(st.text(max_size=2), inner, max_size=3)),
                    max_leaves=6))
def test_the_codecs_writer_in_c_gives_the_definitions_bytes(value):
    # runtime/codec.py: `dumps` writes the JSON in C (runtime/_codec.c) without the encoded
    # objects; `plain_dumps` (orjson of `plain_encode`) is its definition. Byte for byte: strs with
    # any character (orjson's escapes), ints past 64 bits (refused by both), floats of every kind,
    # sets (their items in the order of their bytes), deques, Counters and the rest by the
    # definition's objects.
    from policyengine.runtime import codec
    assert codec.dumps is not codec.plain_dumps             # the C form is built, and tested here
    outcomes = []
    for dumps in (codec.plain_dumps, codec.dumps):
        try:
            outcomes.append(dumps(value))
        except TypeError:
            outcomes.append(TypeError)
    assert outcomes[1] == outcomes[0]


@settings(max_examples=500, deadline=None)
@given(_state_values())
def test_the_codecs_decode_in_c_is_the_definitions(value):
    # runtime/codec.py: `decode` takes lists and the tags t (tuples), s (sets) and d (dicts) in C;
    # deques, windows and the rest go through `plain_decode`, the definition. The same values, of
    # the same kinds (written again, they give the same bytes).
    from policyengine.runtime import codec
    assert codec.decode is not codec.plain_decode
    read = orjson.loads(codec.plain_dumps(value))
    mine, theirs = codec.decode(read), codec.plain_decode(read)
    assert mine == theirs
    assert codec.plain_dumps(mine) == codec.plain_dumps(theirs)


@settings(max_examples=500, deadline=None)
@given(_state_values())
def test_the_copy_a_checkpoint_takes_in_c_is_the_definitions_and_holds_still(value):
    # runtime/codec.py: `taken` copies, under a bot's lock, what cannot change in place: dicts and
    # sets of atoms or tuples of atoms (`plain_taken`, the definition); None for the rest. A copy
    # writes the value's bytes, and still writes them once the value has changed.
    from policyengine.runtime import codec
    assert codec._taken is not codec.plain_taken
    mine, theirs = codec.taken(value), codec.plain_taken(value)
    assert (mine is None) == (theirs is None)
    if mine is None:
        return
    before = codec.dumps(value)
    assert codec.dumps(mine) == codec.dumps(theirs) == before
    if value.__class__ in (dict, set):
        assert mine is not value
        value.clear()
        assert codec.dumps(mine) == before


def test_a_member_columns_copy_for_a_checkpoint_writes_it_as_it_was_when_taken():
    # Column.taken: values that cannot change shared, lists of atoms held as tuples and written
    # as the lists they were; None for a column of anything else — windows, a C count's times
    # (not tracked by the collector, and changed in place: a checkpoint once wrote them as they
    # were later), dicts, lists and tuples mixed. The copy is none of the index's columns.
    from policyengine.runtime import codec
    from policyengine.runtime.aggregates import Window
    from policyengine.runtime.store import MemoryStore
    from policyengine.runtime._windows import Times, add_count
    store = MemoryStore()
    index = store.member_index
    pairs = store.as_member_table({"a": (1, 2), "b": (3, "x")})
    lists = store.as_member_table({"a": [1, 2, 3], "b": [5], "c": [4]})
    silences = store.as_member_table({("a",): (5, 6)}, unwrap=True)
    columns = index.columns
    taken = {name: (column, column.taken(), codec.dumps(column))
             for name, column in (("pairs", pairs), ("lists", lists), ("silences", silences))}
    assert index.columns == columns and all(copy is not None for _, copy, _ in taken.values())
    assert taken["lists"][1].to_dict() == {"a": [1, 2, 3], "b": [5], "c": [4]}
    assert taken["lists"][1].taken() is None                # a copy's tuples stand for lists: not copied again
    pairs["a"] = (9, 9)
    pairs["new"] = (0, 0)
    del pairs["b"]
    lists["a"].append(4)
    lists["c"][0] = 7
    silences.pop(("a",))
    for name, (column, copy, before) in taken.items():
        assert codec.dumps(copy) == before, name
        assert codec.plain_dumps(copy) == before, name        # to_dict gives the lists back
        assert codec.dumps(column) != before, name
    counted: dict = {}
    add_count(counted, "a", 1, 10)                          # a windowed count's times
    times = counted["a"]
    assert times.__class__ is Times
    window = Window("distinct")
    # an empty list stored is one the collector watches (it could be filled with anything)
    for held in ({"a": times}, {"a": window}, {"a": {"x": 1}}, {"a": [1], "b": (1,)}, {"a": (1,), "b": [1]},
                 {"a": [[1]]}, {"a": ([1],)}, {"a": []}):
        assert store.as_member_table(held).taken() is None, held
    assert codec.taken(counted) is None and codec.taken({"a": window}) is None and codec.taken(times) is None


@pytest.mark.parametrize("body", [b'{"s": [[1]]}', b'{"d": [[1, 2, 3]]}', b'{"t": 5}', b'{"x": 1}', b'{"d": [["a", {"s": [{"d": []}]}]]}'])
def test_a_state_whose_values_are_damaged_is_refused_with_a_clear_message(tmp_path, body):
    # Bodies that are JSON but no encoded value: a set of lists, a pair of three, a tag over a
    # number, an unknown tag, a set of dicts deep inside.
    from policyengine.state.sqlite import SqliteStore
    path = tmp_path / "s.db"
    file = SqliteStore(str(path))
    file.db.execute("INSERT INTO state VALUES ('ledger', 'points', 'points', ?)", (body,))
    file.close()
    log = tmp_path / "log.jsonl"
    _write_log(log, EVENTS[:10])
    r = run_cli("eval", *POLICIES, "--state", str(path), str(log))
    assert r.returncode == 3
    assert f"error[E0201]: {path}: the state is damaged" in r.stderr.decode()
    assert "Traceback" not in r.stderr.decode()


_META_DAMAGE = {
    # found by flipping bytes of state files: each was an internal error before
    "progress not UTF-8": "UPDATE meta SET value = CAST(x'7b2294' AS TEXT) WHERE key = 'progress'",
    "progress not lines by log": "UPDATE meta SET value = '[1, 2]' WHERE key = 'progress'",
    "progress not JSON": "UPDATE meta SET value = '{\"a\": ' WHERE key = 'progress'",
    "output without a length": "INSERT OR REPLACE INTO meta VALUES ('output', '{\"path\": \"x\"}')",
    "progress a number": "UPDATE meta SET value = 12 WHERE key = 'progress'",
    "progress bytes, cut": "UPDATE meta SET value = x'7b22' WHERE key = 'progress'",
    "meta's columns renamed": "UPDATE sqlite_master SET sql = "
                              "'CREATE TABLE meta (k TEXT PRIMARY KEY, value TEXT NOT NULL)' WHERE name = 'meta'",
}


@pytest.mark.parametrize("sums", ["with checksums", "without (an older file)"])
@pytest.mark.parametrize("damage", list(_META_DAMAGE))
def test_a_state_whose_bookkeeping_is_damaged_is_refused_with_a_clear_message(tmp_path, damage, sums):
    path = tmp_path / "s.db"
    log = tmp_path / "log.jsonl"
    _write_log(log, EVENTS[:10])
    assert run_cli("eval", *POLICIES, "--state", str(path), str(log)).returncode == 0
    db = sqlite3.connect(path)
    if sums != "with checksums":
        db.execute("DELETE FROM meta WHERE key = 'sums'")
    db.execute("PRAGMA writable_schema=ON")
    db.execute(_META_DAMAGE[damage])
    db.commit()
    db.close()
    r = run_cli("eval", *POLICIES, "--state", str(path), str(log))
    assert r.returncode == 3 and f"error[E0201]: {path}: " in r.stderr.decode()
    assert "Traceback" not in r.stderr.decode() and "internal error" not in r.stderr.decode()
    # `state stats` reads no progress: it may show the rows, or refuse as eval does, never fail inside
    r = run_cli("state", "stats", "--state", str(path))
    assert r.returncode == 0 or (r.returncode == 3 and f"error[E0201]: {path}: " in r.stderr.decode())
    assert "Traceback" not in r.stderr.decode() and "internal error" not in r.stderr.decode()


def _writes_held(monkeypatch):
    """SqliteStore.write held back until the test lets it go: (writing, disk, the real write) —
    `writing` set once a write has begun, `disk.set()` lets it go on."""
    from policyengine.state.sqlite import SqliteStore
    writing, disk = threading.Event(), threading.Event()
    write = SqliteStore.write

    def slow_write(self, snapshot, meta):
        writing.set()
        assert disk.wait(10)
        return write(self, snapshot, meta)
    monkeypatch.setattr(SqliteStore, "write", slow_write)
    return writing, disk, write


def _checkpointed(tmp_path):
    path, log = tmp_path / "s.db", tmp_path / "log.jsonl"
    _write_log(log, EVENTS[:10])
    done = run_cli("eval", *POLICIES, "--state", str(path), "--out", str(tmp_path / "out.jsonl"), str(log))
    assert done.returncode == 0
    return path, log


def _changed_digit(text: bytes) -> bytes:
    at = next(i for i, c in enumerate(text) if chr(c).isdigit())
    return text[:at] + str((int(chr(text[at])) + 1) % 10).encode() + text[at + 1:]


@pytest.mark.parametrize("where", ["a row's body", "the lines read of the log", "a row taken away"])
def test_a_state_changed_outside_policyengine_fails_its_checksums(tmp_path, where):
    # SQLite keeps no checksum: a digit changed in a body that still reads as JSON was loaded as
    # written, and one in the lines read of a log would skip other lines on resuming.
    path, log = _checkpointed(tmp_path)
    db = sqlite3.connect(path)
    if where == "a row's body":
        section, name, body = db.execute("SELECT section, name, body FROM state WHERE section = 'clock'").fetchone()
        changed = _changed_digit(body)
        orjson.loads(changed)                                       # still JSON: only a checksum tells
        db.execute("UPDATE state SET body = ? WHERE section = ? AND name = ?", (changed, section, name))
    elif where == "the lines read of the log":
        (progress,) = db.execute("SELECT value FROM meta WHERE key = 'progress'").fetchone()
        db.execute("UPDATE meta SET value = ? WHERE key = 'progress'", (_changed_digit(progress.encode()).decode(),))
    else:
        db.execute("DELETE FROM state WHERE section = 'clock'")
    db.commit()
    db.close()
    r = run_cli("eval", *POLICIES, "--state", str(path), str(log))
    assert r.returncode == 3 and r.stdout == b""
    assert "do not match the checksums their checkpoint wrote" in r.stderr.decode()
    assert f"error[E0201]: {path}: the state is damaged" in r.stderr.decode()


def test_a_state_file_without_checksums_is_read_as_before(tmp_path):
    # Files written before checkpoints had sums: the same decisions resuming from one as from a
    # file with them, and the next checkpoint writes sums.
    path, log = _checkpointed(tmp_path)
    later = tmp_path / "later.jsonl"
    _write_log(later, EVENTS[10:40])
    copy = tmp_path / "old.db"
    shutil.copy(path, copy)
    db = sqlite3.connect(copy)
    db.execute("DELETE FROM meta WHERE key = 'sums'")
    db.commit()
    db.close()
    with_sums = run_cli("eval", *POLICIES, "--state", str(path), str(later))
    without = run_cli("eval", *POLICIES, "--state", str(copy), str(later))
    assert without.returncode == 0 and without.stdout == with_sums.stdout and with_sums.stdout
    db = sqlite3.connect(copy)
    assert db.execute("SELECT COUNT(*) FROM meta WHERE key = 'sums'").fetchone() == (1,)
    db.close()


def test_sqlites_own_text_that_is_not_utf8_is_a_damaged_file_not_an_internal_error(tmp_path, monkeypatch):
    # SQLite quotes a damaged schema in its messages, and Python decodes them as UTF-8: a flipped
    # byte there raised UnicodeDecodeError as the file was opened.
    from policyengine.state import sqlite as store_module

    class Quoting:
        def __init__(self, real):
            self.real = real

        def execute(self, sql, *args):
            if sql.startswith("PRAGMA journal_mode"):
                raise UnicodeDecodeError("utf-8", b"\x94", 0, 1, "invalid start byte")
            return self.real.execute(sql, *args)

        def close(self):
            self.real.close()
            closed.append(True)

    closed = []
    connect = sqlite3.connect
    monkeypatch.setattr(store_module.sqlite3, "connect", lambda *a, **k: Quoting(connect(*a, **k)))
    with pytest.raises(store_module.StateFileError, match="not a readable state file"):
        store_module.SqliteStore(str(tmp_path / "s.db"))
    assert closed == [True]                 # the connection of a file refused is not left open


def test_the_codecs_writer_in_c_writes_a_replayed_state_as_the_definition_does(tmp_path):
    # A real state: the community pack over a generated log, its windows (Window), windowed counts
    # (Times), member-keyed columns (written from the column, and as the dict it stands for),
    # timers and boards, each row written by C and by the definition.
    from policyengine import Engine
    from policyengine.runtime import codec
    from policyengine.runtime.aggregates import Window
    from policyengine.state.snapshot import capture, written
    engine = Engine.load(str(ROOT / "policies" / "community"))
    for event in generate(20_000, members=300):
        engine.process(event)
    rows = written(capture(engine.evaluator.store, engine.compiled, to_write=True))   # the columns as they are
    as_dicts = capture(engine.evaluator.store, engine.compiled)                 # … and as the dicts they stand for
    kinds = set()

    def note(value):
        kinds.add(type(value).__name__)
        if isinstance(value, dict):
            for k, v in value.items():
                note(k), note(v)
        elif isinstance(value, (list, tuple, set)):
            for v in value:
                note(v)
        elif isinstance(value, Window):
            note(value.entries)
    assert [(r.section, r.name) for r in rows] == [(r.section, r.name) for r in as_dicts]
    for row, plain in zip(rows, as_dicts):
        note(row.value)
        note(plain.value)
        assert codec.dumps(row.value) == codec.plain_dumps(row.value) == codec.plain_dumps(plain.value), row.name
    assert {"Column", "Window", "Times", "dict", "tuple", "list", "set", "str", "int"} <= kinds


def test_a_checkpoint_waits_nine_times_the_last_ones_time(tmp_path, monkeypatch):
    # StateSession.due: every N lines or S seconds, but never sooner after a checkpoint than PAUSE
    # times that checkpoint's own time. The clock is ours: a checkpoint here "takes" 2 s.
    from policyengine.compiler import compile_program
    from policyengine.loader import load_text
    from policyengine.state import session as sessions
    clock = [100.0]
    monkeypatch.setattr(sessions.time, "monotonic", lambda: clock[0])
    compiled = compile_program(load_text([("p.policy", 'rule r { on message when count(message by user) > 1 '
                                                       'do flag("x") }\n')]).program)
    s = sessions.StateSession(str(tmp_path / "s.db"), compiled, every_events=10, every_seconds=60.0)
    assert not s.due(9) and s.due(10)                        # no checkpoint yet: no pause
    write = s.file.write

    def slow_write(snapshot, meta):
        clock[0] += 2.0
        return write(snapshot, meta)
    monkeypatch.setattr(s.file, "write", slow_write)
    s.checkpoint(None, 10)
    s.wait_written()                                         # the commit is made on a thread
    assert s.pause == sessions.PAUSE * 2.0 == 18.0
    clock[0] += 17.9
    assert not s.due(1_000_000)                              # lines enough, but 17.9 s < 18 s
    clock[0] += 0.1
    assert s.due(10) and not s.due(9)                        # the pause is over: lines decide again
    clock[0] += 60.0
    assert s.due(0)                                          # … or the seconds
    s.close()


def test_a_bot_checkpoints_from_another_thread_and_events_go_on_while_it_writes(tmp_path, monkeypatch):
    # Engine.checkpoint: the state is read under the engine's lock, written after it. A scheduler's
    # thread may call it (the file refused a thread other than its opener's until the thirtieth
    # session), and an event is evaluated while the write waits on the disk.
    import threading

    from policyengine import Engine
    text = 'rule r { on message when count(message by user) == 2 do flag("x") }'
    engine = Engine.from_text(text, state=str(tmp_path / "s.db"))
    engine.process({"type": "message", "ts": 1, "user": "u", "text": "x"})
    writing, disk, write = _writes_held(monkeypatch)
    failed = []

    def checkpoint():
        try:
            engine.checkpoint()
        except Exception as err:          # the test's thread reports it
            failed.append(err)
    saver = threading.Thread(target=checkpoint)
    saver.start()
    assert writing.wait(10)
    decided = engine.process({"type": "message", "ts": 2, "user": "u", "text": "x"})   # not after the write
    assert [d.action for d in decided] == ["flag"]
    disk.set()
    saver.join(10)
    assert not saver.is_alive() and failed == []
    # What was written is the state read before the second message: one message of u's, so the
    # next is u's second again.
    engine.close(save=False)
    restarted = Engine.from_text(text, state=str(tmp_path / "s.db"))
    assert [d.action for d in restarted.process({"type": "message", "ts": 3, "user": "u", "text": "x"})] == ["flag"]
    restarted.close(save=False)
    again = Engine.from_text(text, state=str(tmp_path / "s.db"))
    assert again.process({"type": "message", "ts": 3, "user": "v", "text": "x"}) == []


def test_a_snapshot_taken_earlier_never_overwrites_a_later_one(tmp_path):
    # Two threads' checkpoints: the later snapshot written first, the earlier one is not written
    # over it.
    from policyengine.state.snapshot import Row
    from policyengine.state.sqlite import SqliteStore
    file = SqliteStore(str(tmp_path / "s.db"))
    first = file.encode([Row("ledger", "points", "points", {"u": 1})])
    second = file.encode([Row("ledger", "points", "points", {"u": 2})])
    assert file.write(second, {}) is True
    assert file.write(first, {}) is False
    assert [r.value for r in file.load()] == [{"u": 2}]
    third = file.encode([Row("ledger", "points", "points", {"u": 3})])
    assert file.write(third, {}) is True and [r.value for r in file.load()] == [{"u": 3}]
    file.close()


def test_loading_a_state_runs_no_cycle_collection(tmp_path):
    # Decoding a state and filling the tables from it make objects a member; with the collector
    # running, loading the pack's state at 100 000 members took 2.4 s against 1.0 s (thirtieth
    # session). Load and restore keep it out, and leave it as they found it.
    import gc

    from policyengine import Engine
    from policyengine.state.snapshot import restore
    from policyengine.state.sqlite import SqliteStore
    text = 'rule r { on message when count(message by user) > 1 do flag("x") }'
    engine = Engine.from_text(text, state=str(tmp_path / "s.db"))
    for i in range(20_000):
        engine.process({"type": "message", "ts": i, "user": f"u{i}", "text": "x"})
    engine.checkpoint()
    collections = []

    def seen(phase, info):
        if phase == "start":
            collections.append(info["generation"])
    file = SqliteStore(str(tmp_path / "s.db"))
    gc.collect()                    # what earlier work owes the collector is not the load's
    gc.callbacks.append(seen)
    try:
        rows = file.load()
        store, dropped = restore(rows, engine.compiled)
        assert collections == [] and gc.isenabled()
    finally:
        gc.callbacks.remove(seen)
        file.close()
    assert dropped == [] and len(store.counts) == 1
    assert sorted(next(iter(store.counts.values())).items())[:2] == [("u0", 1), ("u1", 1)]


def test_a_checkpoint_runs_no_cycle_collection_and_leaves_the_collector_as_it_was(tmp_path):
    # Encoding a state allocates a list or dict per value; with Python's thresholds that set off
    # collections walking the whole state (1 s of a 1.9 s checkpoint at 100 000 members).
    import gc

    from policyengine import Engine
    engine = Engine.from_text('rule r { on message when count(message by user) > 1 do flag("x") }',
                              state=str(tmp_path / "s.db"))
    for i in range(20_000):
        engine.process({"type": "message", "ts": i, "user": f"u{i}", "text": "x"})
    collections = []

    def seen(phase, info):
        if phase == "start":
            collections.append(info["generation"])
    gc.collect()                    # what the replay owes the collector is not the checkpoint's
    gc.callbacks.append(seen)
    try:
        engine.checkpoint()
        assert collections == [] and gc.isenabled()
        gc.disable()
        engine.checkpoint()
        assert not gc.isenabled()                   # a collector the bot turned off stays off
    finally:
        gc.enable()
        gc.callbacks.remove(seen)
    engine.close()
    assert Engine.from_text('rule r { on message when count(message by user) > 1 do flag("x") }',
                            state=str(tmp_path / "s.db")).process(
        {"type": "message", "ts": 30_000, "user": "u7", "text": "x"})[0].action == "flag"


def test_a_checkpoint_is_committed_on_a_thread_while_the_run_goes_on(tmp_path, monkeypatch):
    # StateSession.checkpoint takes the state and returns; the commit is made on a thread. Until it
    # is made no other checkpoint is due, the next one waits for it, and close waits for it.
    from policyengine.compiler import compile_program
    from policyengine.loader import load_text
    from policyengine.state import session as sessions
    from policyengine.state.sqlite import SqliteStore
    compiled = compile_program(load_text([("p.policy", 'rule r { on message when count(message by user) > 1 '
                                                       'do flag("x") }\n')]).program)
    path = str(tmp_path / "s.db")
    s = sessions.StateSession(path, compiled, every_events=1, every_seconds=60.0)
    write, release, writing = s.file.write, threading.Event(), threading.Event()

    def held_write(snapshot, meta):
        writing.set()
        assert release.wait(30)
        return write(snapshot, meta)
    monkeypatch.setattr(s.file, "write", held_write)
    s.store.events_seen = 7
    s.checkpoint("log#1", 5)
    assert writing.wait(30)
    assert not s.due(1_000)                               # its write is not done: nothing more is due
    assert SqliteStore(path).meta_json("progress") is None      # nothing committed yet
    s.progress["log#1"] = 6                               # the run goes on: the commit holds what was taken
    release.set()
    s.wait_written()
    other = SqliteStore(path)
    assert other.meta_json("progress") == {"log#1": 5}
    assert {r.section: r.value for r in other.load()}["clock"]["events_seen"] == 7
    other.close()
    s.close()


def test_a_failed_commit_is_raised_by_the_next_checkpoint_or_close(tmp_path, monkeypatch):
    from policyengine.compiler import compile_program
    from policyengine.loader import load_text
    from policyengine.state import session as sessions
    compiled = compile_program(load_text([("p.policy", 'rule r { on message when count(message by user) > 1 '
                                                       'do flag("x") }\n')]).program)
    s = sessions.StateSession(str(tmp_path / "s.db"), compiled)

    def full(snapshot, meta):
        raise sqlite3.OperationalError("database or disk is full")
    monkeypatch.setattr(s.file, "write", full)
    s.checkpoint(None, 1)                                 # returns: the commit fails on its thread
    with pytest.raises(sessions.CheckpointError, match=r"s\.db: a checkpoint could not be written \(database or disk is full\)"):
        s.checkpoint(None, 2)
    s.checkpoint(None, 3)
    with pytest.raises(sessions.CheckpointError, match="disk is full"):
        s.close()


def test_eval_says_a_checkpoint_could_not_be_written_and_keeps_the_last_one(tmp_path, monkeypatch, capfd):
    # The second checkpoint's commit fails (as on a full disk): eval says so with E0202 and the
    # state file's name, exits 3, and the file still holds the first checkpoint — no traceback.
    from policyengine.state.sqlite import SqliteStore
    log = tmp_path / "log.jsonl"
    log.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in generate(3000, seed=2)))
    writes, write = [], SqliteStore.write

    def second_fails(self, snapshot, meta):
        writes.append(meta["progress"])
        if len(writes) == 2:
            raise sqlite3.OperationalError("database or disk is full")
        return write(self, snapshot, meta)
    monkeypatch.setattr(SqliteStore, "write", second_fails)
    state = tmp_path / "s.db"
    code = main(["eval", "--quiet", "--state", str(state), "--checkpoint-every", "1000", "--checkpoint-seconds", "0",
                 "--policy", "policies/examples", "--out", str(tmp_path / "d.jsonl"), str(log)])
    err = capfd.readouterr().err
    assert code == 3 and "Traceback" not in err
    assert f"error[E0202]: {state}: a checkpoint could not be written (database or disk is full)" in err
    kept = SqliteStore(str(state))
    assert list(kept.meta_json("progress").values()) == list(writes[0].values())
    kept.close()


def test_a_bots_checkpoint_writes_the_state_as_it_was_when_taken_though_events_go_on(tmp_path):
    # Engine.checkpoint copies most tables under its lock (held_apart) and encodes the copies, and
    # names and encodes the timers' copy, after letting the state go: events that come meanwhile
    # (here: run inside that step) must not reach the file. Every row's body is the one encoding
    # the live state gave at the checkpoint; the timers are named, and a load gives them back.
    import sqlite3

    from policyengine import Engine
    from policyengine.runtime import codec
    from policyengine.state import sqlite as store_module
    from policyengine.state.snapshot import Names, capture, held_apart, named_timers, written
    path = tmp_path / "bot.db"
    engine = Engine.load(str(ROOT / "policies" / "community"), state=str(path))
    events = list(generate(6000, members=200))
    for event in events[:3000]:
        engine.process(event)
    store = engine.evaluator.store
    at_checkpoint = named_timers(list(store.timers), Names(engine.compiled))
    assert any(t[3] == "absence" for t in at_checkpoint)              # silence timers, named by rule
    bodies = {(r.section, r.name): codec.dumps(r.value)
              for r in written(capture(store, engine.compiled, to_write=True))}
    now, later = held_apart(capture(store, engine.compiled, to_write=True))
    copied = {(r.section, r.name) for r in later}
    # copied: counts, the ledger's pairs, silences, members' rows; written under the lock: windows
    assert {("members", ""), ("ledger", "points"), ("absence", "community/wake_silent")} <= copied
    assert {r.section for r in now} >= {"window"} and not copied & {(r.section, r.name) for r in now}
    from policyengine import engine as engine_module
    name_them = engine_module.written

    def events_meanwhile(rows):
        for event in events[3000:]:
            engine.process(event)
        return name_them(rows)
    engine_module.written = events_meanwhile
    try:
        engine.checkpoint()
    finally:
        engine_module.written = name_them
    assert named_timers(list(store.timers), Names(engine.compiled)) != at_checkpoint   # they moved on
    moved = {(r.section, r.name): codec.dumps(r.value) for r in written(capture(store, engine.compiled, to_write=True))}
    assert all(moved.get(k) != bodies[k] for k in [("members", ""), ("ledger", "points")])
    db = sqlite3.connect(path)
    assert dict(((section, name), body) for section, name, body in db.execute("SELECT section, name, body FROM state")) == bodies
    db.close()
    engine.close(save=False)
    rows = {(r.section, r.name): r.value for r in store_module.SqliteStore(str(path)).load()}
    assert [tuple(t) for t in rows[("timers", "")]] == [tuple(t) for t in at_checkpoint]


def test_a_state_file_another_run_holds_is_refused_and_left_as_it_was(tmp_path):
    # Two runs on one state file (two cron jobs that overlap) each loaded the other's checkpoints
    # midway, and the last to commit overwrote the other's work. A run holds the file alone: here
    # the test holds it as a run would (flock), and a second run is refused before it reads or
    # writes anything; `state show` still reads it; once let go of, a run goes on from it.
    import fcntl
    path, log = _checkpointed(tmp_path)
    later = tmp_path / "later.jsonl"
    _write_log(later, EVENTS[10:40])
    before = path.read_bytes()
    held = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        r = run_cli("eval", *POLICIES, "--state", str(path), str(later))
        assert r.returncode == 3 and r.stdout == b""
        assert f"error[E0201]: {path}: in use by another run of policyengine eval" in r.stderr.decode()
        assert path.read_bytes() == before
        assert run_cli("state", "stats", "--state", str(path)).returncode == 0
    finally:
        os.close(held)
    r = run_cli("eval", *POLICIES, "--state", str(path), str(later))
    assert r.returncode == 0 and r.stdout


FIFTH = 'rule fifth { on message when count(message by user) == 5 do promote("regular") }'


def _messages(engine, start, n, user="u"):
    return [d.action for i in range(n) for d in engine.process({"type": "message", "ts": start + i, "user": user,
                                                                 "text": "x"})]


def test_an_engine_holds_its_state_file_until_close_and_the_next_one_goes_on_from_it(tmp_path):
    # Two bots on one file (a new instance started before the old one stopped) each overwrote the
    # other's checkpoints. The second is refused at load, before it reads or writes; once the first
    # closes, the next goes on from its last checkpoint: u's fifth message is promoted.
    from policyengine import Engine, StateFileError
    path = str(tmp_path / "bot.db")
    first = Engine.from_text(FIFTH, state=path)
    assert _messages(first, 0, 3) == []
    first.checkpoint()
    before = open(path, "rb").read()
    with pytest.raises(StateFileError, match="in use by another run of policyengine eval or another Engine"):
        Engine.from_text(FIFTH, state=path)
    assert open(path, "rb").read() == before
    first.close(save=False)
    first.close()                                           # again: nothing, not even a save
    assert _messages(first, 3, 1) == []                     # evaluation goes on in memory (u's fourth)
    with pytest.raises(RuntimeError, match="closed"):
        first.checkpoint()
    with Engine.from_text(FIFTH, state=path) as second:    # the file as the first's checkpoint left it
        assert _messages(second, 10, 1) == []               # u's fourth, saved as `with` closes
    with Engine.from_text(FIFTH, state=path) as third:
        assert _messages(third, 20, 2) == ["promote"]       # u's fifth


def test_a_run_and_an_engine_cannot_share_a_state_file_and_readers_still_read_it(tmp_path):
    from policyengine import Engine
    path = tmp_path / "bot.db"
    log = tmp_path / "log.jsonl"
    _write_log(log, EVENTS[:50])
    engine = Engine.from_text(FIFTH, state=str(path))
    _messages(engine, 0, 3)
    engine.checkpoint()
    before = path.read_bytes()
    r = run_cli("eval", *POLICIES, "--state", str(path), str(log))
    assert r.returncode == 3 and r.stdout == b""
    assert f"error[E0201]: {path}: in use by another run of policyengine eval or another Engine" in r.stderr.decode()
    assert path.read_bytes() == before
    stats = run_cli("state", "stats", "--state", str(path))
    assert stats.returncode == 0 and b"events seen 3;" in stats.stdout          # the checkpoint of three messages
    engine.close()
    # and the other way round: a run holding the file refuses an engine (the run's lock taken by
    # hand here, as the run takes it)
    from policyengine import StateFileError
    from policyengine.state.sqlite import SqliteStore
    run = SqliteStore(str(path), alone=True)
    try:
        with pytest.raises(StateFileError, match="in use"):
            Engine.from_text(FIFTH, state=str(path))
    finally:
        run.close()
    Engine.from_text(FIFTH, state=str(path)).close()


def test_an_engine_dropped_without_close_lets_go_of_its_file(tmp_path):
    import gc

    from policyengine import Engine
    path = str(tmp_path / "bot.db")
    engine = Engine.from_text(FIFTH, state=path)
    _messages(engine, 0, 4)
    engine.checkpoint()
    del engine
    gc.collect()                                            # the engine's closures may form cycles
    again = Engine.from_text(FIFTH, state=path)
    assert _messages(again, 10, 1) == ["promote"]
    again.close()


def test_close_waits_for_a_checkpoint_being_written(tmp_path, monkeypatch):
    # A checkpoint writes after the engine's lock is let go; a close meanwhile must not close the
    # file under it: it returns once the write is committed, and the file then holds that state.
    from policyengine import Engine
    from policyengine.state.sqlite import SqliteStore
    path = str(tmp_path / "bot.db")
    engine = Engine.from_text(FIFTH, state=path)
    _messages(engine, 0, 4)
    writing, disk, write = _writes_held(monkeypatch)
    failed, closed = [], threading.Event()

    def checkpoint():
        try:
            engine.checkpoint()
        except Exception as err:          # the test's thread reports it
            failed.append(err)

    def close():
        engine.close()
        closed.set()
    saver, closer = threading.Thread(target=checkpoint), threading.Thread(target=close)
    saver.start()
    assert writing.wait(10)
    closer.start()
    assert not closed.wait(0.3)                             # still writing: close waits
    disk.set()
    saver.join(10)
    closer.join(10)
    assert closed.is_set() and failed == []
    monkeypatch.setattr(SqliteStore, "write", write)
    with Engine.from_text(FIFTH, state=path) as restarted:
        assert _messages(restarted, 10, 1) == ["promote"]   # the four messages were written


def test_an_asyncio_bots_checkpoint_lets_the_loop_serve_events_while_it_is_written(tmp_path, monkeypatch):
    # Engine.acheckpoint takes the state on the loop's thread and writes it on a worker thread: an
    # event that comes while the write waits on the disk is evaluated then, on the loop, and what
    # is written is the state taken before it (here u's one message, so the next is its second).
    import asyncio

    from policyengine import Engine
    from policyengine.state.sqlite import SqliteStore
    text = 'rule r { on message when count(message by user) == 2 do flag("x") }'
    engine = Engine.from_text(text, state=str(tmp_path / "s.db"))
    engine.process({"type": "message", "ts": 1, "user": "u", "text": "x"})
    writing, disk, write = _writes_held(monkeypatch)

    async def bot():
        saving = asyncio.create_task(engine.acheckpoint())
        assert await asyncio.to_thread(writing.wait, 10)
        decided = await engine.aprocess({"type": "message", "ts": 2, "user": "u", "text": "x"})
        still_writing = not saving.done()
        disk.set()
        await saving
        return decided, still_writing
    decided, still_writing = asyncio.run(bot())
    assert [d.action for d in decided] == ["flag"] and still_writing
    engine.close(save=False)
    monkeypatch.setattr(SqliteStore, "write", write)
    with Engine.from_text(text, state=str(tmp_path / "s.db")) as restarted:
        assert [d.action for d in restarted.process({"type": "message", "ts": 3, "user": "u", "text": "x"})] == ["flag"]


def test_close_saves_the_state_unless_told_not_to_and_lets_go_even_when_the_save_fails(tmp_path, monkeypatch):
    # A bot that stops calls close(): its last checkpoint, then the file let go of. `async with`
    # does the same off the loop (aclose). A save that fails (a full disk) still lets the file go,
    # and its error is raised.
    import asyncio
    import sqlite3

    from policyengine import Engine
    from policyengine.state.sqlite import SqliteStore
    path = str(tmp_path / "bot.db")
    with Engine.from_text(FIFTH, state=path) as engine:
        _messages(engine, 0, 2)                             # never checkpointed: saved by close

    async def bot():
        async with Engine.from_text(FIFTH, state=path) as engine:
            return _messages(engine, 10, 2)                 # u's third and fourth, saved by aclose
    assert asyncio.run(bot()) == []
    unsaved = Engine.from_text(FIFTH, state=path)
    _messages(unsaved, 20, 3)
    unsaved.close(save=False)
    failing = Engine.from_text(FIFTH, state=path)
    assert _messages(failing, 30, 1) == ["promote"]         # u's fifth: four were saved, not the three after
    write = SqliteStore.write

    def full(self, snapshot, meta):
        raise sqlite3.OperationalError("database or disk is full")
    monkeypatch.setattr(SqliteStore, "write", full)
    with pytest.raises(sqlite3.OperationalError, match="disk is full"):
        failing.close()
    monkeypatch.setattr(SqliteStore, "write", write)
    with Engine.from_text(FIFTH, state=path) as after:      # let go of; it holds the four
        assert _messages(after, 40, 1) == ["promote"]
