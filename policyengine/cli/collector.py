"""The cycle collector's settings for a replay (`eval`, `diff`): what start-up built frozen out of its
sight, and collections a fiftieth as often, restored after the run."""
from __future__ import annotations

import gc


def quiet_collector() -> tuple:
    """Evaluation makes no reference cycles of its own, only state that lives until the run ends
    (windows, ledgers, members); the cycle collector walked it again and again (2 % of the
    community pack's instructions an event on 20 000 events, more as state grows). What start-up built is
    frozen out of its sight, and it runs a fiftieth as often. Only `eval` and `diff` do this, for
    their run: a bot that embeds the engine keeps its own collector settings. Returns what to restore."""
    saved = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(35_000, 20, 20)
    return saved


def restore_collector(saved) -> None:
    gc.set_threshold(*saved)
    gc.unfreeze()
