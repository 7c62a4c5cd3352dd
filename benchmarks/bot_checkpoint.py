"""What a bot's checkpoint costs the events around it: the time under the engine's lock, the whole
checkpoint, and the longest an asyncio loop waits during `acheckpoint()` and during `checkpoint()`
called on the loop.

    python -m benchmarks.bot_checkpoint --events 1000000 --members 100000

An Engine with a state file replays a generated log in process (the community pack by default),
then checkpoints `--rounds` times each way. "Under the lock" is `Engine._take`, what
`Engine.checkpoint` does while it holds it; "all under the lock" is the same state encoded whole
there, as before the thirty-third session. The
loop's wait is the longest gap of a task ticking every millisecond. Nothing here is asserted.
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import tempfile
import time

from benchmarks.loggen import generate
from policyengine import Engine
from policyengine.state.snapshot import TimersTaken, capture


def lock_times(engine: Engine, rounds: int) -> dict[str, list[float]]:
    """Seconds under the lock (`Engine._take`, what the checkpoint does while it holds it), and the
    whole checkpoint; and, as before the thirty-third session, with all the state encoded there."""
    file, store, compiled = engine._state_file, engine.evaluator.store, engine.compiled
    times: dict[str, list[float]] = {"under the lock": [], "all under the lock": [], "whole checkpoint": []}
    for _ in range(rounds):
        started = time.perf_counter()
        rows = capture(store, compiled, to_write=True)
        file.encode([r for r in rows if r.value.__class__ is not TimersTaken])
        times["all under the lock"].append(time.perf_counter() - started)
        started = time.perf_counter()
        taken = engine._take()
        held = time.perf_counter()
        engine._write_taken(*taken)
        times["under the lock"].append(held - started)
        times["whole checkpoint"].append(time.perf_counter() - started)
    return times


async def _longest_wait(save) -> float:
    """The longest the loop left a task ticking every millisecond waiting while `save` ran."""
    gaps: list[float] = []
    done = False

    async def ticker() -> None:
        last = time.perf_counter()
        while not done:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now
    task = asyncio.create_task(ticker())
    await asyncio.sleep(0.02)
    await save()
    await asyncio.sleep(0.01)
    done = True
    await task
    return max(gaps)


def loop_waits(engine: Engine, rounds: int) -> dict[str, list[float]]:
    async def on_the_loop() -> None:
        engine.checkpoint()
    waits: dict[str, list[float]] = {"loop's wait, acheckpoint()": [], "loop's wait, checkpoint() on it": []}
    for _ in range(rounds):
        waits["loop's wait, acheckpoint()"].append(asyncio.run(_longest_wait(engine.acheckpoint)))
        waits["loop's wait, checkpoint() on it"].append(asyncio.run(_longest_wait(on_the_loop)))
    return waits


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--policy", action="append", default=None)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        engine = Engine.load(*(args.policy or ["policies/community"]), state=os.path.join(folder, "bot.db"))
        for event in generate(args.events, members=args.members):
            engine.process(event)
        gc.freeze()                     # as a bot's long-lived state is, after a while
        results = {**lock_times(engine, args.rounds), **loop_waits(engine, max(1, args.rounds // 2))}
        engine.close()
    print(f"{args.events} events over {args.members} members; ms, medians (min–max) of {args.rounds} rounds")
    for name, seconds in results.items():
        print(f"{name:34s} {1000 * statistics.median(seconds):8.1f}  ({1000 * min(seconds):.1f}–{1000 * max(seconds):.1f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
