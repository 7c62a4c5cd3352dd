"""All engine state behind one interface. This release keeps it in memory.

Evaluators get plain dict/set tables from the store once, at load time, and work on
them directly; a durable store persists and restores the same tables.
"""
from __future__ import annotations

from collections import deque


class MemoryStore:
    def __init__(self) -> None:
        self.windows: dict[str, dict[object, deque]] = {}     # aggregate fingerprint → key → event times (µs)
        self.counts: dict[str, dict[object, int]] = {}       # aggregate fingerprint → key → all-time count
        self.once: dict[str, set] = {}                        # rule id → keys that already fired
        self.cooldowns: dict[str, dict[object, int]] = {}    # rule id → key → time (µs) the cooldown ends
        self.labels: dict[str, dict[str, int | None]] = {}   # member → label → expiry (µs) or None

    def window_table(self, fingerprint: str) -> dict:
        return self.windows.setdefault(fingerprint, {})

    def count_table(self, fingerprint: str) -> dict:
        return self.counts.setdefault(fingerprint, {})

    def once_table(self, rule_id: str) -> set:
        return self.once.setdefault(rule_id, set())

    def cooldown_table(self, rule_id: str) -> dict:
        return self.cooldowns.setdefault(rule_id, {})

    def label_table(self) -> dict:
        return self.labels

    def stats(self) -> dict[str, int]:
        return {
            "window keys": sum(len(t) for t in self.windows.values()),
            "window entries": sum(len(d) for t in self.windows.values() for d in t.values()),
            "count keys": sum(len(t) for t in self.counts.values()),
            "once keys": sum(len(t) for t in self.once.values()),
            "cooldown keys": sum(len(t) for t in self.cooldowns.values()),
            "labelled members": len(self.labels),
        }
