"""Event-time machinery: timers that fire as the watermark passes them, mutes, bans, offenses.

Timers fire when an event with ts ≥ their due time is read, before that event is
evaluated, in order of due time and then of creation. At the end of a log they fire only
up to `--until`. Nothing here reads the wall clock.
"""
from __future__ import annotations

import heapq
from collections import deque
from policyengine.runtime.helpers import decision

try:
    from policyengine.runtime._columns import settled
except ImportError:         # the C module is optional (setup.py): the collector untracks them itself, later
    def settled(value):
        return value

INFINITY = float("inf")


class Timeline:
    def __init__(self, store, ladders, scores):
        self.store = store
        self.ladders = ladders              # CheckedLadder list
        self.scores = scores                # CheckedScore list
        # Filled by bind() once the generated functions exist:
        self.absence_handlers: dict = {}    # rule index → function(key, due, out)
        self.ladder_steps: dict = {}        # ladder index → function(ev, ts, out, member, n)
        self.score_steps: dict = {}         # score index → function(ev, ts, out, member, step, value)
        self.rewards = None                 # set by the evaluator: closes leaderboard periods
        by_category: dict[str, list] = {}
        for kind, items in (("ladder", ladders), ("score", scores)):
            for i, item in enumerate(items):
                for cat in item.categories or ("*",):
                    by_category.setdefault(cat, []).append((kind, i))
        self.by_category = by_category

    # ---- timers ------------------------------------------------------------
    @property
    def next_due(self) -> float:
        timers = self.store.timers
        return timers[0][0] if timers else INFINITY

    def schedule(self, due: int, kind: str, payload: tuple, order: int | None = None) -> None:
        """`order` is the number of the event that set the timer: timers due at the same instant
        fire in the order of the events that set them."""
        self.store.timer_seq += 1
        order = self.store.events_seen if order is None else order
        heapq.heappush(self.store.timers, settled((due, order, self.store.timer_seq, kind, payload)))
        if due < self.store.clock.due:
            self.store.clock.due = due

    def fire_until(self, now: int, out: list, keys: list | None = None) -> None:
        """Fire every timer due at or before `now`, in due order, appending decisions to `out`;
        and to `keys`, if given, (due, setting event, place) for each decision: the timer behind
        it and its place among that timer's decisions as one worker makes them — in the order made,
        unless the timer's firing says otherwise (a period close: a worker of `eval --workers`
        awards only its own winners, Rewards.close_period)."""
        timers = self.store.timers
        while timers and timers[0][0] <= now:
            due, order, _, kind, payload = heapq.heappop(timers)
            before = len(out)
            places = getattr(self, "_fire_" + kind)(due, payload, out)
            if keys is not None:
                keys.extend([(due, order, place)
                             for place in (places if places is not None else range(len(out) - before))])
        self.store.settle_due()

    def _fire_unmute(self, due: int, payload: tuple, out: list) -> None:
        member, policy, rule = payload
        state = self.store.mutes.get(member)
        if state is not None and state[0] == due:      # not lifted or extended since
            del self.store.mutes[member]
            out.append(decision(due, policy, rule, "unmute", member, None, (), "mute ended"))

    def _fire_unban(self, due: int, payload: tuple, out: list) -> None:
        member, policy, rule = payload
        state = self.store.bans.get(member)
        if state is not None and state[0] == due:
            del self.store.bans[member]
            out.append(decision(due, policy, rule, "unban", member, None, (), "ban ended"))

    def _fire_period(self, due: int, payload: tuple, out: list) -> list[int]:
        return self.rewards.close_period(due, payload[0], out)

    def _fire_absence(self, due: int, payload: tuple, out: list) -> None:
        rule_index, key = payload
        table = self.store.absence.setdefault(rule_index, {})
        current = table.get(key)
        if current is None:
            return                                         # cancelled (a `since` timer met its event)
        if current[0] > due:                                # re-armed since: wait for the new time
            self.schedule(current[0], "absence", payload, current[1])
            return
        del table[key]                                      # a later event starts a new silence
        self.absence_handlers[rule_index](key, due, out)

    # ---- absence timers ------------------------------------------------------
    def arm(self, rule_index: int, key, due: int) -> None:
        """(Re)start a silence: one heap entry per key, moved lazily when it comes up. Generated
        code re-arms a running silence itself (replace_pair, replace_pair_of) and calls this for a new one."""
        absence = self.store.absence
        table = absence.get(rule_index)
        if table is None:
            table = absence[rule_index] = {}
        if key not in table:
            self.schedule(due, "absence", (rule_index, key))
        table[key] = (due, self.store.events_seen)

    # ---- mutes and bans ------------------------------------------------------
    def mute(self, member, now: int, duration_s, policy: str, rule: str, announce: bool = False) -> None:
        """The member is muted until now + duration (the later end wins); with `then unmute` an
        `unmute` decision is emitted when event time reaches the end."""
        if member is None or duration_s is None:
            return
        until = now + int(round(duration_s * 1_000_000))
        current = self.store.mutes.get(member)
        if current is not None and current[0] >= until:
            return                                          # a longer mute is already in force
        self.store.mutes[member] = (until, policy, rule)
        if announce:
            self.schedule(until, "unmute", (member, policy, rule))

    def unmute(self, member) -> None:
        self.store.mutes.pop(member, None)

    def ban(self, member, now: int, duration_s, policy: str, rule: str, announce: bool = False) -> None:
        if member is None:
            return
        if duration_s is None:
            self.store.bans[member] = (None, policy, rule)
            return
        until = now + int(round(duration_s * 1_000_000))
        current = self.store.bans.get(member)
        if current is not None and (current[0] is None or current[0] >= until):
            return
        self.store.bans[member] = (until, policy, rule)
        if announce:
            self.schedule(until, "unban", (member, policy, rule))

    def unban(self, member) -> None:
        self.store.bans.pop(member, None)

    def muted(self, member, now: int) -> bool:
        state = self.store.mutes.get(member)
        return state is not None and now < state[0]

    def banned(self, member, now: int) -> bool:
        state = self.store.bans.get(member)
        return state is not None and (state[0] is None or now < state[0])

    # ---- offenses --------------------------------------------------------------
    def offense(self, category: str, member, event: dict, now: int, out: list) -> None:
        """Record an offense; every ladder and score that counts the category may act on it."""
        if member is None:
            return
        for kind, index in self.by_category.get(category, []) + self.by_category.get("*", []):
            if kind == "ladder":
                self._ladder(index, member, event, now, out)
            else:
                self._score(index, category, member, event, now, out)

    def _ladder(self, index: int, member, event: dict, now: int, out: list) -> None:
        ladder = self.ladders[index]
        history = self.store.offenses.setdefault(index, {}).setdefault(member, deque())
        history.append(now)
        low = now - ladder.window_us
        while history and history[0] <= low:
            history.popleft()
        self.ladder_steps[index](event, now, out, member, len(history))

    def _score(self, index: int, category: str, member, event: dict, now: int, out: list) -> None:
        score = self.scores[index]
        table = self.store.scores.setdefault(index, {})
        value, since = table.get(member, (0.0, now))
        value = max(0.0, value - score.decay_per_us * (now - since))      # linear decay, floor 0
        before = value
        value += score.weights.get(category, 0.0)
        table[member] = (value, now)
        crossed = [n for n in score.thresholds if before < n <= value]
        if crossed:
            self.score_steps[index](event, now, out, member, max(crossed), value)

