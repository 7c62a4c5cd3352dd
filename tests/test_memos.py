"""A test used more than once in a handler is evaluated once (compiler/expressions.HandlerLocals).
When every event of the type evaluates it anyway — the filter of a count — and it cannot raise, it is
computed in the handler's prologue ("eager"); the decisions must be those of the lazy memo."""
import re

import orjson

from benchmarks.loggen import generate
from policyengine.compiler import codegen, compile_program
from policyengine.engine import Engine
from policyengine.loader import load_text

POLICY = (
    'let AD = text contains any ["加微信", "promo.example/"] or text starts with "vx"\n'
    'rule delete_ads { on message where AD do delete }\n'
    'rule mute_spammers { on message where AD when count(message where AD by user within 10m) >= 3\n'
    '  do mute(1h) cooldown 1h per user }\n'
    'rule long_ads { on message where AD and len(text) > 20 do flag("long ad") }\n')


def _decisions(events, policy: str = POLICY) -> list[bytes]:
    engine = Engine.from_text(policy, "m.policy")
    out = []
    for event in events:
        out += [orjson.dumps(d.model_dump(exclude_none=True)) for d in engine.process(event)]
    assert not engine.issues
    return out


def test_eager_memos_decide_as_lazy_ones(monkeypatch):
    events = list(generate(20000, seed=7))
    eager = _decisions(events)
    monkeypatch.setattr(codegen, "never_raises", lambda ir: False)
    lazy = _decisions(events)
    assert eager == lazy
    assert sum(b'"delete"' in d for d in eager) > 20        # the generated chat has ad bursts


def test_the_shared_test_is_computed_once_up_front():
    source = compile_program(load_text([("m.policy", POLICY)]).program).source
    # The dict handler, the record handler and the two record loops each compute it once, and no
    # use tests a memo any more.
    assert source.count("m0 = (cf0 is not None and P0(cf0)) or (folded_starts_with_any(f0, P1))") == 4
    assert "m0 if m0 is not None" not in source and "m1" not in source


def test_a_message_without_text_holds_no_word():
    t = "2026-11-02T00:00:0{}Z"
    events = [{"type": "message", "ts": t.format(i), "user": "u", "id": f"m{i}"} for i in range(4)]
    events.append({"type": "message", "ts": t.format(5), "user": "u", "id": "m5", "text": "VX 加我"})
    # Only m5 is an ad (case-folded `vx` start); one ad is below the mute's 3; it is 6 characters.
    assert [orjson.loads(d)["action"] for d in _decisions(events)] == ["delete"]


def test_a_rule_reads_the_count_its_event_just_updated():
    """All-time counts are updated before the rules; the rules read the new value (kept in a local
    when the update runs on every event of the type). Hand-counted: u's messages are m0, m2, m3,
    m5; v's are m1, m4. `by channel` may be missing, so that count is read from its table."""
    policy = ('rule third { on message when count(message by user) == 3 do flag("third") }\n'
              'rule busy { on message when count(message by channel) == 2 do flag("busy") }\n'
              'rule both { on message when count(message by user) >= 2 and count(message by user) < 3 '
              'do warn("second") }\n')
    engine = Engine.from_text(policy, "c.policy")
    t = "2026-11-02T00:00:0{}Z"
    users = ["u", "v", "u", "u", "v", "u"]
    out = []
    for i, user in enumerate(users):
        event = {"type": "message", "ts": t.format(i), "user": user, "id": f"m{i}", "text": "hi"}
        if i in (1, 4):
            event["channel"] = "c"
        out += [(d.event_id, d.rule) for d in engine.process(event)]
    assert out == [("m2", "both"), ("m3", "third"), ("m4", "busy"), ("m4", "both")]
    source = compile_program(load_text([("c.policy", policy)]).program).source
    # The count by user (aggregate 1) is read from the local its update set, not from a memo.
    assert source.count("cnt1 = count_up(A1, f1)") == 4 and source.count("if cnt1 == 3:") == 4
    assert re.search(r"\bm0\b", source) is None          # no memo local


