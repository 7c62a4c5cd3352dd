"""`policyengine eval --policy PATH… LOG…`: replay logs through policies and write decisions."""
from __future__ import annotations

import argparse
import os
import sys
import time


from policyengine.cli import exits
from policyengine.cli.collector import quiet_collector, restore_collector
from policyengine.cli.numbers import at_least
from policyengine.cli.reporting import print_diagnostics, silence_stdout, usage_error
from policyengine.cli.summary import Progress, summary_text
from policyengine.cli.workers_option import (AUTO, AUTO_MIN_BYTES, auto_workers, cores, files_for, logs_bytes,
                                             split_of, split_workers, usable_workers, why_one_worker, worker_count)
from policyengine.cli.writers import Output, OutputError, jsonl_writer, observed, text_writer
from policyengine.compiler.cache import load_compiled
from policyengine.events.decode import EventDecoder
from policyengine.events.timestamps import TimestampError, parse_ts
from policyengine.loader import PolicyPathError
from policyengine.logs import LogOpenError, check_readable, open_log
from policyengine.replay import ReplayStats, StrictStop, replay
from policyengine.runtime.evaluator import Evaluator


def add_parser(sub) -> None:
    p = sub.add_parser("eval", help="replay event logs through policies",
                       description="Evaluate JSON Lines event logs (files, .gz files, or - for stdin) against "
                                   "policies and write one decision per line.",
                       epilog=exits.EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("logs", nargs="+", metavar="LOG",
                   help="a JSON Lines log, a .gz log, - for stdin, or a folder `policyengine split` wrote")
    p.add_argument("--policy", action="append", required=True, metavar="PATH",
                   help="a .policy file or a folder of them; repeat for more")
    p.add_argument("--out", metavar="FILE", help="write decisions here instead of stdout")
    p.add_argument("--format", choices=("jsonl", "text"), default="jsonl", help="decision output format")
    p.add_argument("--strict", action="store_true", help="stop at the first bad log line (exit 3)")
    p.add_argument("--until", metavar="TIME",
                   help="the logs cover event time up to TIME (RFC 3339): fire the timers due by then "
                        "(absence nudges, announced unmutes); without it, timers still pending at the end "
                        "of the logs do not fire")
    p.add_argument("--state", metavar="FILE",
                   help="keep member state in this SQLite file: load it if it exists, checkpoint as the run goes; "
                        "a rerun after a crash skips committed input and, with --out, rewrites nothing twice")
    # A million lines is a second or two of work at today's speed; every 100 000 lines (the first
    # default, from when that was ten seconds' work) a checkpoint cost the community pack +42 %.
    p.add_argument("--checkpoint-every", type=at_least(1), default=1_000_000, metavar="N",
                   help="with --state: checkpoint every N log lines (default 1000000) …")
    p.add_argument("--checkpoint-seconds", type=at_least(0, float), default=10.0, metavar="S",
                   help="… or every S seconds, whichever comes first (default 10); never sooner after the "
                        "last checkpoint than nine times the time it took")
    # at most a century: the lateness is held in microseconds, and `inf` was an internal error
    p.add_argument("--allowed-lateness", type=at_least(0, float, 100 * 366 * 86400, "3162240000 (a century)"),
                   default=0.0, metavar="SECONDS",
                   help="do not warn about events at most this much older than the latest one (they are still "
                        "evaluated at the latest time); default 0")
    p.add_argument("--max-line-bytes", type=at_least(1), default=1 << 20, metavar="N",
                   help="longer log lines are reported and skipped without being held in memory (default 1 MiB)")
    p.add_argument("--explain", action="store_true",
                   help="each decision carries `explain`: the rule's place and the values its conditions tested")
    p.add_argument("--report", metavar="FILE.html",
                   help="also write a self-contained HTML report: decisions over time by rule and action, the most "
                        "affected members and channels, messages, active and new members, retention per day")
    p.add_argument("--workers", type=worker_count, default=None, metavar="N|auto",
                   help="split members across N processes (1 to 256) when every rule's state belongs to the "
                        "event's member (otherwise says why and uses one); decisions are the same, in the same "
                        "order. auto: one "
                        f"per core this process may use when the run can be split and its logs hold "
                        f"{AUTO_MIN_BYTES >> 20} MiB or more, otherwise one, without a note. Default: one, "
                        "and over logs `policyengine split` wrote, one a part")
    p.add_argument("--profile", action="store_true",
                   help="after the run, print where its time went: each rule, each event type's handler before its "
                        "rules, timers, reading the log (one worker; the decisions are the same)")
    p.add_argument("--profile-out", metavar="FILE.json",
                   help="with --profile (which it implies): also write the profile as JSON to FILE.json")
    p.add_argument("--quiet", action="store_true", help="print no summary")
    p.add_argument("--progress", choices=("auto", "always", "never"), default="auto",
                   help="progress line on stderr (auto: only on a terminal)")
    p.set_defaults(run=run)


def run(args) -> int:
    args.profile = args.profile or args.profile_out is not None      # before the workers are decided
    try:
        loaded, compiled = load_compiled(args.policy, args.explain, args.profile)
        check_readable(args.logs)
        split = split_of(args.logs)
        until = parse_ts(args.until) if args.until else None
    except (PolicyPathError, LogOpenError) as err:
        usage_error(str(err))
        return exits.USAGE
    except TimestampError as err:
        usage_error(f"--until: {err}".replace("`ts`", "the time"))
        return exits.USAGE
    print_diagnostics(loaded.diagnostics, loaded.sources, "text")
    if loaded.program is None:
        return exits.POLICY_ERRORS
    if (clash := _overwritten_input(args, loaded.sources)) is not None:
        usage_error(clash)
        return exits.USAGE
    if isinstance(split, str):
        usage_error(split)
        return exits.USAGE
    if split is not None:                # split logs: a worker a part
        workers = split_workers(args, loaded.program, split[0].parts)
        for name, manifest in zip(args.logs, split):
            n = manifest.overlong_lines
            if n and args.max_line_bytes > manifest.max_line_bytes:
                sys.stderr.write(f"warning[W0103]: {name}: {n:,} line{'s' if n != 1 else ''} over "
                                 f"{manifest.max_line_bytes:,} bytes {'were' if n != 1 else 'was'} left out when it "
                                 f"was split; {'they are' if n != 1 else 'it is'} reported as over-long here (split "
                                 "the log again with a larger --max-line-bytes to read them)\n")
    elif args.workers == AUTO:
        workers = auto_workers(cores(), logs_bytes(args.logs), why_one_worker(args, loaded.program) is None)
    else:
        workers = usable_workers(args, loaded.program) if args.workers is not None and args.workers > 1 else 1
    if workers > 1 and (short := files_for(workers)) is not None:
        usage_error(short)
        return exits.USAGE
    session = None
    state_errors: tuple = ()      # what a failed checkpoint raises, with --state
    # State files, reports and workers load only when asked for: 20 ms of a 0.4 s start.
    if args.state:
        from policyengine.state.session import CheckpointError, StateSession, log_identity
        state_errors = (CheckpointError,)
        from policyengine.state.sqlite import StateFileError
        try:
            session = StateSession(args.state, compiled, args.checkpoint_every, args.checkpoint_seconds)
        except StateFileError as err:
            sys.stderr.write(f"error[E0201]: {err}\n")
            return exits.USAGE
        for what in session.dropped:
            sys.stderr.write(f"warning[W0301]: state of {what} dropped: its definition changed or was removed\n")
    profile = None
    if args.profile:
        from policyengine.runtime.profile import profiled_evaluator
        evaluator, profile = profiled_evaluator(compiled, session.store if session else None)
        if session is not None:
            from policyengine.runtime.profile import timed
            session.checkpoint = timed(profile, profile.section("saving state (--state checkpoints)", "engine"),
                                       session.checkpoint)
    else:
        evaluator = Evaluator(compiled, session.store if session else None)
    decoder = EventDecoder(compiled.plan.field_types)
    try:
        if args.out and session is not None:
            out = session.open_output(args.out)
        else:
            out = open(args.out, "wb") if args.out else sys.stdout.buffer
        out = Output(out, args.out or "standard output")
    except OSError as err:
        usage_error(f"{args.out}: cannot write: {err.strerror}")
        return exits.USAGE
    try:                         # opened before the run, so that a path it cannot write stops nothing later
        profile_out = open(args.profile_out, "wb") if args.profile_out is not None else None
    except OSError as err:
        usage_error(f"{args.profile_out}: cannot write: {err.strerror}")
        return exits.USAGE
    emit = jsonl_writer(out) if args.format == "jsonl" else text_writer(out)
    written = emit               # what workers' merged decisions go to: each worker counted its own for a report
    if args.report:
        from policyengine.report.collect import ReportData
        from policyengine.report.html import render as render_report
    report_data = ReportData() if args.report else None
    if report_data is not None:
        emit = observed(emit, report_data)
    stats = ReplayStats()
    summary = None               # the workers' report, merged
    show = args.progress == "always" or (args.progress == "auto" and sys.stderr.isatty())
    progress = Progress(sys.stderr) if show else None
    status = exits.OK

    def report(message: str) -> None:
        if progress:
            progress.clear()
        sys.stderr.write(message + "\n")

    collector = quiet_collector()
    if profile is not None:
        profile.start()
    try:
        if workers > 1:
            from policyengine.parallel import Job, run_shares
            job = Job(compiled, args.logs, workers, args.strict, args.max_line_bytes,
                      int(args.allowed_lateness * 1_000_000), until, report=report_data is not None,
                      partition=split[0].partition_bytes() if split is not None else b"")
            # The workers write decisions as the jsonl writer does: they go out as written.
            ran = run_shares(job, written, out.write if args.format == "jsonl" else None)
            if isinstance(ran, str):
                sys.stderr.write(f"note: --workers {workers}: running on one worker: {ran}\n")
                workers = 1
            else:
                for message in ran.messages:
                    report(message)
                ran.stats.started = stats.started
                stats, summary = ran.stats, ran.report
                if ran.stopped:
                    raise StrictStop()
        for name in (args.logs if workers == 1 else ()):
            identity = log_identity(name) if session is not None else None
            skip = session.lines_done(identity) if session is not None else 0
            log = open_log(name, inflate_ahead=True)       # one process: the other core inflates
            try:
                replay(log, evaluator, decoder, emit, report, stats, args.strict, progress,
                       skip=skip, checkpoint=session, identity=identity, max_line=args.max_line_bytes,
                       observer=report_data,
                       allowed_lateness_us=int(args.allowed_lateness * 1_000_000))
            finally:
                log.close()
        if until is not None and workers == 1:
            for decision in evaluator.advance(until):
                stats.decisions[(decision["policy"], decision["rule"], decision["action"])] += 1
                emit(decision)
            if session is not None:
                session.checkpoint(None, 0)
    except StrictStop:
        status = exits.USAGE
    except LogOpenError as err:
        usage_error(str(err))
        status = exits.USAGE
    except BrokenPipeError:
        return exits.OK          # the reader (e.g. `head`) stopped listening
    except OutputError as err:
        usage_error(str(err))
        status = exits.USAGE
    except state_errors as err:
        sys.stderr.write(f"error[E0202]: {err}\n")
        status = exits.USAGE
    finally:
        restore_collector(collector)
        if progress:
            progress.clear()
        try:
            out.flush()
            if args.out:
                out.close()
        except BrokenPipeError:
            pass
        except OutputError as err:
            if status != exits.USAGE:           # said once: the write that failed said it first
                usage_error(str(err))
            status = exits.USAGE
            if not args.out:
                silence_stdout()
        if session is not None:
            try:
                session.close()                 # the last checkpoint committed first
            except state_errors as err:
                sys.stderr.write(f"error[E0202]: {err}\n")
                status = exits.USAGE
    stats.elapsed = time.perf_counter() - stats.started
    if report_data is not None:
        if summary is None:             # one worker's run: the report observed it all here
            summary = report_data.summary()
        try:
            with open(args.report, "w", encoding="utf-8") as f:
                f.write(render_report(summary, "policyengine report: " + ", ".join(args.policy)))
        except OSError as err:
            usage_error(f"{args.report}: cannot write: {err.strerror}")
            return exits.USAGE
    if not args.quiet:
        sys.stderr.write(summary_text(stats, strict_stop=status == exits.USAGE, workers=workers))
    if profile is not None:
        from policyengine.runtime.profile import profile_json, profile_text
        profile.close()
        sys.stderr.write(profile_text(profile))
        if profile_out is not None:
            with profile_out:
                profile_out.write(profile_json(profile))
    return status


def _overwritten_input(args, policy_files) -> str | None:
    """Why a file to write is one read or written otherwise, or None. `--out log.jsonl log.jsonl`
    emptied the log before a line was read, and exited 0 having evaluated nothing."""
    def same(a: str, b: str) -> bool:
        try:
            return os.path.samefile(a, b)
        except OSError:                                 # one not there yet: the same if named so
            return os.path.realpath(a) == os.path.realpath(b)
    read = [("a log read", log) for log in args.logs if log != "-"] + [("a policy file", f) for f in policy_files
                                                                        if os.path.exists(f)]
    written = [(flag, path) for flag, path in (("--out", args.out), ("--report", args.report),
                                               ("--profile-out", args.profile_out), ("--state", args.state)) if path]
    for i, (flag, path) in enumerate(written):
        for what, other in read + [(f"{other_flag}'s file", p) for other_flag, p in written[i + 1:]]:
            if same(path, other):
                return f"{flag} {path}: it is also {what}, which writing it would destroy; give another file"
    return None

