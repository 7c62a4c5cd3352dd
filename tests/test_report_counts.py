"""The report's counts of events: the C form (report/_observe.c) held to the definition
(report/counts.py: PythonEventCounts), and the decisions' counts held to one worked out by hand
from each decision as a dict."""
from __future__ import annotations

import io
import json
from collections import Counter, defaultdict

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.loggen import generate
from policyengine.compiler import compile_program
from policyengine.events.decode import EventDecoder
from policyengine.events.timestamps import parse_ts
from policyengine.loader import load_paths
from policyengine.logs import OpenLog
from policyengine.report._observe import EventCounts
from policyengine.report.collect import ReportData
from policyengine.replay import ReplayStats, replay
from policyengine.report.counts import CHANNELS_KEPT, HOUR_US, PythonEventCounts
from policyengine.runtime.evaluator import Evaluator
from tests.conftest import ROOT


def _counts(c) -> tuple:
    return c.events, dict(c.messages), dict(c.joins), {hour: set(members) for hour, members in c.active.items()}


def _outcome(call):
    """What a call gave: its value, or the type of what it raised."""
    try:
        return call()
    except Exception as err:            # noqa: BLE001 - the two forms must fail alike
        return type(err)


# Lines built from parts that are each sometimes what the scan reads and sometimes not: escapes in
# keys and values, one of the four fields twice, values of every JSON kind, nesting, whitespace.
_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=8)
_scalar = st.one_of(st.none(), st.booleans(), st.integers(-(1 << 70), 1 << 70),
                    st.floats(allow_nan=False, allow_infinity=False), _text)
_json = st.recursive(_scalar, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                      st.dictionaries(_text, inner, max_size=3)), max_leaves=6)
_names = st.text(alphabet="abu1张\"\\/\n", min_size=0, max_size=5)
_right = {"type": st.sampled_from(["message", "join", "reaction", "messag", "Message"]), "user": _names,
          "channel": st.one_of(_names, st.sampled_from(["general", "闲聊"])), "id": _names,
          "ts": st.just("2026-11-02T00:00:25.301Z"), "text": _text, "meta": _json}
_keys = sorted(_right) + ["typ", "ids", "channels", "usEr"]


@st.composite
def report_lines(draw) -> bytes:
    keys = draw(st.lists(st.sampled_from(_keys), max_size=7))     # a key may come twice
    parts = []
    for key in keys:
        value = draw(_right[key] if key in _right and draw(st.integers(0, 4)) else _json)
        value = json.dumps(value, ensure_ascii=draw(st.booleans())).encode()
        name = json.dumps(key, ensure_ascii=False).encode()
        if draw(st.integers(0, 9)) == 0:        # the key spelled with an escape
            name = b'"\\u00' + b"%02x" % ord(key[0]) + key[1:].encode() + b'"'
        space = draw(st.sampled_from([b"", b" ", b"\t", b"\r\n "]))
        parts.append(space + name + space + b":" + space + value + space)
    return draw(st.sampled_from([b"", b" "])) + b"{" + b",".join(parts) + b"}" + draw(st.sampled_from([b"", b" \r"]))


_hours = st.integers(-3, 3).map(lambda h: h * HOUR_US) | st.integers(-(1 << 62), 1 << 62)


