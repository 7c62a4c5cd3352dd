"""General-purpose rule engines on the three reference policies, with the Python glue they need.

    pip install -e '.[peers]'            # rule-engine, durable-rules, business-rules
    python -m benchmarks.peers --events 100000

Each peer decides what it can decide: whether a message is an ad (its own substring or regex
test), whether an advertiser is muted, whether a member is promoted or badged. Python keeps the
state around it — the ten-minute ad window, the mute's hour, message counts, check-in days —
because none of them keeps windows over event time. Every peer's decisions are checked, one by
one and in order, against the hand-written evaluator of benchmarks/throughput.py on the same
log; a peer that differs is reported as such and its speed is not printed. A peer that is not
installed is skipped with a note.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections import defaultdict, deque
from datetime import datetime
from pathlib import Path

import orjson

from benchmarks.throughput import hand_written, write_log

AD_WORDS = ("加微信", "promo.example/")


class Glue:
    """The reference policies' state, which the peers cannot keep; `decide(stage, facts)` is the peer."""

    def __init__(self, decide):
        self.decide = decide
        self.ads: dict[str, deque] = defaultdict(deque)
        self.muted_until: dict[str, float] = {}
        self.messages: dict[str, int] = defaultdict(int)
        self.last_day: dict[str, int] = {}
        self.streak: dict[str, int] = {}
        self.badged: set[str] = set()

    def run(self, path: Path) -> list:
        out = []
        decide = self.decide
        with open(path, "rb") as f:
            for line in f:
                e = orjson.loads(line)
                kind, user, event_id = e["type"], e["user"], e.get("id")
                if kind == "checkin":
                    day = int(datetime.fromisoformat(e["ts"]).timestamp()) // 86400
                    before = self.last_day.get(user)
                    if before != day:
                        self.streak[user] = self.streak.get(user, 0) + 1 if before == day - 1 else 1
                        self.last_day[user] = day
                    if "badge" in decide("checkin", {"streak": self.streak[user], "badged": user in self.badged}):
                        self.badged.add(user)
                        out.append(("award_badge", user, event_id))
                    continue
                if kind != "message":
                    continue
                ts = datetime.fromisoformat(e["ts"]).timestamp()
                text = (e.get("text") or "").casefold()
                is_ad = "delete" in decide("text", {"text": text})
                ad_count = 0
                if is_ad:
                    out.append(("delete", user, event_id))
                    q = self.ads[user]
                    q.append(ts)
                    while q[0] <= ts - 600:
                        q.popleft()
                    ad_count = len(q)
                self.messages[user] += 1
                fired = decide("member", {"is_ad": is_ad, "ad_count": ad_count,
                                          "muted": ts < self.muted_until.get(user, float("-inf")),
                                          "messages": self.messages[user]})
                if "mute" in fired:
                    self.muted_until[user] = ts + 3600
                    out.append(("mute", user, event_id))
                if "promote" in fired:
                    out.append(("promote", user, event_id))
        return out


def rule_engine_peer():
    import rule_engine
    rules = {
        "text": [("delete", rule_engine.Rule(" or ".join(f'{word!r} in text' for word in AD_WORDS)))],
        "member": [("mute", rule_engine.Rule("is_ad and ad_count >= 3 and not muted")),
                   ("promote", rule_engine.Rule("messages == 50"))],
        "checkin": [("badge", rule_engine.Rule("streak >= 7 and not badged"))],
    }

    def decide(stage: str, facts: dict) -> list[str]:
        return [action for action, rule in rules[stage] if rule.matches(facts)]
    return decide


