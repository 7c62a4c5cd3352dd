"""The record fast path of `eval` (events/records.py) against the general dict path it must equal."""
import io

import msgspec
import orjson
import pytest

from benchmarks.loggen import generate
from policyengine.compiler import compile_program
from policyengine.events.decode import EventDecoder
from policyengine.events.records import RECORD_ERRORS, record_decoder, record_fields
from policyengine.loader import load_paths, load_text
from policyengine.logs import OpenLog
from policyengine.replay import ReplayStats, StrictStop, replay
from policyengine.runtime.evaluator import Evaluator
from tests.conftest import ROOT

# Lines a record must refuse or read exactly as the general decoder does. Each comment says
# what the general decoder makes of it.
HOSTILE = [
    b'{"type":"message","ts":"2026-11-02T00:00:01Z","user":"h1","id":"x1","text":"\xff\xfe"}',  # invalid UTF-8: bad line
    b'{"type":"message","ts":"2026-11-02T00:00:01Z","user":"h1","id":"x2","zz":"\xff"}',        # … even in an unread field
    b'{"type":"message","ts":"2026-11-02T00:00:02","user":"h1","text":"no zone"}',              # naive time: bad line
    b'{"type":"message","ts":1793577603,"user":"h1","id":"x3","text":"\xe5\x8a\xa0\xe5\xbe\xae\xe4\xbf\xa1"}',  # epoch seconds: an ad
    b'{"type":"message","ts":1793577603.25,"user":"h1","id":"x4","text":"promo.example/x"}',   # float seconds: an ad
    b'{"type":"message","ts":true,"user":"h1","text":"x"}',                                      # bool time: bad line
    b'{"type":"message","ts":"2026-11-02T00:00:04Z","user":"","text":"x"}',                    # empty user: bad line
    b'{"type":"","ts":"2026-11-02T00:00:04Z","user":"h1"}',                                      # empty type: bad line
    b'{"type":"message","ts":"2026-11-02T00:00:04Z","user":"h1","text":7}',                    # text a number: bad line
    b'{"type":"reaction","ts":"2026-11-02T00:00:04Z","user":"h1","text":7}',                   # … on a type no rule reads text of: fine
    b'{"type":"message","ts":"2026-11-02T00:00:05Z","user":"h1","id":5}',                      # id a number: bad line
    b'{"type":"message","ts":"2026-11-02T00:00:05Z","user":"h2","user":"h3","text":"\xe5\x8a\xa0\xe5\xbe\xae\xe4\xbf\xa1"}',  # last key wins
    b'{"type":"join","ts":"2026-11-02T00:00:06Z","user":"h4","invited_by":{"nested":[1,2]}}',  # an inviter that is not text
    b'{"type":"join","ts":"2026-11-02T00:00:06Z","user":"h5","invited_by":"h1","big":123456789012345678901234567890}',
    b'{"type":"message","ts":"2026-11-02T00:00:07+08:00","user":"h1","text":"\xe5\x8a\xa0\xe5\xbe\xae\xe4\xbf\xa1"}',  # late, offset
    b'   ',
    b'{"type":"message","ts":"2026-11-02T00:00:08Z","user":"h1"',                               # cut short
    b'[1,2,3]',
    b'{"type":"message","ts":"2026-11-02T00:00:09Z","user":"h1","text":"\\ud800"}',            # lone surrogate
    b'{"type":"message","ts":"2026-11-02T00:00:09Z","user":"h1","text":"promo.example/a"}\r',  # CRLF
    b'{"type":"message","ts":"2026-11-02T00:00:09Z","user":"h1","text":null,"channel":5}',
    b'{"type":"message","ts":"9999-12-31T23:59:59Z","user":"h1","text":"far future"}',
    b'{"type":"message","ts":"2026-11-02T00:00:10Z","user":"h1","text":"x","big":1e999}',   # past a double: bad line
    b'{"type":"message","ts":"2026-11-02T00:00:10Z","user":"h1","text":"y","big":-' + b"9" * 400 + b'}',  # … so is this
    b'{"type":"message","ts":"2026-11-02T00:00:10Z","user":"h1","text":"z","ok":1E300}',    # a double: fine
]
# A number field past 64 bits: orjson (the general decoder) reads a float, so must the record path.
BIG = [b'{"type":"m","user":"u","ts":1,"n":18446744073709551616}', b'{"type":"m","user":"u","ts":1,"n":-9223372036854775809}',
       b'{"type":"m","user":"u","ts":1,"n":9223372036854775808}']