def test_a_count_keyed_by_two_fields_is_read_from_its_update_too():
    """`by user, type` is written as a tuple kept in `k`; the rule still reads the updated value.
    Hand-counted: a's messages are m0, m2, m3, so the second is m2."""
    policy = 'rule second { on message when count(message by user, type) == 2 do flag("2") }\n'
    engine = Engine.from_text(policy, "k.policy")
    out = []
    for i, user in enumerate(["a", "b", "a", "a"]):
        out += [d.event_id for d in engine.process({"type": "message", "ts": f"2026-11-02T00:00:0{i}Z",
                                                    "user": user, "id": f"m{i}", "text": "x"})]
    assert out == ["m2"]
    source = compile_program(load_text([("k.policy", policy)]).program).source
    assert source.count("cnt0 = count_up(A0, k)") == 4 and source.count("if cnt0 == 2:") == 4


def test_windows_updated_before_the_rules_are_read_at_their_update():
    """A window added to on every message with no filter hands its rules what they read, from the
    update (add_count, add_read); a filtered one is read by its rule. Windows of 10 s hold the
    entries in (t − 10 s, t]: the lower edge is open. Hand-worked, u's texts: 1 s "a", 4 s "b",
    9 s "a", 10 s "A", 11 s "a " (both normalize to "a"), 20 s "a"; v's: 5 s "a", 14 s "b".
    - repeats of u's text ≥ 3: at 9 s "a" twice; at 10 s three times (1, 9, 10); at 11 s the 1 s
      entry has left (1, 11]: 9, 10, 11, three; at 20 s (10, 20]: 11 and 20, two.
    - distinct members sending a text ≥ 2: "a" at 5 s (u, v), 9 s, 10 s and 11 s (v's 5 s still
      inside); "b" at 14 s: u's at 4 s has left (4, 14], one; "a" at 20 s (10, 20]: u alone.
    - u's messages ≥ 4 within 10 s: at 10 s (1, 4, 9, 10) and 11 s (4, 9, 10, 11); at 20 s two.
    - v's messages saying "b" within 10 s ≥ 1 (a filtered count, read by the rule): at 14 s."""
    policy = ('rule echo { on message when repeats(message by user within 10s) >= 3 do flag("echo") }\n'
              'rule pasta { on message when distinct(user of message by normalize(text) within 10s) >= 2 '
              'do flag("pasta") }\n'
              'rule burst { on message when count(message by user within 10s) >= 4 do flag("burst") }\n'
              'rule bee { on message where text == "b" when count(message where text == "b" by user within 10s) >= 1 '
              'and user == "v" do flag("bee") }\n')
    engine = Engine.from_text(policy, "w.policy")
    sent = [(1, "u", "a"), (4, "u", "b"), (5, "v", "a"), (9, "u", "a"), (10, "u", "A"), (11, "u", "a "),
            (14, "v", "b"), (20, "u", "a")]
    out = []
    for s, user, text in sent:
        event = {"type": "message", "ts": f"2026-11-02T00:00:{s:02d}Z", "user": user, "id": f"m{s}", "text": text}
        out += [(d.event_id, d.rule) for d in engine.process(event)]
    assert not engine.issues
    assert out == [("m5", "pasta"), ("m9", "pasta"), ("m10", "echo"), ("m10", "pasta"), ("m10", "burst"),
                   ("m11", "echo"), ("m11", "pasta"), ("m11", "burst"), ("m14", "bee")]
    source = compile_program(load_text([("w.policy", policy)]).program).source
    # The three unfiltered windows in one call (runtime/updates.py), the filtered count by itself.
    assert "('count_window', A0, 2, -1, 10000000, 0), ('distinct', A1, 3, 2, 10000000, 2), " \
        "('repeats', A2, 2, 3, 10000000, 3)" in source
    assert source.count("win0, win2, win3, = U0(ev, ts, f0, nf0)") == 4 and "add_count(A3, f0, ts, 10000000)" in source
    assert "window_repeats(" not in source and "window_distinct(" not in source
    assert source.count("window_count(") >= 1          # the filtered count is read by its rule


