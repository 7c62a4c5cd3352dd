"""The event contract: built-in event types and their fields, plus member attributes."""
from __future__ import annotations

TEXT, NUMBER, BOOL, DURATION, TIME, LIST, WORDS, ANY = (
    "text", "number", "bool", "duration", "time", "list", "words", "any")

# Type names a policy may use in `event NAME { field: type }`.
DECLARABLE_TYPES = {TEXT: TEXT, NUMBER: NUMBER, BOOL: BOOL, LIST: LIST}

COMMON_FIELDS: dict[str, str] = {
    "type": TEXT, "ts": TIME, "user": TEXT, "id": TEXT, "community": TEXT,
    "channel": TEXT, "roles": LIST,
}

BUILTIN_EVENTS: dict[str, dict[str, str]] = {
    "message": {"text": TEXT, "reply_to": TEXT, "mentions": LIST},
    "reaction": {"target": TEXT, "target_user": TEXT, "emoji": TEXT},
    "checkin": {},
    "join": {"invited_by": TEXT},
    "leave": {},
    "report": {"target": TEXT, "target_user": TEXT, "reason": TEXT},
    "invite": {"target_user": TEXT},
    # A moderator's own action, so manual warnings can count on ladders.
    "moderation": {"action": TEXT, "target": TEXT, "target_user": TEXT, "reason": TEXT, "category": TEXT},
}

# What `user.X` means. Attributes that later releases fill in are named so the checker
# can say "not supported yet" instead of "unknown".
MEMBER_ATTRIBUTES: dict[str, str] = {
    "id": TEXT, "roles": LIST, "labels": LIST,
    "muted": BOOL, "banned": BOOL,                     # mutes and bans this engine issued, in force now
    "first_seen": TIME, "joined_at": TIME,             # first event of any type; last join (or first_seen)
    "account_age": DURATION,                           # now − joined_at
    "first_message": BOOL,                             # this message is the member's first since joining
    "invited_by": TEXT,                                # from the join's `invited_by`, or an `invite` naming them
    "points": NUMBER,                                  # balance of the default currency, `points`
    "level": TEXT,                                     # name of the member's level in the first `levels` table
    "badges": LIST, "title": TEXT,                     # badges and title this engine awarded
}
# Read from state the engine keeps per member, so every event must pass through the tracker.
TRACKED_ATTRIBUTES = {"first_seen", "joined_at", "account_age", "first_message", "invited_by"}
MEMBER_ATTRIBUTES_LATER: set[str] = set()


OFFENSE_CONTEXT = "<offense>"


class Schema:
    """Fields per event type: built-ins plus what the program's `event` items declare."""

    def __init__(self) -> None:
        self.events: dict[str, dict[str, str]] = {
            name: {**COMMON_FIELDS, **fields} for name, fields in BUILTIN_EVENTS.items()}

        # What ladder and score steps may read: the offense's event, of whatever type.
        self.events[OFFENSE_CONTEXT] = dict(COMMON_FIELDS)

    def declare(self, event: str, fields: dict[str, str]) -> None:
        self.events.setdefault(event, dict(COMMON_FIELDS)).update(fields)

    def field_type(self, event_types: tuple[str, ...] | None, name: str) -> tuple[str | None, list[str]]:
        """The field's type on all of `event_types` (None: any type), and the types lacking it."""
        types = event_types if event_types is not None else tuple(self.events)
        found = [self.events[t][name] for t in types if name in self.events.get(t, {})]
        missing = [t for t in types if name not in self.events.get(t, {})]
        if event_types is None:
            return (found[0] if found else None), ([] if found else list(types))
        if not found:
            return None, missing
        kinds = set(found)
        return (found[0] if len(kinds) == 1 else ANY), missing

    def all_fields(self, event_types: tuple[str, ...] | None) -> set[str]:
        types = event_types if event_types is not None else tuple(self.events)
        out: set[str] = set()
        for t in types:
            out |= set(self.events.get(t, {}))
        return out
