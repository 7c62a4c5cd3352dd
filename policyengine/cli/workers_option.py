"""How many workers `eval` runs: `--workers N|auto` read, the open files they need, and why a run
stays on one worker (compiler/partition.py's blockers, standard input, `--state`, `--profile`)."""
from __future__ import annotations

import argparse
import os
import sys

from policyengine.compiler.partition import blockers
from policyengine.logs import is_split

AUTO = 0                       # --workers auto
# Below this much log, workers save too little to bother (forking, the parent's sample of the log
# and the merge cost ~0.03 s). Measured on two cores: the reference policies, cheap rules, break
# even near 100 000 lines (16 MB; 0.94x at 8 MB, 10 ms lost), per-member spam rules gain 1.5x by
# 30 000 (5 MB). A size where the first lose little and the second gain most of their share.
AUTO_MIN_BYTES = 8 << 20


# The parent merges the workers' spools in one C call that takes at most 256 (output/_decisions.c:
# MOST_SPOOLS); 300 workers were an internal error, and each is a process: past the cores, none pays.
MOST_WORKERS = 256
FILES_A_WORKER = 4              # its pipes, its spool and log while the parent merges: 3 measured, one spare
FILES_BESIDE = 64               # the parent's own: logs, outputs, the interpreter's


def worker_count(text: str) -> int:
    """`--workers`'s value as argparse reads it: 1 to MOST_WORKERS, or AUTO for `auto`."""
    if text == "auto":
        return AUTO
    try:
        n = int(text)
    except ValueError:
        n = 0
    if not 1 <= n <= MOST_WORKERS:
        raise argparse.ArgumentTypeError(f"give 1 to {MOST_WORKERS}, or auto")
    return n


def files_for(workers: int) -> str | None:
    """Room for `workers` processes' open files: the soft limit raised toward the hard one where it
    is short (as servers do), or why it cannot be (100 workers under `ulimit -n 256` ran out of
    file descriptors midway, an internal error)."""
    import resource
    need = workers * FILES_A_WORKER + FILES_BESIDE
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= need:
        return None
    if hard == resource.RLIM_INFINITY or hard >= need:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
            return None
        except (ValueError, OSError):
            pass
    return (f"--workers {workers}: {workers} worker processes need about {need} open files and this process may "
            f"open {hard if hard != resource.RLIM_INFINITY else soft}; give fewer workers, or raise the limit "
            f"(ulimit -n)")


def auto_workers(cores: int, log_bytes: int | None, splittable: bool) -> int:
    """`--workers auto`: every core this process may use, when the run can be split and its logs
    (`log_bytes`, None when a size is unknown beforehand: standard input) are long enough for the
    split to pay; otherwise one."""
    if not splittable or log_bytes is None or log_bytes < AUTO_MIN_BYTES:
        return 1
    return max(1, cores)


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))          # what this process may run on (containers, taskset)
    except AttributeError:                           # pragma: no cover - not Linux
        return os.cpu_count() or 1


def logs_bytes(logs: list[str]) -> int | None:
    """The bytes of lines the logs hold, or None where that cannot be known beforehand (`-`)."""
    try:
        return sum(_log_bytes(name) for name in logs)
    except (OSError, ValueError):                    # `-`, or a log gone since check_readable
        return None


def _log_bytes(name: str) -> int:
    """A log file's size; a .gz log's as its gzip trailer gives it (the uncompressed size modulo
    4 GiB, of its last member: a log of several members, or past 4 GiB, reads as less, never as
    more than its lines), or the compressed size where that is larger."""
    size = os.path.getsize(name)
    if name.endswith(".gz") and size >= 18:          # the smallest gzip file: header and trailer
        with open(name, "rb") as f:
            f.seek(-4, os.SEEK_END)
            size = max(size, int.from_bytes(f.read(4), "little"))
    return size


def split_of(logs: list[str]):
    """The logs' manifests where they are split logs (splitlog/), None where none is; a usage
    error's text where some are and some are not, or they were split differently: their parts are
    read by the same workers, so they must share members' parts."""
    split = [name for name in logs if is_split(name)]
    if not split:
        return None
    from policyengine.splitlog import read_manifest       # only for split logs: ~5 M instructions of start-up
    if len(split) != len(logs):
        return (f"{split[0]} is a split log and {next(n for n in logs if n not in split)} is not: give split logs "
                "alone, or split each log")
    manifests = [read_manifest(name) for name in split]
    if any((m.parts, m.partition) != (manifests[0].parts, manifests[0].partition) for m in manifests[1:]):
        return (f"{split[0]} and the other split logs were split differently: split each the same way "
                "(policyengine split --like FIRST)")
    return manifests


def split_workers(args, program, parts: int) -> int:
    """The workers of a run over split logs of `parts` parts: one per part, unless the run cannot
    be split (then one, reading the parts back in the log's order) or one is asked for. Notes only
    where a number of workers was asked for."""
    if args.workers == 1 or parts == 1:
        return 1
    from policyengine.events.routing import parted
    why = why_one_worker(args, program)
    if why is None and parted is None:               # pragma: no cover - no C compiler at install
        why = "the split log's reader (events/_route.c) was not built"
    if why is not None:
        if args.workers not in (None, AUTO):
            sys.stderr.write(f"note: --workers {args.workers}: running on one worker: {why}\n")
        return 1
    if args.workers not in (None, AUTO, parts):
        sys.stderr.write(f"note: --workers {args.workers}: a log split in {parts} parts runs on {parts} workers\n")
    return parts


def why_one_worker(args, program) -> str | None:
    """Why this run cannot be split among workers, or None."""
    if "-" in args.logs:
        return "standard input can be read only once"
    if args.state:
        return "--state keeps one state file"
    if args.profile:
        return "--profile times each rule in one process"
    found = blockers(program)
    if found:
        first = found[0].what + (f" ({found[0].where})" if found[0].where else "")
        more = len(found) - 1
        return first + (f"; {more} more construct{'s' if more != 1 else ''} keep{'' if more != 1 else 's'} state "
                        "across members: `policyengine check --workers` lists them all" if more else "")
    return None


def usable_workers(args, program) -> int:
    """`--workers N` when the run allows it; otherwise 1, and a note saying why."""
    why = why_one_worker(args, program)
    if why is not None:
        sys.stderr.write(f"note: --workers {args.workers}: running on one worker: {why}\n")
        return 1
    return args.workers
