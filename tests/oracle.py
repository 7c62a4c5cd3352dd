"""A deliberately naive evaluator for a subset of the language, used as the independent oracle.

Every aggregate is recomputed from the whole history at every event: no windows kept, no
eviction, nothing incremental. Only `once`, `cooldown` and caps keep the little state they
must. Slow and obviously right; the compiled engine must agree with it exactly.
"""
from __future__ import annotations

from dataclasses import dataclass, field

DAY = 86_400


@dataclass
class RuleSpec:
    name: str
    where: str | None                 # the event's text must contain this
    function: str                     # count | distinct | streak | points
    filter: str | None                # counted events' text must contain this
    keys: tuple[str, ...]             # () | ("user",) | ("channel",) | ("user", "channel")
    window: int | None                # seconds; None: all time
    op: str                           # >= | == | >
    threshold: int
    grace: int = 0
    gate: str = "none"                # none | once | cooldown
    gate_keys: tuple[str, ...] = ("user",)
    cooldown: int = 0
    amount: int = 0                   # points rules: award this much
    cap: int | None = None

    def text(self) -> str:
        where = f' where text contains "{self.where}"' if self.where else ""
        if self.function == "points":
            return f"rule {self.name} {{ on message{where} do award_points({self.amount}, \"{self.name}\") }}"
        filt = f' where text contains "{self.filter}"' if self.filter else ""
        by = f" by {', '.join(self.keys)}" if self.keys else ""
        if self.function == "count":
            agg = f"count(message{filt}{by}{f' within {self.window}s' if self.window else ''})"
        elif self.function == "distinct":
            agg = f"distinct(channel of message{filt}{by}{f' within {self.window}s' if self.window else ''})"
        else:
            agg = f"streak(message{filt}{by} daily grace {self.grace})"
        gate = ""
        if self.gate == "once":
            gate = f" once per {', '.join(self.gate_keys)}"
        elif self.gate == "cooldown":
            gate = f" cooldown {self.cooldown}s per {', '.join(self.gate_keys)}"
        return f'rule {self.name} {{ on message{where} when {agg} {self.op} {self.threshold} do flag("{self.name}"){gate} }}'

    def header(self) -> str:
        return f"points {self.name} {{ cap {self.cap} per day }}\n" if self.function == "points" and self.cap else ""


@dataclass
class Oracle:
    rules: list[RuleSpec]
    history: list[dict] = field(default_factory=list)
    once: dict = field(default_factory=dict)
    cooldown_until: dict = field(default_factory=dict)
    earned: dict = field(default_factory=dict)

    def process(self, event: dict) -> list[tuple]:
        self.history.append(event)
        out = []
        for rule in self.rules:
            text = event.get("text") or ""
            if rule.where and rule.where not in text.casefold():
                continue
            if rule.function == "points":
                given = self._award(rule, event)
                if given:
                    out.append((event["id"], rule.name, "award_points", given))
                continue
            value = self._aggregate(rule, event)
            if value is None or not _compare(value, rule.op, rule.threshold):
                continue
            gate_key = (rule.name, tuple(event.get(k) for k in rule.gate_keys))
            if rule.gate == "once":
                if gate_key in self.once:
                    continue
                self.once[gate_key] = True
            elif rule.gate == "cooldown":
                until = self.cooldown_until.get(gate_key)
                if until is not None and event["ts"] < until:
                    continue
                self.cooldown_until[gate_key] = event["ts"] + rule.cooldown
            out.append((event["id"], rule.name, "flag", None))
        return out

    def _matching(self, rule: RuleSpec, event: dict):
        """The events the aggregate counts for this event: same keys, its filter, in the window."""
        if any(event.get(k) is None for k in rule.keys):
            return None
        now = event["ts"]
        found = []
        for e in self.history:
            if rule.filter and rule.filter not in (e.get("text") or "").casefold():
                continue
            if any(e.get(k) != event.get(k) for k in rule.keys):
                continue
            if rule.window is not None and not (now - rule.window < e["ts"] <= now):
                continue
            found.append(e)
        return found

    def _aggregate(self, rule: RuleSpec, event: dict):
        found = self._matching(rule, event)
        if found is None:
            return 0
        if rule.function == "count":
            return len(found)
        if rule.function == "distinct":
            return len({e["channel"] for e in found if e.get("channel") is not None})
        days = sorted({e["ts"] // DAY for e in found})
        if not days:
            return 0
        today = event["ts"] // DAY
        if today - days[-1] - 1 > rule.grace:
            return 0
        run = 1
        for later, earlier in zip(reversed(days), reversed(days[:-1])):
            if later - earlier - 1 > rule.grace:
                break
            run += 1
        return run

    def _award(self, rule: RuleSpec, event: dict) -> int:
        if rule.cap is None:
            return rule.amount
        key = (rule.name, event["user"], event["ts"] // DAY)
        room = rule.cap - self.earned.get(key, 0)
        given = max(0, min(rule.amount, room))
        self.earned[key] = self.earned.get(key, 0) + given
        return given


def _compare(value, op: str, threshold: int) -> bool:
    return value >= threshold if op == ">=" else value == threshold if op == "==" else value > threshold
