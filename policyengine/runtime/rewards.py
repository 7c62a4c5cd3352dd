"""Incentive state behind the generated code: points, levels, badges and titles, leaderboards, roles."""
from __future__ import annotations

from bisect import bisect_right

from policyengine.events.native import format_us
from policyengine.events.timestamps import format_ts
from policyengine.runtime.helpers import board_add, decision, plain_number
from policyengine.runtime.incentives import award_place, level_name, level_of, ranking
from policyengine.runtime.periods import calendar

try:                                          # the giver in C where it was built (runtime/_points.c)
    from policyengine.runtime import _points
except ImportError:                           # pragma: no cover - no C compiler at install
    _points = None


class Rewards:
    def __init__(self, store, program, timeline):
        self.store = store
        self.program = program
        self.timeline = timeline
        self.currencies = program.currencies
        self.levels = program.levels
        self.everies = program.everies
        self.roles = program.roles
        # Filled by bind(): generated functions.
        self.level_steps: dict = {}       # levels index → fn(ev, ts, out, member, n)
        self.award_steps: dict = {}       # (every index, award index) → fn(ev, ts, out, member, n)
        self.role_values: dict = {}       # role index → fn(member, ev, ts) → tuple of values
        # A worker of `eval --workers` (parallel.ShareEvaluator) sets these: its board joined with
        # the other workers' at a close, and whether a winner is one of its own members to award.
        self.combine_board = None         # fn(every index, award index, due, board, allowed) → the whole board
        self.awards_member = None         # fn(member) → bool
        # What an award of each currency touches, worked out once: the points rule of the
        # community pack awards on most messages, and finding these per award was ~8 % of its run.
        self._cap_period = {name: _period_of(spec) for name, spec in self.currencies.items()}
        self._boards_of: dict = {}        # currency → [(every index, award index)]
        for i, every in enumerate(self.everies):
            for j, award in enumerate(every.awards):
                if award.metric.spec is None:
                    self._boards_of.setdefault(award.metric.currency, []).append((i, j))
        self._levels_of: dict = {}        # currency → [(levels index, spec, thresholds or None)]
        for index, spec in enumerate(self.levels):
            thresholds = None if spec.formula is not None else [t for t, _, _ in spec.entries]
            self._levels_of.setdefault(spec.currency, []).append((index, spec, thresholds))

    # ---- points ---------------------------------------------------------------------
    def balance(self, currency: str, member, now: int) -> float:
        spec = self.currencies.get(currency)
        ledger = self.store.ledgers.get(currency)
        return _balance(spec, ledger.get(member) if ledger is not None else None, now)

    def award(self, currency: str, member, amount, source: str, now: int):
        """Apply cap and floor and store the new balance. Returns (the amount really added, 0 for
        nothing; the balance now), so the award's decision needs no second ledger lookup."""
        if member is None or amount is None:
            return 0, None
        store = self.store
        spec = self.currencies.get(currency)
        ledger = store.member_table(store.ledgers, currency)
        record = ledger.get(member)
        if record is not None and (spec is None or not spec.decay_per_us):
            before = record[0]                          # what _balance gives without decay, without its frame
        else:
            before = _balance(spec, record, now)
        actual = amount
        if spec is not None:
            if amount > 0 and spec.cap is not None and source not in spec.cap_exempt:
                period = self._cap_period[currency](now)
                earned = store.member_table(store.earned, currency)
                key, so_far = earned.get(member, (period, 0))
                if key != period:
                    so_far = 0
                actual = max(0, min(amount, spec.cap - so_far))
                earned[member] = (period, so_far + actual)
            if spec.floor is not None and amount < 0:
                actual = max(amount, min(0, spec.floor - before))           # never below the floor
        after = before + actual
        ledger[member] = (after, now)
        return actual, after

    def giver(self, currency: str, source: str, policy: str, rule: str, named: bool = False, native: bool = True):
        """One function for an award site whose currency is a constant:
        give(member, amount, now, event_id, reason, event, out[, seen]) does `award()`, its decision
        and `awarded()` (`seen`: the store's events_seen, which the record loop holds). In C where it was built (runtime/_points.c), with what they look up per award —
        the cap and whether this rule is exempt from it, floor, decay, leaderboards, levels —
        worked out here once: the community pack's points rule awards on most messages, and the
        calls behind it were its largest cost. Otherwise (or with `native` False) the three
        themselves; tests/test_incentives.py holds the C to them. `named`: the rule names its
        currency, and the decision says which."""
        if native and _points is not None:
            store = self.store
            spec = self.currencies.get(currency)
            capped = spec is not None and spec.cap is not None and source not in spec.cap_exempt
            return _points.Giver(currency, policy, rule, named, store.ledgers, store.earned, store.boards,
                                 store.levels, store, lambda record, now: _balance(spec, record, now),
                                 spec is None or not spec.decay_per_us,                 # a record's balance is its first item
                                 spec.cap if capped else None, self._cap_period.get(currency) if capped else None,
                                 spec.floor if spec is not None else None,
                                 tuple(self._boards_of.get(currency, ())), tuple(self._levels_of.get(currency, ())),
                                 self._relevel, format_us, format_ts, plain_number)
        extra = (("currency", currency),) if named else ()

        def give(member, amount, now: int, event_id, reason, event, out: list, seen=None) -> None:
            points, balance = self.award(currency, member, amount, source, now)
            if points:
                out.append(decision(now, policy, rule, "award_points", member, event_id,
                                    (("points", plain_number(points)),) + extra + (("balance", plain_number(balance)),),
                                    reason))
                self.awarded(currency, member, points, balance, event, now, out, seen)
        return give

    def awarded(self, currency: str, member, amount, balance, event: dict, now: int, out: list,
                seen=None) -> None:
        """After an award's decision (`balance`: what award() left): leaderboards count it, levels
        may change. `seen`: the event count the boards keep (the store's when None)."""
        boards = self._boards_of.get(currency)
        if boards is not None:
            for i, j in boards:
                board_add(self.store, self.store.boards, (i, j), member, amount, seen)
        levels = self._levels_of.get(currency)
        if levels is not None:
            for index, spec, thresholds in levels:
                self._relevel(index, spec, thresholds, member, balance, event, now, out)

    # ---- levels ---------------------------------------------------------------------
    def _relevel(self, index: int, spec, thresholds, member, balance, event: dict, now: int, out: list) -> None:
        table = self.store.member_table(self.store.levels, index)
        old = table.get(member, 0)
        if thresholds is None:
            new = level_of(spec, balance)
        elif balance == balance:            # thresholds rise (the checker says so): the last one reached
            new = max(0, bisect_right(thresholds, balance) - 1)
        else:
            new = 0                         # NaN reaches no threshold, as in level_of
        if new == old:
            return
        table[member] = new
        up = new > old
        event_id = event.get("id") if isinstance(event.get("id"), str) else None
        out.append(decision(now, spec.policy, spec.name, "level_up" if up else "level_down", member, event_id,
                            (("level", level_name(spec, new)), ("level_number", new)), None))
        if spec.formula is not None:
            return
        if up:
            passed = range(old + 1, new + 1) if spec.mode == "stack" else [new]
            if spec.mode == "replace":
                for role in spec.roles(old):
                    out.append(decision(now, spec.policy, spec.name, "demote", member, event_id, (("role", role),), None))
            for level in passed:
                self.level_steps[index](event, now, out, member, level)
        else:
            lost = range(old, new, -1) if spec.mode == "stack" else [old]
            for level in lost:
                for role in spec.roles(level):
                    out.append(decision(now, spec.policy, spec.name, "demote", member, event_id, (("role", role),), None))
            if spec.mode == "replace":
                self.level_steps[index](event, now, out, member, new)

    def level_name_of(self, member, now: int):
        if not self.levels:
            return None
        spec = self.levels[0]
        return level_name(spec, level_of(spec, self.balance(spec.currency, member, now)))

    # ---- badges and titles ---------------------------------------------------------------
    def badge(self, member, badge, give: bool) -> None:
        if member is None or badge is None:
            return
        held = self.store.badges.setdefault(member, set())
        (held.add if give else held.discard)(badge)

    def badges_of(self, member) -> list:
        return sorted(self.store.badges.get(member, ()))

    def title(self, member, title) -> None:
        if member is not None:
            self.store.titles[member] = title

    def title_of(self, member):
        return self.store.titles.get(member)

    # ---- leaderboards ------------------------------------------------------------------------
    def start(self, now: int) -> None:
        """On the first event: schedule the close of every period in progress."""
        for i, every in enumerate(self.everies):
            if i not in self.store.period_open:
                self.store.period_open[i] = now
                self._schedule_close(i, now)

    def close_period(self, due: int, every_index: int, out: list) -> list[int]:
        """The period's awards, and each decision's place among all the close's decisions as one
        worker makes them (incentives.award_place): a worker of `eval --workers` makes only its own
        winners' decisions, and the merge puts them in that order."""
        places: list[int] = []
        every = self.everies[every_index]
        opened = self.store.period_open.get(every_index, due)
        for j, award in enumerate(every.awards):
            board = self.store.boards.pop((every_index, j), {})
            allowed = self._among(award.among, opened, due)
            if self.combine_board is not None:        # each worker keeps only its own who may win
                board, allowed = self.combine_board(every_index, j, due, board, allowed), None
            for rank, (member, value) in enumerate(ranking(board, award.top, allowed)):
                if self.awards_member is not None and not self.awards_member(member):
                    continue                    # another worker's member: it awards them
                before = len(out)
                self.award_steps[(every_index, j)]({"type": "period", "user": member}, due, out, member,
                                                   plain_number(value))
                places += [award_place(j, rank, nth) for nth in range(len(out) - before)]
        self.store.period_open[every_index] = due
        self._schedule_close(every_index, due)
        return places

    def _schedule_close(self, every_index: int, now: int) -> None:
        every = self.everies[every_index]
        close = calendar(every.tz).start_of_next(every.period, now)
        if close is not None:                   # None: past the year 9999, no period closes
            self.timeline.schedule(close, "period", (every_index,))

    def _among(self, among, opened: int, closing: int):
        if among is None:
            return None
        if among == "newcomers":
            joined = self.store.joined
            return lambda m: m in joined and opened <= joined[m] < closing
        labels = self.store.labels
        return lambda m: among in labels.get(m, {})

    # ---- roles --------------------------------------------------------------------------------
    def check_roles(self, member, event: dict, now: int, out: list) -> None:
        """Promote when every requirement holds; demote (after the grace period) when any falls
        below `keep` × its bar. Checked on each event of the member."""
        if member is None:
            return
        event_id = event.get("id") if isinstance(event.get("id"), str) else None
        for i, role in enumerate(self.roles):
            values = self.role_values[i](member, event, now)
            held = self.store.roles.setdefault(i, {})
            since = held.get(member)
            if since is None:
                if all(_meets(v, op, bar, 1.0) for v, (_, op, bar, _) in zip(values, role.requirements)):
                    held[member] = now
                    out.append(decision(now, role.policy, role.role, "promote", member, event_id, (("role", role.role),), None))
                    if role.title:
                        self.title(member, role.title)
                        out.append(decision(now, role.policy, role.role, "set_title", member, event_id,
                                            (("title", role.title),), None))
            elif now >= since + role.grace_us and not all(
                    _meets(v, op, bar, role.keep) for v, (_, op, bar, _) in zip(values, role.requirements)):
                del held[member]
                out.append(decision(now, role.policy, role.role, "demote", member, event_id, (("role", role.role),), None))


def _meets(value, op: str, bar, fraction: float) -> bool:
    if value is None:
        return False
    limit = bar * fraction
    return value > limit if (op == ">" and fraction == 1.0) else value >= limit


def _balance(spec, record, now: int) -> float:
    """A ledger record's balance at `now`: linear decay since it was written, never below the floor."""
    floor = spec.floor if spec is not None else None
    if record is None:
        return floor if (floor is not None and floor > 0) else 0
    value, as_of = record
    bound = floor if floor is not None else 0
    if spec is not None and spec.decay_per_us and value > bound:
        value = max(bound, value - spec.decay_per_us * (now - as_of))       # linear decay, never below
    return value


def _period_of(spec):
    """The function giving the cap period an instant falls in, or None without a cap."""
    if spec.cap is None:
        return None
    return calendar(spec.tz).period_function(spec.cap_period)