def _log_bytes(events: int, seed: int) -> bytes:
    lines = [orjson.dumps(e) for e in generate(events, seed=seed)]
    step = len(lines) // (len(HOSTILE) + 1)
    for i, bad in enumerate(HOSTILE):
        lines.insert((i + 1) * step + i, bad)
    return b"\n".join(lines) + b"\n"


def _run(policy: str, data: bytes, records: bool):
    compiled = compile_program(load_paths([str(ROOT / policy)]).program)
    evaluator = Evaluator(compiled)
    taken = []        # events the record loop (compiler/loop.py) took, a stretch at a time
    if records:
        plain = evaluator.record_loop

        def counted(lines, *args):
            stretch = plain(lines, *args)
            taken.append(stretch[0])
            return stretch
        evaluator.record_loop = counted
    out, reports, stats = [], [], ReplayStats()
    log = OpenLog("log.jsonl", io.BytesIO(data), len(data), None)
    replay(log, evaluator, EventDecoder(compiled.plan.field_types), out.append, reports.append, stats,
           records=records)
    return out, reports, stats, taken


# Bad lines among HOSTILE, counted by hand: invalid UTF-8 (2), no zone, bool time, empty user,
# empty type, numeric text on a message, numeric id, cut short, not an object, lone surrogate,
# numbers past a double (2) — and for the community pack, which reads `channel` on messages,
# `"channel":5`.
@pytest.mark.parametrize("policy,bad", [("policies/examples", 13), ("policies/community", 14)])
def test_records_give_the_dict_paths_decisions_errors_and_counts(policy, bad):
    data = _log_bytes(12_000, seed=11)
    fast, fast_reports, fast_stats, taken = _run(policy, data, records=True)
    slow, slow_reports, slow_stats, _ = _run(policy, data, records=False)
    assert fast == slow
    assert fast_reports == slow_reports
    assert (fast_stats.events, fast_stats.bad_lines, fast_stats.late_events, fast_stats.decisions) == \
        (slow_stats.events, slow_stats.bad_lines, slow_stats.late_events, slow_stats.decisions)
    # The comparison means something only if both paths ran: the 12 000 generated lines as
    # records, the hostile ones through the general decoder (the one blank line is no event).
    assert fast_stats.bad_lines == bad
    assert fast_stats.events == 12_000 + len(HOSTILE) - bad - 1
    assert 12_000 <= sum(taken) < fast_stats.events
    # Everything after the year-9999 line is late and evaluated then, in Asia/Shanghai too.
    assert fast_stats.runtime_errors == 0
    assert len(slow) > 100


def test_record_layout_holds_the_contract_then_what_policies_read():
    fields = record_fields({"text": "text", "meta": "raw", "type": "text"})
    assert [(f.name, f.attr, f.kind) for f in fields] == [
        ("type", "type", "name"), ("user", "user", "name"), ("ts", "ts", "time"), ("id", "id", "id"),
        ("meta", "f4", "raw"), ("text", "f5", "text")]


