"""A seeded generator of realistic community event logs (JSON Lines).

Heavy-tailed member activity, Chinese and English chat, spam accounts that post ads in
bursts, the odd abusive message and flood, reactions to earlier messages, daily
check-ins, joins, invites and reports. The same seed and size give the same log, byte
for byte.

    python -m benchmarks.loggen --events 100000 --seed 7 > log.jsonl
"""
from __future__ import annotations

import argparse
import itertools
import random
import sys
from datetime import datetime, timedelta, timezone

import orjson

START = datetime(2026, 11, 2, 0, 0, tzinfo=timezone.utc)

CHAT_ZH = ["大家好，今天的分享会几点开始？", "这个问题我也遇到过，重启一下就好了", "谢谢楼主的整理，非常有用",
           "有人用过这个工具吗？想听听大家的意见", "周末的线下活动还有名额吗", "我把上次讨论的要点总结了一下，放在群文件里",
           "同意楼上的看法", "早上好！", "这个链接打不开，谁能再发一次", "新人报到，请多关照",
           "今天签到了吗？连续七天有徽章哦", "哈哈哈哈", "晚安各位", "求推荐入门教程", "这周的主题讨论是什么？"]
CHAT_EN = ["Hello everyone!", "Does anyone know when the AMA starts?", "Thanks, that fixed it for me.",
           "I wrote up a summary of yesterday's thread, it's pinned.", "+1, same here", "Good morning :)",
           "Can someone share the slides again?", "Welcome to the new members!", "lol", "Which version are you on?",
           "I think the docs cover this: https://docs.example.org/guide", "See you at the meetup"]
ADS = ["加微信领取优惠券，vx: deal8888", "兼职日结，加微信 abc123 详聊", "Cheap followers at promo.example/buy now!!!",
       "点击 promo.example/free 免费领取会员", "WeChat me for discount codes: wechat promo2026", "代理招募，加微信了解"]
ABUSE = ["你是个白痴", "you idiot", "滚出去，傻瓜", "shut up, moron", "垃圾发言"]
OPENERS_ZH = ["", "", "哈哈，", "嗯，", "说实话，", "@群主 ", "补充一下：", "同问，"]
TAILS_ZH = ["", "", "", "～", "！", "。", "？", " 😂", " 👍", "，谢谢"]
OPENERS_EN = ["", "", "Hey, ", "Honestly, ", "Quick question: ", "FWIW ", "@mods "]
TAILS_EN = ["", "", "", "!", " :)", " 👍", " thanks", "?"]
RAIDS = ["🔥🔥 FREE NITRO for everyone, claim at promo.example/nitro 🔥🔥", "全体注意：点击领取红包 promo.example/hb"]
CHANNELS = ["general", "general", "general", "help", "help", "offtopic", "announcements"]
EMOJI = ["👍", "❤️", "😂", "🎉", "👀"]