def test_a_message_that_arms_one_silence_and_ends_another_builds_no_key():
    # `hello` waits a day after a join for a first message (ended by a message); `quiet` a week
    # after each message. A message re-arms one and ends the other by the member alone (their key
    # `(member,)` is made only when a silence is armed afresh), in each of the four bodies a
    # message has (dict and record handlers, two loops).
    policy = ('rule hello { on absence(message by user for 1d since join) do notify(user, "hi") }\n'
              'rule quiet { on absence(message by user for 7d) do notify(user, "miss you") }\n')
    source = compile_program(load_text([("s.policy", policy)]).program).source
    assert source.count("pop_of(AB0, f0)") == 4 and source.count("replace_pair_of(AB1, f0,") == 4
    assert source.count("(f0,)") == source.count("RT.arm(") == 4 + 4      # a join arms hello, a message quiet


LINKS = (
    'let LINK = link_count(text) >= 1\n'
    'rule link_burst { on message where LINK when count(message where LINK by user within 10m) >= 2\n'
    '  do flag("links") }\n'
    'rule one_link { on message where LINK and len(text) > 5 do warn("a link") }\n')


def test_a_text_functions_number_against_a_number_is_eager_and_decides_as_lazy(monkeypatch):
    # `link_count(text) >= 1` is a count's filter (every message evaluates it) and cannot raise (a
    # number or None against a number): computed once up front in each of the four places that
    # handle messages, and the decisions are those of the lazy memo on 20 000 generated events.
    source = compile_program(load_text([("l.policy", LINKS)]).program).source
    assert source.count("m0 = d0 is not None and d0 >= 1") == 4 and "(m0 if m0 is not None" not in source
    events = list(generate(20000, seed=7))
    eager = _decisions(events, LINKS)
    monkeypatch.setattr(codegen, "never_raises", lambda ir: False)
    lazy = _decisions(events, LINKS)
    assert eager == lazy and any(b'"flag"' in d for d in eager) and any(b'"warn"' in d for d in eager)


def test_a_memos_first_written_use_computes_it_without_testing_it(monkeypatch):
    """The handler's code runs in the order it is written, so the first use written finds its memo
    still None and need not test it; each later use tests it. Decisions must be those of testing it
    at every use, on the pack-like policy above with the memo lazy (never_raises off: a count's
    filter would otherwise be computed up front)."""
    from policyengine.compiler.expressions import HandlerLocals
    monkeypatch.setattr(codegen, "never_raises", lambda ir: False)
    events = list(generate(20000, seed=11))
    untested = re.compile(r"(?<!else )\((m\d+) := ")
    source = compile_program(load_text([("m.policy", POLICY)]).program).source
    # AD (m2) and its two parts (m0, m1) are memos here. Each of the four handlers (dict, record,
    # two record loops) writes each one's first use untested — the count's filter, updated before
    # the rules — and tests it in each of the three rules.
    assert sorted(untested.findall(source)) == ["m0"] * 4 + ["m1"] * 4 + ["m2"] * 4
    assert source.count("(m0 if m0 is not None else (m0 := ") == 12
    once = _decisions(events)

    def always_tested(self, ir, code):
        name = self.memo_name(ir)
        return f"({name} if {name} is not None else ({name} := {code}))"
    monkeypatch.setattr(HandlerLocals, "memo_use", always_tested)
    assert untested.findall(compile_program(load_text([("m.policy", POLICY)]).program).source) == []
    assert _decisions(events) == once
    assert sum(b'"mute"' in d for d in once) > 0
