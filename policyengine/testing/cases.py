"""Read and run policy test-case files (TOML).

    start = "2026-11-01T00:00:00Z"          # optional; the time `+0s` stands for
    policy_file = "../ads.policy"           # optional default for every case (relative to this file)

    [[case]]
    name = "the third ad within ten minutes mutes"
    policy = '''…'''                        # or policy_file = "…"
    events = [ {at = "+0s", type = "message", user = "u1", id = "m1", text = "加微信"} ]
    expect = [ {at = "+0s", rule = "delete_ads", action = "delete", user = "u1", message_id = "m1"} ]
    # instead of expect: expect_includes = [...] and/or expect_excludes = [...]
    expect_members = { u1 = { points = 10, badges = ["7日连续签到"], muted = true } }   # state afterwards

`at` is `+DURATION` from start, `day N` (N ≥ 1) or both (`day 3 +5m`); an event or an
expectation may give an absolute `ts` instead. Expected decisions compare on the
fields they list (`absent = ["user"]` requires a field to be missing); `expect` also
requires the same number of decisions, in order.
"""
from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import msgspec
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from policyengine.engine import Engine, PolicyError
from policyengine.events.decode import BadEvent
from policyengine.events.timestamps import format_ts, parse_ts
from policyengine.syntax.transformer import duration_seconds

_AT = re.compile(r"^\s*(?:day\s+(\d+))?\s*(?:\+\s*((?:\d+(?:ms|s|m|h|d|w))+))?\s*$")