def test_record_reads_like_the_event_dict():
    decode = record_decoder(record_fields({"text": "text", "meta": "raw", "n": "number"}))
    line = b'{"type":"m","user":"u","ts":"t","meta":{"big":123456789012345678901234567890},"n":2,"extra":1}'
    record = decode(line)
    assert record.get("meta") == orjson.loads(line)["meta"]       # raw values are orjson's (a float here)
    assert record.get("n") == 2 and record["user"] == "u" and record.get("text") is None
    with pytest.raises(KeyError):
        record.get("extra")              # not held: asking for it is a bug, never a silent None
    for refused in (*BIG, b'{"type":"m","user":"u","ts":"t","n":true}', b'{"type":"m","ts":"t"}',
                    b'{"type":"m","user":"u","ts":"t","text":["x"]}', b'{"type":"m","user":"u","ts":null}'):
        with pytest.raises(RECORD_ERRORS):
            decode(refused)
    assert issubclass(msgspec.ValidationError, RECORD_ERRORS)
    edge = decode(b'{"type":"m","user":"u","ts":1,"n":9223372036854775807}')
    assert edge.get("n").__class__ is int and edge.get("n") == 9223372036854775807


def test_a_field_typed_two_ways_keeps_the_program_on_dicts(tmp_path):
    # `text` is a string on messages and a number on `score` events: one record type cannot check
    # it both ways, so the program has no record handlers and `eval` decodes dicts — same answers.
    policy = ('policy p\nevent score { text: number }\n'
              'rule long { on message where len(text) > 3 do flag("long") }\n'
              'rule high { on score where text > 5 do flag("high") }\n')
    compiled = compile_program(load_text([("p.policy", policy)]).program)
    assert compiled.record is None and Evaluator(compiled).record_handlers is None
    data = (b'{"type":"message","ts":1,"user":"a","id":"m1","text":"hello"}\n'
            b'{"type":"score","ts":2,"user":"a","id":"s1","text":9}\n'
            b'{"type":"score","ts":3,"user":"a","id":"s2","text":"nine"}\n')
    out, reports, stats = [], [], ReplayStats()
    replay(OpenLog("log.jsonl", io.BytesIO(data), len(data), None), Evaluator(compiled),
           EventDecoder(compiled.plan.field_types), out.append, reports.append, stats)
    assert [(d["event_id"], d["rule"]) for d in out] == [("m1", "long"), ("s1", "high")]
    assert stats.bad_lines == 1 and "log.jsonl:3: error[E0101]" in reports[0]


@pytest.mark.parametrize("policy,bad", [("policies/examples", 13), ("policies/community", 14)])
@pytest.mark.parametrize("strict", [False, True])
def test_the_record_loop_equals_the_line_by_line_loop(policy, bad, strict):
    """replay runs records through the program's own loop (compiler/loop.py: the evaluator's
    bookkeeping and the handlers in one function); without it, each record goes through
    Evaluator.process_record and the record handlers, which must give the same. The community
    pack has `stop` rules, periods, roles and member tracking."""
    data = _log_bytes(6_000, seed=5)
    compiled = compile_program(load_paths([str(ROOT / policy)]).program)

    def run(with_loop):
        out, reports, stats = [], [], ReplayStats()
        log = OpenLog("log.jsonl", io.BytesIO(data), len(data), None)
        evaluator = Evaluator(compiled)
        if not with_loop:
            evaluator.record_loop = None
        try:
            replay(log, evaluator, EventDecoder(compiled.plan.field_types), out.append, reports.append,
                   stats, strict=strict)
        except StrictStop:
            pass
        store = evaluator.store              # the loop writes member tracking out: the same members
        # and the same state where the event count is kept (a leaderboard's ties, silences' timers)
        return out, reports, (stats.events, stats.bad_lines, stats.late_events, stats.decisions), \
            (store.members, store.joined, store.inviters, store.events_seen), \
            repr((store.boards, store.absence, store.timers))

    looped, by_line = run(True), run(False)
    assert looped == by_line
    if strict:
        # The first hostile line (invalid UTF-8) sits after 6000 // 26 = 230 generated lines.
        assert looped[2][:2] == (230, 1)
    else:
        assert looped[2][1] == bad
        assert len(looped[0]) > 100


