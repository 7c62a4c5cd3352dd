"""Properties of moderation over time that are not single cases: hostile text stays linear, state
stays bounded by what is live, big word lists match, the end of a log and --until."""
import time

from conftest import run_cli
from policyengine.engine import Engine
from policyengine.runtime import store as store_module
from policyengine.runtime.store import SWEEP_MIN
from policyengine.runtime.matchers import SafeRegex


def test_catastrophic_pattern_stays_linear_on_a_10kb_message():
    # (a+)+$ backtracks exponentially in Python's re: 22 characters already take ~0.4 s there.
    engine = Engine.from_text('rule r { on message where text matches /(a+)+$/ do delete }')
    hostile = "a" * 10_000 + "!"
    started = time.perf_counter()
    decisions = engine.process({"type": "message", "ts": 0, "user": "u", "id": "m", "text": hostile})
    elapsed = time.perf_counter() - started
    assert decisions == []                    # no match: the text does not end in a's
    assert elapsed < 1.0                      # generous bound: linear time is milliseconds here
    assert SafeRegex("(a+)+$").search("a" * 100_000) is True


def test_window_state_is_bounded_by_live_keys_not_by_events():
    engine = Engine.from_text('rule r { on message when count(message by user within 1m) >= 1000 do flag("x") }')
    store = engine.evaluator.store
    sizes = []
    for i in range(200_000):                  # one event a second over five members
        engine.process({"type": "message", "ts": i, "user": f"u{i % 5}", "id": f"m{i}", "text": "x"})
        if i % 50_000 == 49_999:
            sizes.append(sum(len(d) for t in store.windows.values() for d in t.values()))
    # A 1-minute window at one event a second holds at most 60 entries, whatever the log length.
    assert max(sizes) <= 60 and len(sizes) == 4


def test_expired_keys_are_swept_away():
    engine = Engine.from_text('rule r { on message when count(message by user within 1m) >= 1000 do flag("x") }'
                              '\nrule c { on message do warn("x") cooldown 1m per user }')
    store = engine.evaluator.store
    for i in range(SWEEP_MIN):                # every member speaks once: keys pile up until the first sweep
        engine.process({"type": "message", "ts": i * 10, "user": f"u{i}", "id": f"m{i}", "text": "x"})
    # Right after the sweep only the last minute is live: events 10 s apart, so 6 members.
    assert sum(len(t) for t in store.windows.values()) == 6
    assert sum(len(t) for t in store.cooldowns.values()) == 6


def test_sweeps_come_about_as_often_as_the_state_has_entries(monkeypatch):
    # A sweep sets the next one as many events on as there are live entries, within [SWEEP_MIN,
    # SWEEP_MAX] (here 10 and 100), so it costs O(1) an event. 600 members speak once each, a second
    # apart, all inside a 1-hour window: every entry stays live. Sweeps by hand: at 10 events (10
    # live, next at 20), 20 (→ 40), 40 (→ 80), 80 (→ 160), 160 (160 live, capped: → 260), 260, 360,
    # 460, 560 (→ 660).
    monkeypatch.setattr(store_module, "SWEEP_MIN", 10)
    monkeypatch.setattr(store_module, "SWEEP_MAX", 100)
    engine = Engine.from_text('rule r { on message when count(message by user within 1h) >= 1000 do flag("x") }')
    store = engine.evaluator.store
    store.next_sweep = 10
    for i in range(600):
        engine.process({"type": "message", "ts": i, "user": f"u{i}", "id": f"m{i}", "text": "x"})
    assert store.next_sweep == 660
    assert sum(len(t) for t in store.windows.values()) == 600


def test_a_ten_thousand_word_list_matches_in_chinese_and_english():
    words = [f"违禁词{i}" for i in range(5000)] + [f"badword{i}" for i in range(5000)]
    text = "words BAD = [" + ", ".join(f'"{w}"' for w in words) + ']\nrule r { on message where text contains any BAD do delete }'
    engine = Engine.from_text(text)
    hits = [engine.process({"type": "message", "ts": 1, "user": "u", "id": f"m{i}", "text": t})
            for i, t in enumerate(["这里有违禁词4321啊", "say BADWORD9999 now", "clean text", "违禁词"])]
    assert [len(h) for h in hits] == [1, 1, 0, 0]


def test_pending_timers_fire_only_up_to_until(tmp_path):
    log = tmp_path / "log.jsonl"
    log.write_text('{"type":"message","ts":"2026-11-01T00:00:00Z","user":"a","id":"m1","text":"hi"}\n'
                   '{"type":"message","ts":"2026-11-01T12:00:00Z","user":"b","id":"m2","text":"hi"}\n')
    policy = "policies/examples/silent.policy"
    r = run_cli("eval", "--quiet", "--policy", policy, str(log))
    assert r.returncode == 0 and r.stdout == b""          # the log ends before any silence is 3 days long
    r = run_cli("eval", "--quiet", "--policy", policy, "--until", "2026-11-04T06:00:00Z", str(log))
    assert [line.count(b'"user":"a"') for line in r.stdout.splitlines()] == [1]
    assert b'"ts":"2026-11-04T00:00:00Z"' in r.stdout
    r = run_cli("eval", "--quiet", "--policy", policy, "--until", "tomorrow", str(log))
    assert r.returncode == 3 and b"--until" in r.stderr


def test_a_period_that_would_close_after_the_year_9999_is_not_scheduled():
    # Found by the record differential test: a `ts` of 9999-12-31 made the monthly close
    # compute the 1st of the month of year 10000 and stop the run with an internal error.
    from policyengine.engine import Engine
    engine = Engine.from_text(
        'policy p\nevery month tz "Asia/Shanghai" {\n  top 1 by count(message) => award_badge("top")\n}\n')
    first = engine.process({"type": "message", "user": "a", "ts": "2026-11-02T00:00:00Z"})
    last = engine.process({"type": "message", "user": "b", "ts": "9999-12-31T15:00:00Z"})
    # Shanghai is UTC+8, so 15:00Z is already 9999-12-31 23:00 local: November 2026 closed with
    # `a` on top (b's message is in the last month); the month after it would begin in year 10000.
    assert first == []
    assert [(d.action, d.user, d.badge) for d in last] == [("award_badge", "a", "top")]
    assert engine.process({"type": "message", "user": "b", "ts": "9999-12-31T15:59:59Z"}) == []
