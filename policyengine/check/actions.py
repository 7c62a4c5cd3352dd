"""Action signatures: what each action takes and which decision fields it fills."""
from __future__ import annotations

import msgspec

from policyengine.check.schema import DURATION, NUMBER, TEXT


class Param(msgspec.Struct, frozen=True):
    name: str
    type: str
    field: str             # decision field it fills
    optional: bool = False
    target: bool = False   # notify's first parameter: a member id or `moderators`


class ActionSig(msgspec.Struct, frozen=True):
    name: str
    params: tuple[Param, ...]
    channel_level: bool = False     # carries `channel`, no `user`
    summary: str = ""

    def usage(self) -> str:
        inner = ", ".join(f"{p.name}{'?' if p.optional else ''}: {p.type}" for p in self.params)
        return f"{self.name}({inner})" if self.params else self.name


_MSG = Param("message", TEXT, "message")
ACTIONS: dict[str, ActionSig] = {s.name: s for s in (
    ActionSig("delete", (Param("message_id", TEXT, "message_id", optional=True),),
              summary="remove the message (the triggering one unless given)"),
    ActionSig("warn", (_MSG,), summary="warn the member with a message"),
    ActionSig("mute", (Param("duration", DURATION, "duration_s"),), summary="mute the member"),
    ActionSig("unmute", (), summary="lift a mute"),
    ActionSig("kick", (), summary="remove the member; they may rejoin"),
    ActionSig("ban", (Param("duration", DURATION, "duration_s", optional=True),),
              summary="ban the member, for a duration or for ever"),
    ActionSig("unban", (), summary="lift a ban"),
    ActionSig("flag", (Param("reason", TEXT, "reason"),), summary="queue for human review"),
    ActionSig("notify", (Param("target", TEXT, "user", target=True), _MSG),
              summary="send a message to a member, or to `moderators`"),
    ActionSig("award_points", (Param("points", NUMBER, "points"), Param("currency", TEXT, "currency", optional=True)),
              summary="add (or with a negative number, deduct) points, within the currency's cap and floor"),
    ActionSig("award_badge", (Param("badge", TEXT, "badge"),), summary="give a badge"),
    ActionSig("revoke_badge", (Param("badge", TEXT, "badge"),), summary="take a badge back"),
    ActionSig("promote", (Param("role", TEXT, "role"),), summary="give a role"),
    ActionSig("demote", (Param("role", TEXT, "role"),), summary="take a role away"),
    ActionSig("set_title", (Param("title", TEXT, "title"),), summary="give an honorary title"),
    ActionSig("label", (Param("label", TEXT, "label"), Param("duration", DURATION, "duration_s", optional=True)),
              summary="mark the member; rules can test `user has label`"),
    ActionSig("unlabel", (Param("label", TEXT, "label"),), summary="remove a label"),
    ActionSig("purge", (Param("duration", DURATION, "duration_s"),), summary="remove the member's recent messages"),
    ActionSig("lock", (Param("duration", DURATION, "duration_s", optional=True),), channel_level=True,
              summary="lock the channel"),
    ActionSig("unlock", (), channel_level=True, summary="unlock the channel"),
    ActionSig("slowmode", (Param("duration", DURATION, "duration_s"),), channel_level=True,
              summary="limit how often members may post in the channel"),
)}