def test_skipping_committed_lines_mid_chunk_evaluates_exactly_the_rest():
    """A resumed run skips the lines an earlier run committed, wherever they end in a chunk: the
    rest gives what a log of only those lines gives, at line numbers shifted by the skip."""
    lines = _log_bytes(3_000, seed=3).split(b"\n")
    skip = 1_234                                  # inside the first 256 kB chunk
    compiled = compile_program(load_paths([str(ROOT / "policies/examples")]).program)

    def run(data: bytes, skip: int):
        out, reports, stats = [], [], ReplayStats()
        replay(OpenLog("log.jsonl", io.BytesIO(data), len(data), None), Evaluator(compiled),
               EventDecoder(compiled.plan.field_types), out.append, reports.append, stats, skip=skip)
        return out, reports, stats

    resumed = run(b"\n".join(lines), skip)
    alone = run(b"\n".join(lines[skip:]), 0)
    assert resumed[0] == alone[0] and len(alone[0]) > 10
    shifted = [r.replace("log.jsonl:", "", 1).split(":", 1) for r in alone[1]]
    assert resumed[1] == [f"log.jsonl:{int(n) + skip}:{rest}" for n, rest in shifted]
    assert resumed[2].events == alone[2].events > 1_000


def test_a_rule_that_fails_in_the_record_loop_is_reported_at_its_line():
    """A failing rule that decides nothing still ends the loop's stretch, so its report names its
    own line; the issues end up on the evaluator as before. Lines 1 and 3 fail (`meta + 1` of an
    object); line 2 fires (5 + 1 > 2); line 4 does not (1 + 1)."""
    compiled = compile_program(load_text([("p.policy", 'rule fragile { on message where event.meta + 1 > 2 '
                                                       'do flag("x") }\n')]).program)
    metas = ['{"a":1}', "5", '{"b":2}', "1"]
    data = b"".join(b'{"type":"message","ts":"2026-11-02T00:00:0%dZ","user":"u","id":"m%d","meta":%s}\n'
                    % (i, i + 1, m.encode()) for i, m in enumerate(metas))

    def run(with_loop):
        out, reports, stats = [], [], ReplayStats()
        evaluator = Evaluator(compiled)
        if not with_loop:
            evaluator.record_loop = None
        replay(OpenLog("log.jsonl", io.BytesIO(data), len(data), None), evaluator,
               EventDecoder(compiled.plan.field_types), out.append, reports.append, stats)
        return [d["event_id"] for d in out], [r.split(": error[")[0] for r in reports], \
            stats.runtime_errors, [i.event_id for i in evaluator.issues]

    assert run(True) == run(False) == (["m2"], ["log.jsonl:1", "log.jsonl:3"], 2, ["m1", "m3"])


