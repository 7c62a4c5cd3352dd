"""Incentive properties beyond single cases: seeded amounts, period boundaries, time zones."""
from datetime import datetime

from policyengine.engine import Engine
from policyengine.runtime.periods import Calendar


def _xp(engine, ids):
    return [engine.process({"type": "message", "ts": i, "user": "u", "id": mid, "text": "x"})[0]["points"]
            for i, mid in enumerate(ids)]


def test_random_amounts_stay_in_range_and_replay_identically():
    text = 'rule xp { on message do award_points(random(15, 25), "xp") }'
    ids = [f"m{i}" for i in range(300)]
    first, second = _xp(Engine.from_text(text), ids), _xp(Engine.from_text(text), ids)
    assert first == second                                  # seeded by the event id: same on every replay
    assert set(first) == set(range(15, 26))                 # every amount from 15 to 25 occurs in 300 draws
    other = _xp(Engine.from_text(text), [f"x{i}" for i in range(300)])
    assert other != first                                   # other ids, other draws


def test_calendar_days_weeks_and_months_follow_the_zone():
    shanghai = Calendar("Asia/Shanghai")
    def us(text):
        return int(datetime.fromisoformat(text).timestamp() * 1_000_000)
    # 15:59:59 UTC on 1 Nov is 23:59:59 in Shanghai; 16:00 UTC is the next local day.
    assert shanghai.day(us("2026-11-01T16:00:00+00:00")) - shanghai.day(us("2026-11-01T15:59:59+00:00")) == 1
    # 2026-11-30 is a Monday; the next week starts Monday 7 Dec 00:00 local = 6 Dec 16:00 UTC.
    assert shanghai.start_of_next("week", us("2026-11-30T12:00:00+00:00")) == us("2026-12-06T16:00:00+00:00")
    assert shanghai.start_of_next("month", us("2026-12-31T15:00:00+00:00")) == us("2026-12-31T16:00:00+00:00")
    # A zone with daylight saving time: Berlin's day after the switch to summer time is 23 hours.
    berlin = Calendar("Europe/Berlin")
    start = berlin.start_of_next("day", us("2026-03-28T12:00:00+00:00"))
    assert start == us("2026-03-28T23:00:00+00:00")
    assert berlin.start_of_next("day", start) - start == 23 * 3_600_000_000
