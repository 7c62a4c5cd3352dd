"""Translate the in-memory store to rows under stable names, and back.

Position-keyed tables (rules, ladders, levels, …) are saved under their names and
aggregates under the fingerprint of their definition, so a policy edit keeps the state of
everything whose definition did not change. Rows nothing in the current policies claims
are dropped, each with a warning naming it.
"""
from __future__ import annotations

import msgspec

from policyengine.compiler import CompiledProgram
from policyengine.runtime import codec
from policyengine.runtime.store import Column, MemoryStore
from policyengine.runtime.timeline import settled
from policyengine.state.collector import collector_paused

GLOBAL_SECTIONS = ("labels", "members", "mutes", "bans", "joined", "inviters", "badges", "titles")


class Row(msgspec.Struct, frozen=True):
    section: str
    name: str
    info: str          # what a person reads: the aggregate's text, the rule's name
    value: object


class Names:
    """Stable names of the program's position-keyed parts, both ways."""

    def __init__(self, compiled: CompiledProgram):
        program = compiled.plan.program
        self.rules = [f"{r.policy}/{r.name}" for r in program.rules]
        self.ladders = [f"{x.policy}/{x.name}" for x in program.ladders]
        self.scores = [f"{x.policy}/{x.name}" for x in program.scores]
        self.levels = [f"{x.policy}/{x.name}" for x in program.levels]
        self.roles = [f"{x.policy}/{x.role}" for x in program.roles]
        self.everies = []
        for i, every in enumerate(program.everies):
            base = f"{every.policy}/every_{every.period}"
            self.everies.append(base if base not in self.everies else f"{base}#{i}")
        self.aggregates = {a.fingerprint: a for a in compiled.plan.aggregates}

    @staticmethod
    def index(names: list[str], name: str):
        try:
            return names.index(name)
        except ValueError:
            return None


def _as_dict(table):
    """A member-keyed column (runtime/_columns.c) as the dict it stands for; anything else as it is."""
    return table.to_dict() if Column is not None and table.__class__ is Column else table


def capture(store: MemoryStore, compiled: CompiledProgram, to_write: bool = False) -> list[Row]:
    """The store's state as rows. `to_write`: rows for a state file, whose member-keyed columns
    stay the live columns (`codec.dumps` writes each as the dict it stands for, without making it:
    ~0.1 s of a checkpoint at 100 000 members); they are written before the store changes again.
    Their timers are a copy of the heap as it stands (TimersTaken), named by `written` whenever
    suits. Otherwise the columns become dicts, and the rows can be restored into another store."""
    names = Names(compiled)
    stored = (lambda table: table) if to_write else _as_dict
    rows: list[Row] = []
    for section, tables in (("window", store.windows), ("count", store.counts)):
        for fingerprint, table in tables.items():
            spec = names.aggregates.get(fingerprint)
            if table and spec is not None:
                rows.append(Row(section, fingerprint, spec.source, stored(table)))
    for rule_id, keys in store.once.items():
        if keys:
            rows.append(Row("once", rule_id, rule_id, keys if keys.__class__ is set else set(keys)))
    for rule_id, table in store.cooldowns.items():
        if table:
            rows.append(Row("cooldown", rule_id, rule_id, stored(table)))
    for section in GLOBAL_SECTIONS:
        value = getattr(store, section)
        if value:
            rows.append(Row(section, "", section, stored(value)))
    for section, table, labels in (("absence", store.absence, names.rules), ("offenses", store.offenses, names.ladders),
                                   ("scores", store.scores, names.scores), ("levels", store.levels, names.levels),
                                   ("roles", store.roles, names.roles), ("period_open", store.period_open, names.everies)):
        for index, value in table.items():
            if value or section == "period_open":
                rows.append(Row(section, labels[index], labels[index], stored(value)))
    for (every, award), board in store.boards.items():
        rows.append(Row("boards", f"{names.everies[every]}#{award}", names.everies[every], stored(board)))
    for section, table in (("ledger", store.ledgers), ("earned", store.earned)):
        for currency, value in table.items():
            rows.append(Row(section, currency, currency, stored(value)))
    # The heap's entries are tuples of atoms and tuples, never changed in place: a copy of the list
    # holds still, and naming them (62 000 silence timers at 100 000 members: ~50 ms) may wait
    # until the state is let go of (Engine.checkpoint: `named_timers`).
    timers = list(store.timers) if to_write else named_timers(store.timers, names)
    rows.append(Row("timers", "", "timers", TimersTaken(timers, names) if to_write else timers))
    rows.append(Row("clock", "", "clock", {"watermark": store.watermark, "events_seen": store.events_seen,
                                           "timer_seq": store.timer_seq}))
    return rows


