"""The example bots, with recorded platform payloads and fake clients: no network.

Both ways are checked: platform payload → engine event, and decision → the platform calls a real
client would receive (same method names and arguments as discord.py and aiogram)."""
import asyncio
import json
from datetime import datetime
from types import SimpleNamespace

from conftest import ROOT
from examples import discord_cog, telegram_router
from policyengine import Engine

POLICY = '''
rule ads { on message where text contains any ["加微信", "vx:"] do delete, mute(10m), warn("请勿发广告") }
rule hello { on join do notify(user, "欢迎！") }
rule vip { on message where text contains "vip" do promote("VIP") }
'''


class Recorder:
    """Any coroutine method called on it is recorded as (name, args, kwargs)."""

    def __init__(self, calls, prefix=""):
        self._calls, self._prefix = calls, prefix

    def __getattr__(self, name):
        async def call(*args, **kwargs):
            self._calls.append((self._prefix + name, args, kwargs))
        return call


def _discord_message(payload, calls):
    author = SimpleNamespace(id=int(payload["author"]["id"]), bot=payload["author"]["bot"],
                             roles=[SimpleNamespace(name="@everyone"), SimpleNamespace(name="Member")])
    member = Recorder(calls, "member.")
    member.id = author.id
    guild = Recorder(calls, "guild.")
    guild.id = int(payload["guild_id"])
    guild.roles = [SimpleNamespace(name="VIP", id=9)]
    guild.get_member = lambda uid: member if uid == author.id else None
    message = Recorder(calls, "message.")
    message.id, message.author, message.guild, message.content = int(payload["id"]), author, guild, payload["content"]
    message.channel = SimpleNamespace(id=int(payload["channel_id"]))
    message.created_at = datetime.fromisoformat(payload["timestamp"])
    message.mentions = [SimpleNamespace(id=int(m["id"])) for m in payload["mentions"]]
    return message


def test_discord_message_maps_to_an_event_and_decisions_to_calls():
    payload = json.loads((ROOT / "examples/payloads/discord_message_create.json").read_text(encoding="utf-8"))
    calls = []
    message = _discord_message(payload, calls)
    event = discord_cog.message_event(message)
    assert event == {"type": "message", "ts": "2026-11-02T08:15:30.123Z", "user": "301234567890123456",
                     "id": "1175928471295184958", "channel": "1175920000000000001", "community": "1175910000000000000",
                     "text": payload["content"], "roles": ["member"], "mentions": ["401234567890123456"]}
    cog = discord_cog.PolicyCog(bot=None, engine=Engine.from_text(POLICY))
    asyncio.run(cog.on_message(message))
    names = [name for name, _, _ in calls]
    assert names == ["message.delete", "member.timeout", "member.send"]
    assert calls[1][1][0].total_seconds() == 600 and calls[2][1] == ("请勿发广告",)


def test_the_discord_cog_saves_the_state_as_it_goes_and_as_it_is_removed(tmp_path):
    # cog_load starts a checkpoint every `save_every` seconds (acheckpoint, off the loop);
    # cog_unload writes the last one and lets the file go, so the next bot goes on from it.
    payload = json.loads((ROOT / "examples/payloads/discord_message_create.json").read_text(encoding="utf-8"))
    path = tmp_path / "bot.db"
    counted = 'rule third { on message when count(message by user) == 3 do flag("third") }'
    engine = Engine.from_text(counted, state=str(path))
    cog = discord_cog.PolicyCog(bot=None, engine=engine, save_every=0.01)
    saved = []
    real = engine.acheckpoint

    async def counting():
        saved.append(True)
        await real()
    engine.acheckpoint = counting

    async def session():
        await cog.cog_load()
        for _ in range(2):
            await cog.on_message(_discord_message(payload, []))
        while len(saved) < 2:                               # the minute's checkpoints, shortened
            await asyncio.sleep(0.01)
        await cog.cog_unload()
    asyncio.run(session())
    with Engine.from_text(counted, state=str(path)) as restarted:      # the file was let go of
        third = restarted.process({"type": "message", "ts": "2026-11-02T09:00:00Z",
                                   "user": str(payload["author"]["id"]), "text": "x"})
    assert [d.rule for d in third] == ["third"]
    memory_only = discord_cog.PolicyCog(bot=None, engine=Engine.from_text(counted))
    asyncio.run(memory_only.cog_load())
    assert memory_only._saving is None                    # nowhere to save: no task
    asyncio.run(memory_only.cog_unload())


