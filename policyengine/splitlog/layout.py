"""A split log's folder: its manifest (`split.json`), its files, and the fields by which its scan
judged a line sure."""
from __future__ import annotations

import os

import msgspec

from policyengine.events.records import SCAN_KINDS
from policyengine.events.routing import USER_KIND
from policyengine.logs import SPLIT_MANIFEST as MANIFEST, SPLIT_PARTS as MAX_PARTS, LogOpenError

FORMAT = "policyengine-split"
VERSION = 1
CLOCK = "clock.bin"              # eight bytes a line of the log (events/_route_split.h)
UNSURE = "unsure.jsonl"          # the lines the scan was not sure of, in the log's order
# Each chunk's lines as the split read the log (four bytes a chunk): one worker reads the split back
# in the same chunks, so where the record loop hands on a stretch's decisions is where it does over
# the log (the report counts a decision's channel then: tests/test_split.py).
CHUNKS = "chunks.bin"

# "Sure" must not depend on the program that will read the split (it is made once, for any):
# every field of the event contract of its kind (model.Event), `user` the member, `ts` an RFC 3339
# time; other keys any JSON. A program that reads a field of its own with a kind (a number, a
# flag) may still refuse a sure line: its worker then stops the run, which goes to one worker
# (exact, with a note), as when the route over a whole log was wrong.
SPLIT_FIELDS = ((b"type", SCAN_KINDS["name"]), (b"user", USER_KIND), (b"ts", SCAN_KINDS["time"]),
                (b"id", SCAN_KINDS["id"]), (b"community", SCAN_KINDS["text"]), (b"channel", SCAN_KINDS["text"]),
                (b"text", SCAN_KINDS["text"]), (b"target", SCAN_KINDS["text"]),
                (b"target_user", SCAN_KINDS["text"]), (b"roles", SCAN_KINDS["list"]))


class SplitError(LogOpenError):
    """A split log that cannot be made or read as one; the message says which file and why (eval says
    it as it says a log it cannot open)."""


class Manifest(msgspec.Struct, frozen=True):
    format: str
    version: int
    log: str                     # the log split, as named then: bad lines are numbered in it
    parts: int
    partition: str               # hex: member bucket (CRC-32 modulo its length) → part
    lines: int                   # the log's lines, the clock's entries
    part_lines: list[int]
    unsure_lines: int
    part_bytes: list[int]        # each file's size: a part cut short, grown or swapped is found before a run
    unsure_bytes: int
    max_line_bytes: int          # longer lines were left out, each marked in the clock …
    overlong_lines: int          # … this many
    chunks: int                  # chunks.bin's entries

    def partition_bytes(self) -> bytes:
        return bytes.fromhex(self.partition)


def part_file(k: int) -> str:
    return f"part-{k:03d}.jsonl"


def read_manifest(folder: str) -> Manifest:
    """The manifest of the split in `folder`, its files checked against it (sizes, not contents);
    SplitError saying what is wrong otherwise."""
    path = os.path.join(folder, MANIFEST)
    try:
        with open(path, "rb") as f:
            manifest = msgspec.json.decode(f.read(), type=Manifest)
    except OSError as err:
        raise SplitError(f"{path}: cannot be read: {err.strerror or err}") from None
    except msgspec.ValidationError as err:
        raise SplitError(f"{path}: not a split log's manifest ({err}); split the log again") from None
    except msgspec.DecodeError:
        raise SplitError(f"{path}: not a split log's manifest (not JSON)") from None
    if manifest.format != FORMAT or manifest.version != VERSION:
        raise SplitError(f"{path}: a split log of another format or version ({manifest.format} "
                         f"{manifest.version}); split the log again")
    partition = bytes.fromhex(manifest.partition) if _hex(manifest.partition) else b""
    if (not 1 <= manifest.parts <= MAX_PARTS or not partition or max(partition) >= manifest.parts
            or len(manifest.part_lines) != manifest.parts or len(manifest.part_bytes) != manifest.parts):
        raise SplitError(f"{path}: its parts and partition disagree; split the log again")
    files = [CLOCK, UNSURE, CHUNKS] + [part_file(k) for k in range(manifest.parts)]
    for name in files:
        if not os.path.isfile(os.path.join(folder, name)):
            raise SplitError(f"{os.path.join(folder, name)}: missing from the split log; split the log again")
    if os.path.getsize(os.path.join(folder, CLOCK)) != 8 * manifest.lines:
        raise SplitError(f"{os.path.join(folder, CLOCK)}: not {manifest.lines} entries as its manifest says; "
                         "split the log again")
    sizes = [(part_file(k), manifest.part_bytes[k]) for k in range(manifest.parts)] + [(UNSURE, manifest.unsure_bytes),
                                                                                     (CHUNKS, 4 * manifest.chunks)]
    for name, size in sizes:
        if os.path.getsize(os.path.join(folder, name)) != size:
            raise SplitError(f"{os.path.join(folder, name)}: not the {size:,} bytes its manifest says; "
                             "split the log again")
    return manifest


def _hex(text: str) -> bool:
    try:
        bytes.fromhex(text)
        return True
    except ValueError:
        return False