class TimersTaken:
    """The timers' heap as capture took it, its entries still naming rules and periods by index."""
    __slots__ = ("timers", "names")

    def __init__(self, timers: list, names: Names):
        self.timers, self.names = timers, names


def named_timers(timers, names: Names) -> list:
    """The timers with their rules and periods named, as a state file holds them."""
    out = []
    for due, order, seq, kind, payload in timers:
        if kind == "absence":
            payload = (names.rules[payload[0]], payload[1])
        elif kind == "period":
            payload = (names.everies[payload[0]],)
        out.append((due, order, seq, kind, payload))
    return out


def written(rows: list[Row]) -> list[Row]:
    """`capture(to_write=True)`'s rows as a state file writes them: the timers named. Runs after
    the state is let go of; the rest of the rows are the live tables, written before."""
    return [Row(r.section, r.name, r.info, named_timers(r.value.timers, r.value.names))
            if r.value.__class__ is TimersTaken else r for r in rows]


def held_apart(rows: list[Row]) -> tuple[list[Row], list[Row]]:
    """`capture(to_write=True)`'s rows, under the engine's lock, as (rows to encode now, rows that
    hold still without the state): the second a copy of each table `codec.taken` copies (counts,
    a ledger's pairs, silences, once sets; members' rows and active days, lists of numbers, as
    tuples), and the timers' copy; the first the live tables it does not (windows, deques,
    labels). A bot's checkpoint encodes the second after letting the state go (Engine.checkpoint):
    copying such a table is cheaper than writing it, and events wait only for the copy."""
    now, later = [], []
    with collector_paused():
        for r in rows:
            if r.value.__class__ is TimersTaken:
                later.append(r)
                continue
            copy = codec.taken(r.value)
            if copy is None:
                now.append(r)
            else:
                later.append(Row(r.section, r.name, r.info, copy))
    return now, later


def restore(rows: list[Row], compiled: CompiledProgram) -> tuple[MemoryStore, list[str]]:
    """A store rebuilt from rows, and a warning for each piece of state the policies no longer have."""
    with collector_paused():        # the tables it fills make an object or more a member
        return _restore(rows, compiled)


def _restore(rows: list[Row], compiled: CompiledProgram) -> tuple[MemoryStore, list[str]]:
    import heapq
    names = Names(compiled)
    store = MemoryStore()
    dropped: list[str] = []
    positional = {"absence": (store.absence, names.rules), "offenses": (store.offenses, names.ladders),
                  "scores": (store.scores, names.scores), "levels": (store.levels, names.levels),
                  "roles": (store.roles, names.roles), "period_open": (store.period_open, names.everies)}
    for row in rows:
        s, name, value = row.section, row.name, row.value
        if s in ("window", "count"):
            if name in names.aggregates:
                (store.windows if s == "window" else store.counts)[name] = value
            else:
                dropped.append(f"`{row.info}`")
        elif s in ("once", "cooldown"):
            if name in names.rules:
                (store.once if s == "once" else store.cooldowns)[name] = value
            else:
                dropped.append(f"{'once' if s == 'once' else 'cooldown'} of rule `{name}`")
        elif s in ("members", "inviters"):         # columns of the member index (runtime/store.py)
            setattr(store, s, store.as_member_table(value))
        elif s in GLOBAL_SECTIONS:
            setattr(store, s, value)
        elif s in positional:
            table, labels = positional[s]
            index = names.index(labels, name)
            if index is None:
                dropped.append(f"{s.replace('_', ' ')} of `{name}`")
            else:
                table[index] = value     # member-keyed ones become columns where read (Store.member_table)
        elif s == "boards":
            every_name, _, award = name.rpartition("#")
            index = names.index(names.everies, every_name)
            if index is None:
                dropped.append(f"leaderboard `{name}`")
            else:
                store.boards[(index, int(award))] = value
        elif s in ("ledger", "earned"):
            (store.ledgers if s == "ledger" else store.earned)[name] = value
        elif s == "timers":
            for due, order, seq, kind, payload in value:
                if kind == "absence":
                    index = names.index(names.rules, payload[0])
                    if index is None:
                        continue
                    payload = (index, payload[1])
                elif kind == "period":
                    index = names.index(names.everies, payload[0])
                    if index is None:
                        continue
                    payload = (index,)
                # out of the collector's sight as Timeline.schedule puts them: a restored bot's
                # silences are walked by no full collection until they fire
                store.timers.append(settled((due, order, seq, kind, payload)))
            heapq.heapify(store.timers)
            store.settle_due()
        elif s == "clock":
            store.watermark = value["watermark"]
            store.events_seen = value["events_seen"]
            store.timer_seq = value["timer_seq"]
    # Leaderboard periods the policies added since: they start on the next event.
    return store, sorted(set(dropped))