@settings(max_examples=2000, deadline=None)
@given(st.lists(st.tuples(report_lines(), _hours), min_size=1, max_size=8))
def test_lines_are_counted_as_the_definition_counts_orjsons_dicts(observed):
    c, python = EventCounts(), PythonEventCounts()
    for line, ts in observed:
        assert _outcome(lambda: c.observe_line(line, ts)) == _outcome(lambda: python.observe_line(line, ts))
        assert _counts(c) == _counts(python)
    for line, _ in observed:
        event = _outcome(lambda: orjson.loads(line))
        if isinstance(event, dict) and isinstance(event.get("id"), str):
            for user in (event.get("user"), None, "another"):
                assert c.channel(user, event["id"]) == python.channel(user, event["id"])
    hours = sorted({ts // HOUR_US for _, ts in observed}) + [7]                     # hour 7: maybe none posted
    for some in ([], hours[:1], hours[1:], hours[::2], None):
        assert c.active_count(some) == python.active_count(some)
        assert c.active_shared(hours[:2], some or hours) == python.active_shared(hours[:2], some or hours)


def test_the_scan_reads_the_plain_line_and_leaves_the_rest_to_orjson():
    # By hand: which member, hour and channel each line gives.
    c = EventCounts()
    c.observe_line(b'{"type":"message","ts":"x","user":"u1","id":"e1","channel":"general","text":"hi"}', 5)
    c.observe_line(b'{ "id" : "e2" , "user" : "\\u5f20", "type" : "message", "channel": "c\\"2" }', HOUR_US)
    c.observe_line(b'{"type":"join","user":"u3","id":"e3"}', -1)
    c.observe_line(b'{"type":"message","user":"u4","user":"u5","id":"e4","channel":null}', 2 * HOUR_US - 1)
    c.observe_line(b'{"type":"message","id":"e5","channel":"x","meta":{"user":"nested"}}', 0)
    assert c.events == 5
    assert dict(c.messages) == {0: 2, 1: 2}                 # 5 and 0 µs are in hour 0; 1h and 2h-1 µs in hour 1
    assert dict(c.joins) == {-1: 1}                         # -1 µs is in the hour before 0
    assert {h: set(m) for h, m in c.active.items()} == {0: {"u1", None}, 1: {"张", "u5"}}     # the last `user`
    assert [c.channel(u, e) for u, e in (("u1", "e1"), ("张", "e2"), ("u3", "e3"), ("u5", "e4"), (None, "e5"))] == \
        ["general", 'c"2', None, None, "x"]


def test_long_names_that_share_their_first_bytes_are_members_apart():
    # The C table keeps a name's length and first 16 bytes in its slot and reads the str only past
    # them: names alike up to there and after (15, 16, 17 and 40 bytes, a CJK character cut at the
    # 16th byte) are each one member, found again however often and in whatever form (line, dict)
    # they come — a name not found again would be numbered twice, and counted twice by active_count.
    names = ["x" * 15, "x" * 16, "x" * 16 + "a", "x" * 16 + "b", "x" * 15 + "张", "x" * 15 + "张a", "x" * 40,
             "x" * 39 + "y", "张" * 6, "张" * 5 + "x"]
    c, python = EventCounts(), PythonEventCounts()
    for round_ in range(3):
        for i, name in enumerate(names):
            line = orjson.dumps({"type": "message", "user": name, "id": f"e{round_}-{i}"})
            for counts in (c, python):
                counts.observe_line(line, round_ * HOUR_US)
                counts.observe({"type": "message", "user": name}, round_ * HOUR_US + 1)
    assert _counts(c) == _counts(python)
    assert c.active[0] == set(names) and c.active_count() == len(names) == 10
    assert c.active_shared([0], [2]) == 10


def test_members_counted_sixteen_lines_later_are_there_whenever_the_counts_are_read():
    # The C form sets a message's member in its hour's map some lines after the line (its slot
    # asked of memory first): the maps are whole whenever they are read, after any number of lines,
    # and a line whose member is not UTF-8 is refused (orjson's error) with nothing of it counted.
    c, python = EventCounts(), PythonEventCounts()
    for n in range(40):
        line = b'{"type":"message","user":"m%d","id":"e%d","channel":"c"}' % (n % 23, n)
        c.observe_line(line, n * HOUR_US // 7)
        python.observe_line(line, n * HOUR_US // 7)
        if n in (0, 5, 16, 17, 39):
            assert _counts(c) == _counts(python)
            assert c.active_count() == python.active_count() == min(n + 1, 23)
    for counts in (c, python):
        with pytest.raises(orjson.JSONDecodeError):
            counts.observe_line(b'{"type":"message","user":"\xff","id":"x","channel":"c"}', 0)
    assert _counts(c) == _counts(python) and c.events == 40 and c.channel("\ufffd", "x") is None


def test_a_member_that_is_not_a_string_is_refused_alike():
    line = b'{"type":"message","user":["a"],"id":"e1"}'       # a list cannot join a set of members
    c, python = EventCounts(), PythonEventCounts()
    for counts in (c, python):
        with pytest.raises(TypeError):
            counts.observe_line(line, 0)
    assert _counts(c) == _counts(python) == (1, {0: 1}, {}, {0: set()})


@pytest.mark.parametrize("make", [EventCounts, PythonEventCounts])
def test_dicts_are_counted_alike(make):
    c = make()
    c.observe({"type": "message", "user": "u1", "id": "e1", "channel": "g"}, 0)
    c.observe({"type": "join", "user": "u2", "id": 7, "channel": "g"}, HOUR_US)
    c.observe({"type": 1, "user": "u3", "id": "e3", "channel": ""}, HOUR_US)
    assert _counts(c) == (3, {0: 1}, {1: 1}, {0: {"u1"}})
    # Members as a set holds them: by equality (1 and True are one member, "1" another), a name
    # that is not UTF-8 (a lone surrogate, made in Python) among them, the same name by the line.
    for user in (1, True, "1", None, "\ud800", "u1"):
        c.observe({"type": "message", "user": user}, 2 * HOUR_US)
    c.observe_line(b'{"type":"message","user":"u1"}', 3 * HOUR_US)
    assert c.active[2] == {1, "1", None, "\ud800", "u1"}                           # hour 2
    assert (c.active_count(), c.active_count([2]), c.active_shared([0], [2, 3])) == (5, 5, 1)
    # an empty channel is the event's (the report counts no decision in it); an id never seen: None
    assert (c.channel("u1", "e1"), c.channel("u3", "e3"), c.channel("u1", "e9")) == ("g", "", None)


def test_the_channel_memo_keeps_two_generations_as_the_definition_does():
    # CHANNELS_KEPT ids a generation: after 2.5 of them the first is gone, the second half-kept.
    # Members by the thousand (the C form keeps each name once, in a table that grows), channels
    # by the dozen (it keeps the last eight made).
    c, python = EventCounts(), PythonEventCounts()
    n = CHANNELS_KEPT * 5 // 2
    for i in range(n):
        line = b'{"type":"message","user":"u%d\xe5\xbc\xa0","id":"e%d","channel":"c%d"}' % (i % 5003, i, i % 13)
        c.observe_line(line, i * 2_000_000)
        python.observe_line(line, i * 2_000_000)
    assert _counts(c) == _counts(python) and len(c.active) == 139     # 2 s apart: 500 000 s
    ids = [f"e{i}" for i in range(0, n, 997)] + ["e0", f"e{CHANNELS_KEPT}", f"e{2 * CHANNELS_KEPT - 1}", f"e{n - 1}"]

    def member(i: str) -> str:
        return f"u{int(i[1:]) % 5003}张"
    assert [c.channel(member(i), i) for i in ids] == [python.channel(member(i), i) for i in ids]
    assert [c.channel(None, i) for i in ids] == [python.channel(None, i) for i in ids]
    assert c.channel(None, "e0") is None and c.channel(None, f"e{CHANNELS_KEPT}") == f"c{CHANNELS_KEPT % 13}"
    assert c.channel(None, f"e{CHANNELS_KEPT - 1}") is None and c.channel(None, f"e{n - 1}") == f"c{(n - 1) % 13}"


def _by_hand(decisions: list[dict], channels: dict) -> tuple:
    """The decisions' counts from each as a dict, its time parsed whole: the oracle."""
    per_hour, totals, by_member, by_channel = defaultdict(Counter), Counter(), Counter(), Counter()
    for d in decisions:
        key = (f"{d['policy']}/{d['rule']}", d["action"])
        per_hour[parse_ts(d["ts"]) // HOUR_US][key] += 1
        totals[key] += 1
        if d["action"] in ReportData.MODERATION and d.get("user"):
            by_member[d["user"]] += 1
        channel = d.get("channel") or channels.get(d.get("event_id") or "")
        if channel:
            by_channel[channel] += 1
    return per_hour, totals, by_member, by_channel


def test_decisions_are_counted_by_the_hour_of_their_time_in_any_form():
    times = ["2026-11-02T00:59:59.999Z", "2026-11-02T01:00:00Z", "2026-11-02T08:30:00+08:00",
             "2026-11-02T01:30:00Z", "2026-11-01T23:59:59-01:00", "2026-11-02T00:10:00.5Z"]
    decisions = [{"ts": ts, "policy": "p", "rule": f"r{i % 2}", "action": ("warn", "award_points")[i % 2],
                  "user": f"u{i % 3}", "event_id": f"e{i % 4}"} | ({"channel": "own"} if i == 5 else {})
                 for i, ts in enumerate(times * 3)]
    data = ReportData()
    data.observe_line(b'{"type":"message","user":"u0","id":"e1","channel":"general"}', 0)
    data.observe_decisions(decisions[:7])
    for d in decisions[7:]:
        data.observe_decision(d)
    assert (data.decisions, data.totals, data.by_member, data.by_channel) == _by_hand(decisions, {"e1": "general"})
    # 00:59:59.999Z and 00:10:00.5Z in hour 0 of the day, 08:30+08:00 too; 23:59:59-01:00 is 00:59:59Z
    assert {h % 24: sum(c.values()) for h, c in data.decisions.items()} == {0: 12, 1: 6}


def test_the_packs_decision_records_are_counted_as_their_dicts():
    # As `eval --report` runs: the record loop hands stretches of decision records to the writer's
    # `many`, and the report counts the records; the oracle counts the same decisions as dicts.
    from policyengine.output.decisions import materialize
    data, decisions, kinds = ReportData(), [], set()

    def many(stretch: list) -> None:
        kinds.update(type(d).__name__ for d in stretch)
        data.observe_decisions(stretch)
        materialize(stretch)                # the same decisions, now dicts
        decisions.extend(stretch)
    many.takes_records = True

    def emit(d: dict) -> None:
        data.observe_decision(d)
        decisions.append(d)
    emit.many = many
    log_bytes = b"\n".join(orjson.dumps(e) for e in generate(6_000, seed=5)) + b"\n"
    compiled = compile_program(load_paths([str(ROOT / "policies/community")]).program)
    replay(OpenLog("log.jsonl", io.BytesIO(log_bytes), len(log_bytes), None), Evaluator(compiled),
           EventDecoder(compiled.plan.field_types), emit, lambda message: None, ReplayStats(), observer=data)
    events = [orjson.loads(line) for line in log_bytes.splitlines()]
    channels = {e["id"]: e["channel"] for e in events if isinstance(e.get("channel"), str) and isinstance(e.get("id"), str)}
    assert "Record" in kinds and len(decisions) > 2_000
    assert (data.decisions, data.totals, data.by_member, data.by_channel) == _by_hand(decisions, channels)
    assert sum(data.by_channel.values()) > len(decisions) // 2      # most decisions found their event's channel


_decision_dicts = st.fixed_dictionaries(
    {"ts": st.sampled_from(["2026-11-02T00:59:59.999Z", "2026-11-02T01:00:00Z", "2026-11-02T08:30:00+08:00",
                            "2026-11-02 01:30:00Z", "1969-12-31T23:59:59.5Z", "2026-11-02T01:00:00.000001-00:01"]),
     "policy": st.sampled_from(["p", "社群", 7]), "rule": st.sampled_from(["r", "s"]),
     "action": st.sampled_from(["warn", "ban", "award_points", "label"])},
    optional={"user": st.sampled_from([None, "", "u1", "张三"]), "event_id": st.sampled_from([None, "", "e1", "e2", 5]),
              "channel": st.sampled_from([None, "", "own"])})


@settings(max_examples=500, deadline=None)
@given(st.lists(_decision_dicts, max_size=12), st.integers(1, 5))
def test_decisions_are_counted_in_c_as_the_definition_counts_them(decisions, cut):
    # The C form (DecisionCounts, report/_observe.c) against ReportData.python_observe_decisions
    # and the oracle: times in every form, names that are not strs, members and channels empty or
    # missing, an event id "" that the memo holds.
    events = [b'{"type":"message","user":"u1","id":"e1","channel":"general"}', b'{"type":"join","id":"","channel":"lobby"}']
    c, python = ReportData(), ReportData()
    for data in (c, python):
        for line in events:
            data.observe_line(line, 0)
    c.observe_decisions(decisions[:cut])
    for d in decisions[cut:]:
        c.observe_decision(d)
    python.python_observe_decisions(decisions)
    counted = [(data.decisions, data.totals, data.by_member, data.by_channel) for data in (c, python)]
    assert counted[0] == counted[1] == _by_hand(decisions, {"e1": "general", "": "lobby"})
    assert c.observe_decisions.__self__.__class__.__name__ == "DecisionCounts"


@pytest.mark.parametrize("make", [EventCounts, PythonEventCounts])
def test_one_id_of_several_members_is_each_members_event_and_else_the_last(make):
    # Telegram's message ids count per chat: a log of two chats gives one id to two members'
    # messages. A decision about alice's "100" is counted in her chat, whichever came last; one
    # about a member with no event of that id (a referral's inviter) in the last event's.
    c = make()
    c.observe_line(b'{"type":"message","user":"alice","id":"100","channel":"chat-a"}', 0)
    c.observe_line(b'{"type":"message","user":"bob","id":"100","channel":"chat-b"}', 1)
    c.observe({"type": "message", "user": "\u5f20", "id": "100", "channel": "chat-c"}, 2)
    c.observe_line(b'{"type":"join","user":"dan","id":"100","channel":"chat-d"}', 3)
    assert [c.channel(u, "100") for u in ("alice", "bob", "\u5f20", "dan")] == ["chat-a", "chat-b", "chat-c", "chat-d"]
    assert c.channel("carol", "100") == c.channel(None, "100") == "chat-d"
    c.observe_line(b'{"type":"message","user":"alice","id":"100","channel":"chat-e"}', 4)     # her last
    assert [c.channel(u, "100") for u in ("alice", "bob", "carol")] == ["chat-e", "chat-b", "chat-e"]


_EVENTS_OF_FEW = st.lists(st.tuples(st.sampled_from(["a", "b", "张", "\ud800"]), st.sampled_from(["1", "2", "3"]),
                                    st.sampled_from(["x", "y", "", "闲聊"]), st.booleans()), min_size=1, max_size=30)


@settings(max_examples=500, deadline=None)
@given(_EVENTS_OF_FEW)
def test_ids_of_several_members_are_recalled_as_the_definition_recalls_them(events):
    # Few members, ids and channels: ids are taken over back and forth; by line and by dict alike.
    c, python = EventCounts(), PythonEventCounts()
    for user, event_id, channel, by_line in events:
        event = {"type": "message", "user": user, "id": event_id, "channel": channel}
        if by_line and user != "\ud800":                 # a lone surrogate has no line: orjson refuses it
            line = orjson.dumps(event)
            c.observe_line(line, 0)
            python.observe_line(line, 0)
        else:
            c.observe(event, 0)
            python.observe(event, 0)
    for user in ("a", "b", "张", "\ud800", "c", None, 5):
        for event_id in ("1", "2", "3", "4"):
            assert c.channel(user, event_id) == python.channel(user, event_id)
    # by hand, for the last event: its own member finds its channel
    user, event_id, channel, _ = events[-1]
    assert c.channel(user, event_id) == channel


def test_ids_taken_over_across_generations_are_recalled_as_the_definition_recalls_them():
    # 2.5 generations of ids, each taken over by another member now and then: the memo by member
    # turns its own generations.
    c, python = EventCounts(), PythonEventCounts()
    n = CHANNELS_KEPT * 5 // 2
    for i in range(n):
        line = b'{"type":"join","user":"u%d","id":"e%d","channel":"c%d"}' % (i % 7, i % (CHANNELS_KEPT + 3), i % 11)
        c.observe_line(line, 0)
        python.observe_line(line, 0)
    probes = [(f"u{u}", f"e{i}") for i in range(0, CHANNELS_KEPT + 3, 4999) for u in range(8)]
    assert [c.channel(u, i) for u, i in probes] == [python.channel(u, i) for u, i in probes]
    assert sum(python.channel(u, i) is not None for u, i in probes) > len(probes) // 2
