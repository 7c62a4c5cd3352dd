"""The embedded state store: one SQLite file (WAL), rewritten in one transaction per checkpoint.

A shared server store implements the same calls (load; encode and write, which save is; close);
evaluators never see either: they work on the in-memory tables a snapshot is restored into.
"""
from __future__ import annotations

import os
import sqlite3
import threading
import weakref
import zlib
from pathlib import Path
from typing import NamedTuple

import orjson

from policyengine import __version__
from policyengine.runtime import codec
from policyengine.state.collector import collector_paused
from policyengine.state.snapshot import Row

FORMAT_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS state (section TEXT NOT NULL, name TEXT NOT NULL, info TEXT NOT NULL,
                                  body BLOB NOT NULL, PRIMARY KEY (section, name));
"""


class StateFileError(Exception):
    """The file is not a state file this version can read; the message says what to do."""


class Snapshot(NamedTuple):
    number: int                 # in the order snapshots were taken
    rows: list[tuple[str, str, str, bytes]]


class SqliteStore:
    def __init__(self, path: str, alone: bool = False):
        """`alone`: for a writer (`eval --state`, an Engine), the file held locked for it from
        before it is opened to `close` (_hold_alone); readers take no lock."""
        self.path = path
        self._let_go = None     # what closes the descriptor holding the file's lock (_hold_alone)
        self.db = None
        self._writing = threading.Lock()
        self._taken = 0         # snapshots encoded, numbered in the order they were taken
        self._written = 0       # the number of the last one committed
        if alone:
            self._hold_alone()
        try:
            self._open()
        except BaseException:
            self.close()
            raise

    def _open(self) -> None:
        path = self.path
        existed = Path(path).exists() and Path(path).stat().st_size > 0
        try:
            # Any thread: a bot checkpoints from a scheduler's thread, and writes outside the
            # engine's lock. Writes are one at a time by `_writing`.
            self.db = sqlite3.connect(path, isolation_level=None, timeout=30, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            if existed:
                tables = {r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
                if not {"meta", "state"} <= tables:
                    raise StateFileError(f"{path}: not a policyengine state file (no meta/state tables)")
            self.db.executescript(_SCHEMA)
        except (sqlite3.DatabaseError, UnicodeDecodeError) as err:
            # UnicodeDecodeError: SQLite's own text (a message quoting a damaged schema) not UTF-8
            raise StateFileError(f"{path}: not a readable state file ({err}); move it away to start afresh") from None
        version = self.meta("format_version")
        if version is None and not existed:
            self.db.execute("INSERT OR REPLACE INTO meta VALUES ('format_version', ?)", (str(FORMAT_VERSION),))
        elif version != str(FORMAT_VERSION):
            raise StateFileError(f"{path}: state format {version or 'unknown'}, this policyengine reads format "
                                 f"{FORMAT_VERSION}; replay the logs into a new state file, or use the version "
                                 f"that wrote it ({self.meta('written_by') or 'unknown'})")

    def meta(self, key: str):
        try:
            row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        except (sqlite3.DatabaseError, UnicodeDecodeError) as err:
            raise self.damaged(err) from None
        return row[0] if row else None

    def meta_json(self, key: str, default=None):
        value = self.meta(key)
        try:
            return default if value is None else orjson.loads(value)
        except (orjson.JSONDecodeError, TypeError) as err:       # TypeError: a number where text was written
            raise self.damaged(err) from None

    def damaged(self, err) -> StateFileError:
        return StateFileError(f"{self.path}: the state is damaged ({err}); restore a backup or start afresh")

    def load(self) -> list[Row]:
        # the collector paused from the first allocation: one made outside (a list) set off a
        # collection owed by the allocations of a checkpoint just before, itself paused
        with collector_paused():
            sums = self.meta_json("sums")
            try:
                stored = self.db.execute("SELECT section, name, info, body FROM state ORDER BY section, name").fetchall()
                if sums is not None:
                    self._check_sums(stored, sums)
                rows = []
                for at in range(len(stored)):
                    # each body let go of once decoded: the raw state (29 MB at 100 000 members)
                    # is not held beside the whole decoded one
                    section, name, info, body = stored[at]
                    stored[at] = None
                    rows.append(Row(section, name, info, codec.loads(body)))
                return rows
            except (sqlite3.DatabaseError, ValueError, TypeError, orjson.JSONDecodeError) as err:
                # TypeError: a body decoded to something no table holds, such as a set of lists
                raise self.damaged(err) from None

    def _check_sums(self, stored: list, sums) -> None:
        """Each row's body, and the meta values written with them (the lines read of each log, the
        output's length), against the CRC-32s their checkpoint wrote beside them. SQLite keeps no
        checksum of its own: a flipped digit in a body that still reads as JSON was loaded as
        written (14 of 210 files damaged at random, thirty-second session). A file written before
        checkpoints had sums has none, and is read as before."""
        if not (isinstance(sums, dict) and isinstance(sums.get("rows"), list) and isinstance(sums.get("meta"), list)
                and all(isinstance(x, list) and len(x) == 3 for x in sums["rows"])
                and all(isinstance(x, list) and len(x) == 2 for x in sums["meta"])):
            raise ValueError("its checksums are not rows and meta values")
        expected = {(section, name): crc for section, name, crc in sums["rows"]}
        found = {(section, name): zlib.crc32(body) for section, name, _, body in stored}
        for key, crc in sums["meta"]:
            value = self.meta(key)
            expected[("meta", f"`{key}`")] = crc
            found[("meta", f"`{key}`")] = zlib.crc32(value.encode()) if isinstance(value, str) else None
        if found != expected:
            wrong = sorted(key for key in expected.keys() | found.keys() if expected.get(key) != found.get(key))
            raise ValueError(f"the rows of {', '.join(f'{s} {n}'.strip() for s, n in wrong[:3])}"
                             f"{f' and {len(wrong) - 3} more' if len(wrong) > 3 else ''} do not match the checksums "
                             f"their checkpoint wrote: the file was changed outside policyengine, or the disk damaged it")

    def save(self, rows: list[Row], meta: dict) -> None:
        """Everything in one transaction: a crash leaves the previous checkpoint whole."""
        self.write(self.encode(rows), meta)

    def encode(self, rows: list[Row]) -> Snapshot:
        """The rows as the bytes a checkpoint writes, numbered: taken while the state holds still
        (under the engine's lock), and written after (`write`) while it moves on."""
        with collector_paused():
            encoded = [(r.section, r.name, r.info, codec.dumps(r.value)) for r in rows]
        self._taken += 1
        return Snapshot(self._taken, encoded)

    def encode_more(self, snapshot: Snapshot, rows: list[Row]) -> None:
        """Rows added to a snapshot taken before, written with it: those that hold still without
        the state (the timers' copy), encoded after it is let go of."""
        with collector_paused():
            snapshot.rows.extend((r.section, r.name, r.info, codec.dumps(r.value)) for r in rows)

    def write(self, snapshot: Snapshot, meta: dict) -> bool:
        """The snapshot committed in one transaction, unless a later one was committed first
        (two threads' checkpoints, the second quicker to write): False then."""
        db = self.db
        with self._writing:
            if snapshot.number <= self._written:
                return False
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute("DELETE FROM state")
                db.executemany("INSERT INTO state VALUES (?, ?, ?, ?)", snapshot.rows)
                values = [(k, v if isinstance(v, str) else orjson.dumps(v).decode()) for k, v in meta.items()]
                sums = {"rows": [[section, name, zlib.crc32(body)] for section, name, _, body in snapshot.rows],
                        "meta": [[k, zlib.crc32(v.encode())] for k, v in values]}
                db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                               values + [("written_by", f"policyengine {__version__}"),
                                         ("sums", orjson.dumps(sums).decode())])
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            self._written = snapshot.number
            return True

    def sizes(self) -> list[tuple[str, int, int]]:
        """(section, rows, bytes) for `state stats`."""
        try:
            return list(self.db.execute("SELECT section, COUNT(*), SUM(LENGTH(body)) FROM state GROUP BY section "
                                        "ORDER BY section"))
        except (sqlite3.DatabaseError, UnicodeDecodeError) as err:
            raise self.damaged(err) from None

    def _hold_alone(self) -> None:
        """The file locked for this process's writer alone (flock, which SQLite's own locks do not
        touch; the kernel lets go of it when the process ends, however it ends), taken before
        SQLite opens it: a refused writer does not even fold the holder's log into the file. Two
        writers on one file — two cron jobs that overlap, a bot's new instance started before the
        old one stopped — each loaded the other's checkpoints midway, and the last to commit
        overwrote the other's work. Readers (`state show`) take no lock; SQLite keeps their reads whole."""
        import fcntl
        try:
            held = os.open(self.path, os.O_RDONLY | os.O_CREAT, 0o644)
        except OSError as err:
            raise StateFileError(f"{self.path}: cannot open it ({err.strerror})") from None
        try:
            fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(held)
            raise StateFileError(f"{self.path}: in use by another run of policyengine eval or another Engine; "
                                 f"wait for it to end (an Engine lets go at close()), or give another state file") from None
        # Let go at close, or when this store is collected: an Engine dropped without close()
        # must not keep its file locked for the rest of the process.
        self._let_go = weakref.finalize(self, os.close, held)

    def close(self) -> None:
        """The connection closed once a write under way has ended, and the lock (_hold_alone) let
        go; again does nothing."""
        try:
            with self._writing:
                if self.db is not None:
                    self.db.close()
        finally:
            if self._let_go is not None:
                self._let_go()
