"""`eval --state FILE`: resume where the last checkpoint left off, and checkpoint as it goes.

Exactly-once output to a file: at a checkpoint the output is flushed and synced first, then
the state, the input positions and the output's length are committed in one transaction. A
restart truncates the output to the committed length and skips the committed input lines,
so decisions written after the last checkpoint are written again exactly once. Standard
input cannot be re-read and standard output cannot be truncated: with either, a restart
gives at-least-once (the docs say so).
"""
from __future__ import annotations

import hashlib
import os
import sqlite3
import stat
import threading
import time

from policyengine.compiler import CompiledProgram
from policyengine.logs import SPLIT_MANIFEST, is_split
from policyengine.runtime.store import MemoryStore
from policyengine.state.snapshot import capture, restore, written
from policyengine.state.sqlite import SqliteStore


def log_identity(name: str) -> str:
    """A log file's identity across runs: its real path and a hash of its first 4 KiB (of a split
    log's folder, of its manifest)."""
    if name == "-":
        return "<stdin>"
    with open(os.path.join(name, SPLIT_MANIFEST) if is_split(name) else name, "rb") as f:
        head = f.read(4096)
    return f"{os.path.realpath(name)}#{hashlib.sha256(head).hexdigest()[:16]}"


class CheckpointError(Exception):
    """A checkpoint could not be committed (a full disk, a file taken away): the state file still
    holds the last one that was."""


PAUSE = 9.0         # the work between checkpoints, at least this many times a checkpoint's own time


def _progress_shaped(progress) -> bool:
    return isinstance(progress, dict) and all(isinstance(k, str) and type(v) is int and v >= 0
                                              for k, v in progress.items())


def _output_shaped(output) -> bool:
    return output is None or (isinstance(output, dict) and isinstance(output.get("path"), str)
                              and type(output.get("bytes")) is int and output["bytes"] >= 0)


class StateSession:
    def __init__(self, path: str, compiled: CompiledProgram, every_events: int = 1_000_000,
                 every_seconds: float = 10.0):
        self.file = SqliteStore(path, alone=True)
        self.compiled = compiled
        try:
            rows = self.file.load()
            self.store, self.dropped = restore(rows, compiled) if rows else (MemoryStore(), [])
            self.progress: dict[str, int] = self.file.meta_json("progress", {}) or {}
            self.output_meta = self.file.meta_json("output", None)
            if not _progress_shaped(self.progress) or not _output_shaped(self.output_meta):
                raise self.file.damaged("its progress is not lines read by log, or its output not a path and a length")
        except BaseException:
            self.file.close()                   # and its lock
            raise
        self.every_events = max(1, every_events)
        self.every_seconds = every_seconds
        self.last_commit = time.monotonic()
        self.pause = 0.0                # the least time between checkpoints: PAUSE × the last one's
        self.out = None
        self.out_path: str | None = None
        self.checkpoints = 0
        self._writer: threading.Thread | None = None       # the last checkpoint's write, on a thread
        self._write_failed: BaseException | None = None

    # ---- output ------------------------------------------------------------------------
    def open_output(self, path: str):
        """Reopen the output the last run wrote, cut back to what the last checkpoint committed.
        An output that is not a regular file (`/dev/null`, a pipe by name, a terminal) can be
        neither cut back nor synced: it is written as standard output is, at-least-once."""
        real = os.path.realpath(path)
        if os.path.exists(path) and not stat.S_ISREG(os.stat(path).st_mode):
            return open(path, "wb")
        meta = self.output_meta
        if meta and meta.get("path") == real and os.path.exists(path):
            out = open(path, "r+b")
            out.truncate(meta["bytes"])
            out.seek(meta["bytes"])
        else:
            out = open(path, "wb")
        self.out, self.out_path = out, real
        return out

    # ---- input -------------------------------------------------------------------------
    def lines_done(self, identity: str) -> int:
        return 0 if identity == "<stdin>" else int(self.progress.get(identity, 0))

    # ---- checkpoints ---------------------------------------------------------------------
    def due(self, lines: int) -> bool:
        """Whether to checkpoint now, `lines` lines after the last: every_events lines or
        every_seconds seconds on, and never sooner than PAUSE times the last checkpoint's own
        time after it (nor while it is still being written). A checkpoint rewrites the whole
        state, so its cost grows with the members: 10M events over 1M members checkpointed every
        10⁶ lines took 11.5 s against 5.1 s in memory (ten checkpoints of ~0.6 s). The pause keeps
        checkpoints to about a tenth of a run however large the state, and a crash then costs at
        most a few checkpoints' time again."""
        if self._writer is not None and self._writer.is_alive():
            return False
        since = time.monotonic() - self.last_commit
        return since >= self.pause and (lines >= self.every_events or since >= self.every_seconds)

    def checkpoint(self, identity: str | None, lines: int) -> None:
        """The output synced, then the state taken here and committed on a thread while the
        replay goes on: SQLite lets go of the interpreter while it writes and syncs, so the
        commit runs on the other core (over 10M events of 1M members, four of five checkpoints'
        writes, ~0.27 s, came off the run). The next checkpoint, and close, wait for it first, so
        commits stay in order and each follows the output it counts."""
        self.wait_written()
        started = time.monotonic()
        if identity is not None and identity != "<stdin>":
            self.progress[identity] = lines
        meta: dict = {"progress": dict(self.progress)}
        if self.out is not None:
            self.out.flush()
            os.fsync(self.out.fileno())
            meta["output"] = {"path": self.out_path, "bytes": self.out.tell()}
        snapshot = self.file.encode(written(capture(self.store, self.compiled, to_write=True)))
        taken = time.monotonic() - started
        self._writer = threading.Thread(target=self._write, args=(snapshot, meta, taken),
                                        name="policyengine-checkpoint")
        self._writer.start()
        self.checkpoints += 1

    def _write(self, snapshot, meta: dict, taken: float) -> None:
        started = time.monotonic()
        try:
            self.file.write(snapshot, meta)
        except sqlite3.Error as err:            # raised where the session is next asked to wait
            self._write_failed = CheckpointError(f"{self.file.path}: a checkpoint could not be written ({err}); "
                                                 "the file holds the last one that was")
            return
        except BaseException as err:
            self._write_failed = err
            return
        self.last_commit = time.monotonic()
        self.pause = PAUSE * (taken + self.last_commit - started)

    def wait_written(self) -> None:
        """Until the last checkpoint is committed; what its write raised, raised here."""
        if self._writer is not None:
            self._writer.join()
            self._writer = None
        if self._write_failed is not None:
            failed, self._write_failed = self._write_failed, None
            raise failed

    def close(self) -> None:
        try:
            self.wait_written()
        finally:
            self.file.close()                   # the lock goes with it