def generate(events: int, seed: int = 7, members: int = 2000, spammers: int = 40):
    """Yield event dicts in time order."""
    rng = random.Random(seed)
    # Pareto weights give a few very active members and a long quiet tail.
    weights = [rng.paretovariate(1.2) for _ in range(members)]
    # summed once: `choices(ids, weights)` sums them on every call, O(members) an event (a
    # 100 000-member log took 20 minutes); the same floats, so the same draws
    cum_weights = list(itertools.accumulate(weights))
    ids = [f"u{i}" for i in range(members)]
    staff = set(rng.sample(ids, 5))
    spam_ids = [f"s{i}" for i in range(spammers)]
    joined: set[str] = set(ids[: members // 2])
    pending_joins = [u for u in ids[members // 2:]] + spam_ids
    rng.shuffle(pending_joins)
    recent: list[tuple[str, str]] = []      # (message id, author)
    now = START
    n = 0
    last_checkin: dict[str, str] = {}
    spam_burst: list[str] = []
    while n < events:
        now += timedelta(milliseconds=int(rng.expovariate(1 / 4000)) + 1)
        ts = now.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        roll = rng.random()
        if spam_burst:
            user = spam_burst.pop()
            yield _message(n, ts, user, rng.choice(ADS), rng.choice(CHANNELS), [], recent)
        elif roll < 0.01 and pending_joins:
            user = pending_joins.pop()
            joined.add(user)
            inviter = rng.choice(ids[:50])
            yield {"type": "join", "ts": ts, "user": user, "id": f"e{n}", "community": "c1", "invited_by": inviter}
        elif roll < 0.013:
            spammer = rng.choice(spam_ids)
            if spammer in joined:
                spam_burst = [spammer] * rng.randint(2, 6)
            continue
        elif roll < 0.0133:
            # a copypasta raid: several spam accounts, one text, within a few minutes
            raiders = [u for u in spam_ids if u in joined][:8]
            text = rng.choice(RAIDS)
            for k, raider in enumerate(raiders):
                t = (now + timedelta(seconds=20 * k)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
                yield _message(n, t, raider, text, rng.choice(CHANNELS), [], recent)
                n += 1
            now += timedelta(seconds=20 * len(raiders) + 1)
            continue
        elif roll < 0.16 and recent:
            target, author = rng.choice(recent[-500:])
            user = rng.choices(ids, cum_weights=cum_weights)[0]
            yield {"type": "reaction", "ts": ts, "user": user, "id": f"e{n}", "community": "c1",
                   "target": target, "target_user": author, "emoji": rng.choice(EMOJI)}
        elif roll < 0.19:
            user = rng.choices(ids, cum_weights=cum_weights)[0]
            day = ts[:10]
            if last_checkin.get(user) == day and rng.random() < 0.7:
                continue
            last_checkin[user] = day
            yield {"type": "checkin", "ts": ts, "user": user, "id": f"e{n}", "community": "c1"}
        elif roll < 0.192 and recent:
            target, author = rng.choice(recent[-200:])
            user = rng.choices(ids, cum_weights=cum_weights)[0]
            yield {"type": "report", "ts": ts, "user": user, "id": f"e{n}", "community": "c1",
                   "target": target, "target_user": author, "reason": "spam"}
        else:
            user = rng.choices(ids, cum_weights=cum_weights)[0]
            roles = ["moderator"] if user in staff else []
            r = rng.random()
            if r < 0.004:
                text = rng.choice(ABUSE)
            elif r < 0.006:
                # a flood: the same member, many short messages, one second apart
                for k in range(rng.randint(8, 14)):
                    if n >= events:
                        break
                    t = (now + timedelta(seconds=k)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
                    yield _message(n, t, user, rng.choice(["刷屏", "!!!", "111", "顶"]), "general", roles, recent)
                    n += 1
                now += timedelta(seconds=15)
                continue
            else:
                text = _chat(rng)
            yield _message(n, ts, user, text, rng.choice(CHANNELS), roles, recent)
        n += 1


def stretched(events, factor: float):
    """The same events with the time since START multiplied by `factor`: days-long silences,
    streaks and month ends happen in a short log."""
    for e in events:
        offset = datetime.fromisoformat(e["ts"]) - START
        e["ts"] = (START + offset * factor).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        yield e


def _chat(rng) -> str:
    """An ordinary chat line: a sentence with a varied opening and ending, so lines rarely repeat."""
    if rng.random() < 0.6:
        text = rng.choice(OPENERS_ZH) + rng.choice(CHAT_ZH).rstrip("。！？") + rng.choice(TAILS_ZH)
    else:
        text = rng.choice(OPENERS_EN) + rng.choice(CHAT_EN) + rng.choice(TAILS_EN)
    if rng.random() < 0.3:
        text += f" #{rng.randint(1, 999)}"
    return text


def _message(n, ts, user, text, channel, roles, recent):
    mid = f"e{n}"
    recent.append((mid, user))
    if len(recent) > 2000:
        del recent[:1000]
    event = {"type": "message", "ts": ts, "user": user, "id": mid, "community": "c1", "channel": channel, "text": text}
    if roles:
        event["roles"] = roles
    return event


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=100_000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--members", type=int, default=2000)
    a = p.parse_args(argv)
    out = sys.stdout.buffer
    for event in generate(a.events, a.seed, a.members):
        out.write(orjson.dumps(event) + b"\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