def test_discord_roles_and_bans_use_the_server_objects():
    calls = []
    message = _discord_message(json.loads((ROOT / "examples/payloads/discord_message_create.json").read_text()), calls)
    engine = Engine.from_text('rule r { on message do promote("VIP"), ban(1d), slowmode(30s) }')
    decisions = engine.process({"type": "message", "ts": 0, "user": str(message.author.id), "channel": "5", "text": "x"})
    message.guild.get_channel = lambda cid: Recorder(calls, f"channel{cid}.")
    done = [asyncio.run(discord_cog.apply(d, message.guild, message)) for d in decisions]
    assert done == ["promote", "ban", "slowmode"]
    assert calls[0][0] == "member.add_roles" and calls[0][1][0].name == "VIP"
    assert calls[1][0] == "guild.ban" and calls[1][2]["delete_message_seconds"] == 0
    assert calls[2] == ("channel5.edit", (), {"slowmode_delay": 30})


def _telegram_message(update):
    m = update["message"]
    return SimpleNamespace(message_id=m["message_id"], date=m["date"], chat=SimpleNamespace(id=m["chat"]["id"]),
                           from_user=SimpleNamespace(id=m["from"]["id"]), text=m.get("text"), caption=None,
                           new_chat_members=[SimpleNamespace(id=u["id"]) for u in m.get("new_chat_members", [])])


def test_telegram_updates_map_to_events_and_decisions_to_bot_api_calls():
    updates = json.loads((ROOT / "examples/payloads/telegram_updates.json").read_text(encoding="utf-8"))
    ad, joined = (_telegram_message(u) for u in updates)
    assert telegram_router.message_events(ad) == [{
        "ts": "2026-11-02T08:15:30Z", "community": "-1001234567890", "channel": "-1001234567890", "type": "message",
        "user": "777000111", "id": "501", "text": "加微信 deal8888 领优惠"}]
    assert telegram_router.message_events(joined) == [{
        "ts": "2026-11-02T08:16:40Z", "community": "-1001234567890", "channel": "-1001234567890", "type": "join",
        "user": "777000333", "id": "502:777000333", "invited_by": "777000222"}]
    engine, calls = Engine.from_text(POLICY), []
    bot = Recorder(calls, "bot.")
    for message in (ad, joined):
        for event in telegram_router.message_events(message):
            for decision in engine.process(event):
                asyncio.run(telegram_router.apply(decision, bot, message.chat.id))
    assert [name for name, _, _ in calls] == ["bot.delete_message", "bot.restrict_chat_member", "bot.send_message",
                                              "bot.send_message"]
    assert calls[0][2] == {"chat_id": -1001234567890, "message_id": 501}
    restrict = calls[1][2]
    assert restrict["user_id"] == 777000111 and restrict["until_date"] is not None
    assert calls[3][2]["text"] == "欢迎！"


def test_an_engines_saving_task_checkpoints_as_it_goes(tmp_path):
    # Engine.asave_every, which both examples run as a task: a checkpoint every so often, off the
    # loop, until cancelled.
    path = tmp_path / "bot.db"
    counted = 'rule second { on message when count(message by user) == 2 do flag("second") }'
    engine = Engine.from_text(counted, state=str(path))
    engine.process({"type": "message", "ts": 1, "user": "7", "text": "x"})

    saved = []
    real = engine.acheckpoint

    async def counting():
        await real()
        saved.append(True)
    engine.acheckpoint = counting

    async def run_a_while():
        saving = asyncio.create_task(engine.asave_every(0.01))
        while len(saved) < 2:
            await asyncio.sleep(0.01)
        saving.cancel()
    asyncio.run(run_a_while())
    engine.close()
    with Engine.from_text(counted, state=str(path)) as restarted:
        assert [d.rule for d in restarted.process({"type": "message", "ts": 2, "user": "7", "text": "x"})] == ["second"]
