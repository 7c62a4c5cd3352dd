"""An aiogram (Telegram) router that runs policyengine in a group: updates in, decisions out.

    engine = Engine.load("policies/community", state="community.db")
    dispatcher.include_router(build_router(engine))     # saves the state every minute, and at shutdown

The mapping functions are plain and tested with recorded Bot API updates and a fake bot
(tests/test_bots.py). aiogram is imported only if installed.
"""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone


def _ts(moment) -> str:
    if isinstance(moment, (int, float)):
        moment = datetime.fromtimestamp(moment, tz=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def message_events(message) -> list[dict]:
    """aiogram Message → events: a `message`, or one `join` per new member."""
    base = {"ts": _ts(message.date), "community": str(message.chat.id), "channel": str(message.chat.id)}
    new = getattr(message, "new_chat_members", None)
    if new:
        inviter = str(message.from_user.id)
        return [{**base, "type": "join", "user": str(m.id), "id": f"{message.message_id}:{m.id}",
                 **({"invited_by": inviter} if inviter != str(m.id) else {})} for m in new]
    return [{**base, "type": "message", "user": str(message.from_user.id), "id": str(message.message_id),
             "text": message.text or message.caption or ""}]


async def apply(decision, bot, chat_id: int) -> str:
    """Carry out one decision with Bot API calls; returns what was done."""
    action, user = decision.action, int(decision.user) if decision.user else None
    until = None
    if decision.duration_s:
        until = datetime.now(timezone.utc) + timedelta(seconds=decision.duration_s)
    if action == "delete":
        await bot.delete_message(chat_id=chat_id, message_id=int(decision.message_id))
    elif action == "mute":
        await bot.restrict_chat_member(chat_id=chat_id, user_id=user, permissions=_permissions(False), until_date=until)
    elif action == "unmute":
        await bot.restrict_chat_member(chat_id=chat_id, user_id=user, permissions=_permissions(True))
    elif action == "ban":
        await bot.ban_chat_member(chat_id=chat_id, user_id=user, until_date=until)
    elif action == "unban":
        await bot.unban_chat_member(chat_id=chat_id, user_id=user, only_if_banned=True)
    elif action == "kick":
        await bot.ban_chat_member(chat_id=chat_id, user_id=user)
        await bot.unban_chat_member(chat_id=chat_id, user_id=user, only_if_banned=True)
    elif action in ("warn", "notify") and decision.message:
        await bot.send_message(chat_id=chat_id, text=decision.message)
    elif action == "set_title":
        await bot.set_chat_administrator_custom_title(chat_id=chat_id, user_id=user, custom_title=decision.title[:16])
    elif action == "slowmode":
        return "skipped: Telegram has no slowmode call for bots"
    else:
        return f"skipped: {action}"
    return action


def _permissions(can_send: bool):
    try:  # pragma: no cover - with aiogram installed
        from aiogram.types import ChatPermissions
        return ChatPermissions(can_send_messages=can_send)
    except ImportError:
        return {"can_send_messages": can_send}


def build_router(engine):  # pragma: no cover - needs aiogram
    from aiogram import Bot, Router
    from aiogram.types import Message

    router = Router(name="policyengine")

    @router.message()
    async def on_message(message: Message, bot: Bot):
        for event in message_events(message):
            for decision in await engine.aprocess(event):
                await apply(decision, bot, message.chat.id)

    saving = []

    @router.startup()
    async def start_saving():
        if engine.state_path is not None:
            saving.append(asyncio.create_task(engine.asave_every(60.0)))

    @router.shutdown()
    async def save_last():
        for task in saving:
            task.cancel()
        await engine.aclose()                           # the last checkpoint, off the loop

    return router

