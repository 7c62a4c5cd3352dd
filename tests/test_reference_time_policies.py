"""Acceptance for the moderation-over-time reference policies: generated logs against oracles written
from the issue's wording (closed-form per member, no incremental state shared with the engine)."""
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from benchmarks.loggen import START, generate, stretched
from policyengine.engine import Engine

ROOT = Path(__file__).resolve().parents[1]
DAY = 86400.0


def _stretched(seed: int, n: int, factor: int) -> list[dict]:
    return list(stretched(generate(n, seed=seed, members=200, spammers=20), factor))


def _t(ts: str) -> float:
    return datetime.fromisoformat(ts).timestamp()


def _is_ad(e) -> bool:
    text = e.get("text")
    return e["type"] == "message" and isinstance(text, str) and (
        "加微信" in text.casefold() or "promo.example/" in text.casefold())


def ladder_oracle(events):
    """n = the author's offenses in (t − 30 d, t], this one included → warn / mute 1 h / mute 1 d / ban."""
    times = defaultdict(list)
    out = []
    for e in events:
        if not _is_ad(e):
            continue
        t = _t(e["ts"])
        times[e["user"]].append(t)
        n = sum(1 for x in times[e["user"]] if t - 30 * DAY < x <= t)
        step = {1: ("warn", None), 2: ("mute", 3600), 3: ("mute", 86400)}.get(n, ("ban", None))
        out.append((step[0], e["user"], e["id"], t, step[1]))
    return out


def silent_oracle(events):
    """For each message at t whose author's next message is at ≥ t + 3 d (or never): a nudge at
    t + 3 d, placed before the first event with ts ≥ t + 3 d; nudges due together keep message order."""
    by_user = defaultdict(list)
    for order, e in enumerate(events):
        if e["type"] == "message":
            by_user[e["user"]].append((_t(e["ts"]), order))
    last_ts = _t(events[-1]["ts"])
    nudges = []
    for user, msgs in by_user.items():
        for i, (t, order) in enumerate(msgs):
            nxt = msgs[i + 1][0] if i + 1 < len(msgs) else None
            due = t + 3 * DAY
            if (nxt is None or nxt >= due) and due <= last_ts:
                nudges.append((due, order, user))
    return [(user, due) for due, _, user in sorted(nudges)]


@pytest.mark.parametrize("seed", [5, 6])
def test_ladder_policy_matches_oracle(seed):
    events = _stretched(seed, 20_000, 40)         # ≈ 37 days: offenses also expire
    engine = Engine.load(str(ROOT / "policies/examples/ladder.policy"))
    got = [(d["action"], d["user"], d["event_id"], _t(d["ts"]), d.get("duration_s"))
           for d in engine.process_many(events)]
    want = ladder_oracle(events)
    assert {w[0] for w in want} == {"warn", "mute", "ban"}, "the log should reach every step"
    assert got == want


@pytest.mark.parametrize("seed", [5, 6])
def test_silent_policy_matches_oracle(seed):
    events = _stretched(seed, 20_000, 30)          # ≈ 28 days of a 200-member chat
    engine = Engine.load(str(ROOT / "policies/examples/silent.policy"))
    decisions = []
    positions = []                                   # index of the event each nudge came before
    for i, e in enumerate(events):
        for d in engine.process(e):
            decisions.append(d)
            positions.append(i)
    want = silent_oracle(events)
    assert len(want) >= 20
    assert [(d["user"], _t(d["ts"])) for d in decisions] == want
    assert all("event_id" not in d and d["action"] == "notify" for d in decisions)
    for d, i in zip(decisions, positions):          # fired by the first event at or after its time
        assert _t(events[i]["ts"]) >= _t(d["ts"]) and (i == 0 or _t(events[i - 1]["ts"]) < _t(d["ts"]))


def streak_oracle(events):
    """Per member: the set of UTC dates with a check-in; at each check-in, count back day by day from
    its date while the previous date has a check-in; the first check-in where that reaches 7 → badge."""
    dates = defaultdict(set)
    awarded = set()
    out = []
    for e in events:
        if e["type"] != "checkin":
            continue
        day = datetime.fromisoformat(e["ts"]).astimezone(timezone.utc).date()
        dates[e["user"]].add(day)
        run, d = 0, day
        while d in dates[e["user"]]:
            run += 1
            d -= timedelta(days=1)
        if run >= 7 and e["user"] not in awarded:
            awarded.add(e["user"])
            out.append((e["user"], e["id"]))
    return out


def _checkin_log(seed: int) -> list[dict]:
    """Members checking in most days for six weeks, some twice a day, some missing days."""
    import random
    rng = random.Random(seed)
    events, n = [], 0
    for day in range(42):
        for member in range(40):
            habit = 0.55 + 0.45 * (member % 5) / 4          # some members are far more regular
            for _ in range(1 + (rng.random() < 0.2)):
                if rng.random() < habit:
                    t = START + timedelta(days=day, seconds=rng.randrange(86400))
                    events.append({"type": "checkin", "user": f"m{member}", "id": f"c{n}",
                                   "ts": t.isoformat(timespec="seconds").replace("+00:00", "Z")})
                    n += 1
    return sorted(events, key=lambda e: e["ts"])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_streak_policy_matches_oracle(seed):
    events = _checkin_log(seed)
    engine = Engine.load(str(ROOT / "policies/examples/streak.policy"))
    got = [(d["user"], d["event_id"]) for d in engine.process_many(events)]
    want = streak_oracle(events)
    assert 5 <= len(want) < 40                  # some members make it, not all
    assert got == want
