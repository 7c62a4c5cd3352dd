"""`policyengine split LOG --parts N --out DIR`: a log cut by member once, for `eval --workers N` to
read a part a worker (splitlog/)."""
from __future__ import annotations

import argparse
import sys

from policyengine.cli import exits
from policyengine.cli.numbers import at_least
from policyengine.cli.reporting import usage_error
from policyengine.logs import SPLIT_PARTS as MAX_PARTS      # not splitlog/: `eval` starts without it


def add_parser(sub) -> None:
    p = sub.add_parser("split", help="split a log by member into parts, one for each worker of eval --workers",
                       description="Cut a JSON Lines log (a file, a .gz file, or - for stdin) by member into parts: "
                                   "`policyengine eval --policy … DIR` then runs a worker a part, each reading its "
                                   "own part and never the others' lines. Decisions are the log's own, in its order; "
                                   "bad lines keep their numbers in it. Made once, read by any number of evals.",
                       epilog=exits.EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("log", metavar="LOG", help="a JSON Lines log, a .gz log, or - for stdin")
    p.add_argument("--out", required=True, metavar="DIR", help="the folder to write (new, or empty)")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--parts", type=at_least(1, int, MAX_PARTS), metavar="N",
                       help=f"how many parts: the workers eval will run (1 to {MAX_PARTS})")
    group.add_argument("--like", metavar="DIR", help="the parts of another split log, its members in the same parts "
                                                     "(eval reads several split logs only if split alike)")
    p.add_argument("--max-line-bytes", type=at_least(1), default=1 << 20, metavar="N",
                   help="longer lines are left out, each counted as a bad line where eval meets it (default 1 MiB)")
    p.add_argument("--quiet", action="store_true", help="print no summary")
    p.add_argument("--progress", choices=("auto", "always", "never"), default="auto",
                   help="progress line on stderr (auto: only on a terminal)")
    p.set_defaults(run=run)


def run(args) -> int:
    from policyengine.logs import LogOpenError, check_readable, is_split
    from policyengine.splitlog import read_manifest
    from policyengine.splitlog.write import split_log
    progress = _progress(args.progress)
    try:
        if is_split(args.log):
            raise LogOpenError(f"{args.log}: already a split log; split the log it was made from "
                               f"({read_manifest(args.log).log}) into other parts")
        check_readable([args.log])
        like = read_manifest(args.like) if args.like else None
        manifest = split_log(args.log, like.parts if like else args.parts, args.out, args.max_line_bytes,
                             like.partition_bytes() if like else None, progress)
    except LogOpenError as err:                   # SplitError is one
        if progress is not None:
            progress.clear()
        usage_error(str(err))
        return exits.USAGE
    if progress is not None:
        progress.clear()
    if not args.quiet:
        sizes = ", ".join(f"{n:,}" for n in manifest.part_lines)
        sys.stderr.write(f"split {manifest.lines:,} lines of {manifest.log} into {manifest.parts} parts in {args.out}"
                         f" ({sizes} lines; {manifest.unsure_lines:,} read by every worker)\n")
    return exits.OK


def _progress(when: str):
    """eval's progress line (cli/summary.py) told the lines split so far, or None."""
    if when == "never" or (when == "auto" and not sys.stderr.isatty()):
        return None
    from policyengine.cli.summary import Progress
    from policyengine.replay import ReplayStats
    line, stats = Progress(sys.stderr), ReplayStats()

    def told(log, lines: int) -> None:
        stats.events = lines
        line(log, stats)
    told.clear = line.clear
    return told