def test_the_record_loop_sweeps_expired_window_entries(monkeypatch):
    """Expired state is swept when a stretch of the loop reaches the store's next sweep (here
    after 100 events). 1 000 messages of 50 members, one every 10 s from t = 5 s: each member's
    1-minute window keeps at most its latest message on its own; the sweep at the end (latest time
    9 995 s) leaves the entries after 9 935 s: 9 945, 9 955, …, 9 995, six of them."""
    compiled = compile_program(load_text([("w.policy", 'rule r { on message when count(message by user '
                                                       'within 1m) > 5 do flag("x") }\n')]).program)
    def at(seconds: int) -> str:
        return f"1970-01-01T{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}Z"
    data = b"".join(orjson.dumps({"type": "message", "ts": at(5 + 10 * i), "user": f"u{i % 50}", "id": f"m{i}",
                                  "text": "hi"}) + b"\n" for i in range(1000))
    evaluator = Evaluator(compiled)
    evaluator.store.next_sweep = 100
    calls = []
    plain = evaluator.record_loop
    evaluator.record_loop = lambda *args: calls.append(1) or plain(*args)
    replay(OpenLog("log.jsonl", io.BytesIO(data), len(data), None), evaluator,
           EventDecoder(compiled.plan.field_types), lambda d: None, lambda m: None, ReplayStats())
    assert calls
    [table] = evaluator.store.windows.values()
    assert sorted(t // 1_000_000 for entries in table.values() for t in entries) == [9945, 9955, 9965, 9975, 9985, 9995]


def test_members_names_read_right_whether_few_or_many_and_the_few_come_kept():
    # A member's name is kept as the str it came as (events/_records.c: kept_name); over many
    # members almost none is found kept, and a name not kept then takes its slot rarely. The names
    # must read right throughout, and once the members are few again they come kept again.
    decode = record_decoder(record_fields({}))
    line = b'{"type":"message","user":"%s","ts":1}'
    many = [f"m{n}" for n in range(40_000)]
    assert [decode(line % name.encode()).user for name in many] == many
    few = [f"f{n}" for n in range(10)]
    for _ in range(2_000):
        assert [decode(line % name.encode()).user for name in few] == few
    again = [decode(line % name.encode()).user for name in few]
    assert all(a is b for a, b in zip(again, [decode(line % name.encode()).user for name in few]))


@pytest.mark.parametrize("policy", ["policies/examples", "policies/community"])
def test_the_report_observes_on_the_record_path_what_it_observes_on_dicts(policy):
    # `eval --report` now keeps the record loop; the report's counts are held to the dict path's,
    # over hostile lines (bad ones, times Python reads, late events, timers due).
    from policyengine.report.collect import ReportData
    data = _log_bytes(12_000, seed=11)
    seen = {}
    for records in (True, False):
        compiled = compile_program(load_paths([str(ROOT / policy)]).program)
        evaluator, report_data, observed, taken = Evaluator(compiled), ReportData(), [], []
        loop = evaluator.record_loop

        def counted(lines, *args, loop=loop, taken=taken):
            stretch = loop(lines, *args)
            taken.append(stretch[0])
            return stretch
        evaluator.record_loop = counted

        class Observer:         # the report's, and what it was told: an event as orjson reads it
            def observe_event(self, event, ts, report_data=report_data, observed=observed):
                observed.append((orjson.dumps(event), ts))
                report_data.observe_event(event, ts)

            def observe_line(self, line, ts, report_data=report_data, observed=observed):
                observed.append((orjson.dumps(orjson.loads(line)), ts))
                report_data.observe_line(line, ts)

        def emit(d, report_data=report_data):
            report_data.observe_decision(d)
        stats = ReplayStats()
        log = OpenLog("log.jsonl", io.BytesIO(data), len(data), None)
        replay(log, evaluator, EventDecoder(compiled.plan.field_types), emit, lambda message: None, stats,
               observer=Observer(), records=records)
        assert (sum(taken) > 10_000) == records         # the record loop ran, or did not
        seen[records] = (observed, stats.events, report_data.events, report_data.messages,
                         report_data.active, report_data.joins, report_data.decisions, report_data.by_member,
                         report_data.by_channel, report_data.totals)
    assert seen[True] == seen[False]
    observed, events = seen[True][0], seen[True][1]
    assert len(observed) == events > 11_000 and len({line for line, _ in observed}) == len(observed)


@pytest.mark.parametrize("policy", ["policies/examples", "policies/community"])
def test_the_reports_own_observer_counts_on_the_record_path_what_it_counts_on_dicts(policy):
    # ReportData as `eval --report` hands it to replay: on the record path its C decoder wrapper
    # (`observing`, report/_observe.c) observes, not replay.observed_timed's Python one.
    from policyengine.report.collect import ReportData
    data = _log_bytes(12_000, seed=12)
    seen = {}
    for records in (True, False):
        compiled = compile_program(load_paths([str(ROOT / policy)]).program)
        report_data, stats = ReportData(), ReplayStats()
        assert report_data.observing is not None
        log = OpenLog("log.jsonl", io.BytesIO(data), len(data), None)
        replay(log, Evaluator(compiled), EventDecoder(compiled.plan.field_types), report_data.observe_decision,
               lambda message: None, stats, observer=report_data, records=records)
        seen[records] = (stats.events, stats.late_events, report_data.events, report_data.messages, report_data.active,
                         report_data.joins, report_data.decisions, report_data.by_member, report_data.by_channel)
    assert seen[True] == seen[False]
    assert seen[True][0] == seen[True][2] > 11_000 and seen[True][1] > 0     # every event observed, late ones too
