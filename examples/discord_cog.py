"""A discord.py cog that runs policyengine on a server: platform events in, decisions out.

    engine = Engine.load("policies/community", state="community.db")
    await bot.add_cog(PolicyCog(bot, engine))       # saves the state every minute, and as it is removed

The mapping functions are plain so they can be tested without a connection (tests/test_bots.py
feeds recorded gateway payloads and fake clients). discord.py is imported only if installed.
"""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

try:  # pragma: no cover - exercised where discord.py is installed
    from discord.ext import commands
    Cog, listener = commands.Cog, commands.Cog.listener
except ImportError:
    Cog = object

    def listener(*_args, **_kwargs):
        return lambda fn: fn


def _ts(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# ---- platform → events ------------------------------------------------------------------------
def message_event(message) -> dict:
    """discord.Message → a `message` event."""
    event = {"type": "message", "ts": _ts(message.created_at), "user": str(message.author.id), "id": str(message.id),
             "channel": str(message.channel.id), "text": message.content,
             "roles": [role.name.lower() for role in getattr(message.author, "roles", [])[1:]],  # [0] is @everyone
             "mentions": [str(m.id) for m in message.mentions]}
    if message.guild is not None:
        event["community"] = str(message.guild.id)
    return event


def reaction_event(payload, now: datetime) -> dict:
    """discord.RawReactionActionEvent → a `reaction` event (the target's author is `message_author_id`)."""
    event = {"type": "reaction", "ts": _ts(now), "user": str(payload.user_id), "channel": str(payload.channel_id),
             "target": str(payload.message_id), "emoji": str(payload.emoji)}
    if getattr(payload, "message_author_id", None):
        event["target_user"] = str(payload.message_author_id)
    if payload.guild_id:
        event["community"] = str(payload.guild_id)
    return event


def join_event(member) -> dict:
    return {"type": "join", "ts": _ts(member.joined_at), "user": str(member.id), "community": str(member.guild.id)}


# ---- decisions → platform calls ------------------------------------------------------------------
async def apply(decision, guild, message=None) -> str:
    """Carry out one decision on the server; returns what was done (for logs and tests)."""
    action = decision.action
    member = guild.get_member(int(decision.user)) if decision.user else None
    if action == "delete" and message is not None and str(message.id) == decision.message_id:
        await message.delete()
    elif action == "delete":
        channel = guild.get_channel(int(message.channel.id)) if message is not None else None
        if channel is None:
            return "skipped: message not at hand"
        await channel.get_partial_message(int(decision.message_id)).delete()
    elif action == "mute" and member is not None:
        await member.timeout(timedelta(seconds=decision.duration_s), reason=decision.reason)
    elif action == "unmute" and member is not None:
        await member.timeout(None, reason=decision.reason)
    elif action == "ban":
        await guild.ban(member or _Object(int(decision.user)), reason=decision.reason, delete_message_seconds=0)
    elif action == "unban":
        await guild.unban(_Object(int(decision.user)), reason=decision.reason)
    elif action == "kick" and member is not None:
        await member.kick(reason=decision.reason)
    elif action in ("promote", "demote") and member is not None:
        role = next((r for r in guild.roles if r.name == decision.role), None)
        if role is None:
            return f"skipped: no role {decision.role!r}"
        await (member.add_roles if action == "promote" else member.remove_roles)(role, reason=decision.reason)
    elif action in ("warn", "notify") and member is not None:
        await member.send(decision.message)
    elif action == "slowmode":
        await guild.get_channel(int(decision.channel)).edit(slowmode_delay=int(decision.duration_s))
    else:
        return f"skipped: {action}"
    return action


class _Object:
    """Like discord.Object: something with an id."""

    def __init__(self, id: int):
        self.id = id


class PolicyCog(Cog):
    def __init__(self, bot, engine, save_every: float = 60.0):
        self.bot, self.engine = bot, engine
        self.save_every = save_every
        self._saving = None

    async def cog_load(self):
        """discord.py calls this as the cog is added: an engine with a state file saves it every
        `save_every` seconds from then on, written off the event loop (Engine.acheckpoint)."""
        if self.engine.state_path is not None:
            self._saving = asyncio.create_task(self.engine.asave_every(self.save_every))

    async def cog_unload(self):
        """discord.py calls this as the cog is removed, and as the bot closes: the last checkpoint,
        then the file let go of (a restarted bot would otherwise be refused it while this one runs)."""
        if self._saving is not None:
            self._saving.cancel()
            self._saving = None
        await self.engine.aclose()                      # the last checkpoint, off the loop

    @listener()
    async def on_message(self, message):
        if message.author.bot:
            return
        for decision in await self.engine.aprocess(message_event(message)):
            await apply(decision, message.guild, message)

    @listener()
    async def on_raw_reaction_add(self, payload):
        guild = self.bot.get_guild(payload.guild_id)
        for decision in await self.engine.aprocess(reaction_event(payload, datetime.now(timezone.utc))):
            await apply(decision, guild)

    @listener()
    async def on_member_join(self, member):
        for decision in await self.engine.aprocess(join_event(member)):
            await apply(decision, member.guild)