def business_rules_peer():
    from business_rules import run_all
    from business_rules.actions import BaseActions, rule_action
    from business_rules.variables import BaseVariables, boolean_rule_variable, numeric_rule_variable, string_rule_variable

    class Facts(BaseVariables):
        def __init__(self, facts):
            self.facts = facts

        @string_rule_variable
        def text(self):
            return self.facts["text"]

        @boolean_rule_variable
        def is_ad(self):
            return self.facts["is_ad"]

        @numeric_rule_variable
        def ad_count(self):
            return self.facts["ad_count"]

        @boolean_rule_variable
        def muted(self):
            return self.facts["muted"]

        @numeric_rule_variable
        def messages(self):
            return self.facts["messages"]

        @numeric_rule_variable
        def streak(self):
            return self.facts["streak"]

        @boolean_rule_variable
        def badged(self):
            return self.facts["badged"]

    class Actions(BaseActions):
        def __init__(self, fired):
            self.fired = fired

        @rule_action(params={"action": "text"})
        def decide(self, action):
            self.fired.append(action)

    def act(name):
        return [{"name": "decide", "params": {"action": name}}]
    rules = {
        "text": [{"conditions": {"any": [{"name": "text", "operator": "contains", "value": w} for w in AD_WORDS]},
                  "actions": act("delete")}],
        "member": [{"conditions": {"all": [{"name": "is_ad", "operator": "is_true", "value": True},
                                           {"name": "ad_count", "operator": "greater_than_or_equal_to", "value": 3},
                                           {"name": "muted", "operator": "is_false", "value": False}]},
                    "actions": act("mute")},
                   {"conditions": {"all": [{"name": "messages", "operator": "equal_to", "value": 50}]},
                    "actions": act("promote")}],
        "checkin": [{"conditions": {"all": [{"name": "streak", "operator": "greater_than_or_equal_to", "value": 7},
                                            {"name": "badged", "operator": "is_false", "value": False}]},
                     "actions": act("badge")}],
    }

    def decide(stage: str, facts: dict) -> list[str]:
        fired: list[str] = []
        run_all(rule_list=rules[stage], defined_variables=Facts(facts), defined_actions=Actions(fired),
                stop_on_first_trigger=False)
        return fired
    return decide


def durable_rules_peer():
    """durable_rules consumes an event with the one rule that takes it, so each decision is its
    own ruleset, where a lowest-priority rule takes (and drops) the events the decision's rule does not."""
    from durable.lang import m, post, pri, ruleset, when_all
    fired: list[str] = []
    tag = time.monotonic_ns()
    conditions = {
        "delete": ("text", m.text.matches(".*加微信.*") | m.text.matches(".*promo[.]example/.*")),
        "mute": ("member", (m.is_ad == True) & (m.ad_count >= 3) & (m.muted == False)),  # noqa: E712
        "promote": ("member", m.messages == 50),
        "badge": ("checkin", (m.streak >= 7) & (m.badged == False)),  # noqa: E712
    }
    stages: dict[str, list[str]] = defaultdict(list)
    for action, (stage, condition) in conditions.items():
        name = f"{action}_{tag}"
        stages[stage].append(name)
        with ruleset(name):
            _durable_rules(when_all, pri, condition, +m.stage, fired, action)

    posted = iter(range(1 << 62))

    def decide(stage: str, facts: dict) -> list[str]:
        fired.clear()
        for name in stages[stage]:
            post(name, dict(facts, stage=stage, id=next(posted)))    # it refuses an event seen before
        return list(fired)
    return decide


def _durable_rules(when_all, pri, condition, anything, fired: list, action: str) -> None:
    # durable names a rule after its function: two lambdas in one ruleset would be one rule.
    @when_all(pri(1), condition)
    def decision(c):
        fired.append(action)

    @when_all(pri(9), anything)
    def rest(c):
        pass


PEERS = {"rule-engine": rule_engine_peer, "business-rules": business_rules_peer, "durable-rules": durable_rules_peer}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=100_000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--repeat", type=int, default=1)
    a = p.parse_args(argv)
    status = 0
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "log.jsonl"
        write_log(log, a.events, a.seed)
        times, expected = [], None
        for _ in range(a.repeat):
            took, expected = hand_written(log)
            times.append(took)
        base = statistics.median(times)
        print(f"{a.events:,} events; hand-written reference: {a.events / base:,.0f} events/s, "
              f"{len(expected):,} decisions")
        for name, make in PEERS.items():
            try:
                decide = make()
            except ImportError as err:
                print(f"{name:<16} not installed ({err.name}); pip install -e '.[peers]'")
                continue
            times, got = [], None
            for _ in range(a.repeat):
                t = time.perf_counter()
                got = Glue(decide).run(log)
                times.append(time.perf_counter() - t)
            if got != expected:
                print(f"{name:<16} DECISIONS DIFFER from the hand-written evaluator ({len(got):,} against {len(expected):,})")
                status = 1
                continue
            took = statistics.median(times)
            print(f"{name:<16} {a.events / took:>10,.0f} events/s  {base / took:5.2f}× hand-written  same decisions")
    return status


if __name__ == "__main__":
    sys.exit(main())