class Case(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    policy: str | None = None
    policy_file: str | None = None
    start: str | None = None
    events: list[dict[str, Any]] = Field(default_factory=list)
    expect: list[dict[str, Any]] | None = None
    expect_includes: list[dict[str, Any]] = Field(default_factory=list)
    expect_excludes: list[dict[str, Any]] = Field(default_factory=list)
    expect_members: dict[str, dict[str, Any]] = Field(default_factory=dict)


class CaseFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: str = "2026-11-01T00:00:00Z"
    policy_file: str | None = None
    case: list[Case]


class CaseResult(msgspec.Struct):
    file: str
    line: int
    name: str
    ok: bool
    detail: str = ""

    def render(self) -> str:
        return f"{self.file}:{self.line}: {'ok' if self.ok else 'FAILED'}: {self.name}" + \
               (f"\n{self.detail}" if self.detail else "")


class CaseFileError(Exception):
    pass


def load_case_file(path: str | Path) -> tuple[CaseFile, list[int]]:
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    try:
        data = CaseFile.model_validate(tomllib.loads(text))
    except tomllib.TOMLDecodeError as err:
        raise CaseFileError(f"{path}: {err}") from None
    except ValidationError as err:
        raise CaseFileError(f"{path}: {err}") from None
    lines = [i for i, line in enumerate(text.splitlines(), 1) if line.strip() == "[[case]]"]
    lines += [0] * (len(data.case) - len(lines))
    return data, lines


def resolve_at(at: str, start_us: int) -> int:
    m = _AT.match(at)
    if not m or not (m.group(1) or m.group(2)):
        raise CaseFileError(f"`at = {at!r}`: write `+10m`, `day 3` or `day 3 +5m`")
    us = start_us
    if m.group(1):
        if int(m.group(1)) < 1:
            raise CaseFileError(f"`at = {at!r}`: days count from `day 1`")
        us += (int(m.group(1)) - 1) * 86_400_000_000
    if m.group(2):
        us += int(round(duration_seconds(m.group(2)) * 1_000_000))
    return us


def _absolute(item: dict, start_us: int) -> dict:
    item = dict(item)
    if "at" in item:
        item["ts"] = format_ts(resolve_at(str(item.pop("at")), start_us))
    return item


def run_case(case: Case, file: Path, defaults: CaseFile, line: int) -> CaseResult:
    start_us = parse_ts(case.start or defaults.start)
    where = dict(file=str(file), line=line, name=case.name)
    try:
        if case.policy is not None:
            engine = Engine.from_text(case.policy, name=f"{file}[{case.name}]")
        else:
            rel = case.policy_file or defaults.policy_file
            if rel is None:
                return CaseResult(**where, ok=False, detail="  the case names no policy (`policy` or `policy_file`)")
            engine = Engine.load(str((file.parent / rel)))
    except PolicyError as err:
        return CaseResult(**where, ok=False, detail="  the policy has errors:\n" + str(err))
    actual: list[dict] = []
    for i, raw in enumerate(case.events):
        event = _absolute(raw, start_us)
        try:
            actual.extend(d.to_json() for d in engine.process(event))
        except BadEvent as err:
            return CaseResult(**where, ok=False, detail=f"  event {i + 1} is not valid: {err}")
    problems: list[str] = []
    if case.expect is not None:
        expected = [_absolute(e, start_us) for e in case.expect]
        if len(expected) != len(actual) or not all(_matches(e, a) for e, a in zip(expected, actual)):
            problems.append(_diff(expected, actual))
    for e in (_absolute(x, start_us) for x in case.expect_includes):
        if not any(_matches(e, a) for a in actual):
            problems.append(f"  missing: {_show(e)}")
    for e in (_absolute(x, start_us) for x in case.expect_excludes):
        for a in actual:
            if _matches(e, a):
                problems.append(f"  unwanted: {_show(a)}")
    for member, wanted in case.expect_members.items():
        state = member_state(engine, member)
        for key, value in wanted.items():
            if key not in state:
                problems.append(f"  member {member}: unknown attribute `{key}` (known: {', '.join(sorted(state))})")
            elif state[key] != value:
                problems.append(f"  member {member}: {key} is {state[key]!r}, expected {value!r}")
    if engine.issues:
        problems += [f"  run-time error: {i.render()}" for i in engine.issues]
    return CaseResult(**where, ok=not problems, detail="\n".join(problems))


def member_state(engine: Engine, member: str) -> dict:
    """What `expect_members` can check, as of the last event's time."""
    from policyengine.runtime.helpers import active_labels, plain_number
    ev = engine.evaluator
    now = ev.store.watermark or 0
    rewards = ev.rewards
    return {
        "points": plain_number(rewards.balance("points", member, now)),
        "level": rewards.level_name_of(member, now),
        "badges": rewards.badges_of(member),
        "title": rewards.title_of(member),
        "labels": active_labels(ev.store.labels, member, now),
        "muted": ev.timeline.muted(member, now),
        "banned": ev.timeline.banned(member, now),
        **{f"points_{c}": plain_number(rewards.balance(c, member, now)) for c in ev.store.ledgers if c != "points"},
    }


def run_file(path: str | Path) -> list[CaseResult]:
    path = Path(path)
    data, lines = load_case_file(path)
    return [run_case(c, path, data, line) for c, line in zip(data.case, lines)]


def _matches(expected: dict, actual: dict) -> bool:
    """Listed fields equal; fields named in `absent` missing from the decision."""
    return all(k not in actual for k in expected.get("absent", ())) and \
        all(actual.get(k, _ABSENT) == v for k, v in expected.items() if k != "absent")


_ABSENT = object()


def _show(d: dict) -> str:
    return "{" + ", ".join(f"{k}={v!r}" for k, v in d.items()) + "}"


def _diff(expected: list[dict], actual: list[dict]) -> str:
    out = [f"  expected {len(expected)} decision(s), got {len(actual)}:"]
    for i in range(max(len(expected), len(actual))):
        e = expected[i] if i < len(expected) else None
        a = actual[i] if i < len(actual) else None
        if e is not None and a is not None and _matches(e, a):
            out.append(f"    = {_show(e)}")
            continue
        if e is not None:
            out.append(f"    - {_show(e)}")
        if a is not None:
            out.append(f"    + {_show({k: a[k] for k in a if e is None or k in e or k in ('rule', 'action')})}")
    return "\n".join(out)
