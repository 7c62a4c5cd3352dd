"""Replay event logs through an evaluator: decode, evaluate, hand decisions on, count what happened.

Bad lines are reported with their line number and skipped; every good line is still
evaluated. This loop is the hot path of `policyengine eval`.
"""
from __future__ import annotations

import gzip
import time
import zlib
from collections import Counter
from typing import Callable

import msgspec

from policyengine.events.clock import DUE, LATE
from policyengine.events.decode import BadEvent, EventDecoder
from policyengine.events.native import event_time
from policyengine.events.records import RECORD_ERRORS, record_decoder, timed_record_decoder
from policyengine.events.timestamps import parse_ts
from policyengine.logs import OpenLog
from policyengine.output.decisions import Tally, materialize
from policyengine.runtime.evaluator import Evaluator

try:
    from policyengine.runtime._columns import ahead
except ImportError:                 # pragma: no cover - the C module not built
    ahead = None


LATE_REPORTED = 20
# A line the record path refuses (then the general decoder takes it or says why): malformed or
# mistyped JSON, a time parse_ts refuses or bad UTF-8 (both ValueError); an over-long line is
# None, which the decoder refuses with TypeError; nesting deeper than msgspec's recursion limit,
# even in a field no rule reads, is RecursionError (orjson's depth limit then refuses the line).
_NOT_A_RECORD = (*RECORD_ERRORS, ValueError, TypeError, RecursionError)
MAX_LINE_BYTES = 1 << 20      # a longer line is reported and skipped without being held in memory


def _when(ts: int, evaluator: Evaluator) -> str:
    behind = (evaluator.store.watermark - ts) / 1_000_000
    return f"{behind:g} s behind"


class StrictStop(Exception):
    """`--strict` and a bad line: stop here."""


class ReplayStats(msgspec.Struct):
    events: int = 0
    bad_lines: int = 0
    decisions: Counter = msgspec.field(default_factory=Counter)   # (policy, rule, action) → n
    runtime_errors: int = 0
    late_events: int = 0
    started: float = msgspec.field(default_factory=time.perf_counter)
    elapsed: float = 0.0


def replay(log: OpenLog, evaluator: Evaluator, decoder: EventDecoder, emit: Callable[[dict], None],
           report: Callable[[str], None], stats: ReplayStats, strict: bool = False,
           progress: Callable[[OpenLog, ReplayStats], None] | None = None,
           skip: int = 0, checkpoint=None, identity: str | None = None, max_line: int = MAX_LINE_BYTES,
           observer=None, allowed_lateness_us: int = 0, records: bool = True, about_input: bool = True) -> None:
    """`skip`: lines a previous run already committed. `checkpoint`: a StateSession, asked between
    chunks of lines whether `every_events` lines or its time have come, and told at the end of the log. `records`:
    take the record fast path where the program allows it (off only to test it against dicts).
    `about_input`: report bad lines, late events and damaged logs (they are still counted without
    it; workers that read the same lines leave them to one of them). `observer` (the HTML report's
    ReportData) is told each event evaluated: `observe_event(event, ts)` of a dict the general
    decoder made, `observe_line(line, ts)` of a line a record decoder took."""
    process, decode = evaluator.process, decoder.decode
    # The fast path: lines decoded into records of only the fields the program reads (events/
    # records.py). Any line a record does not take goes through `decode` as before. The observer
    # (the HTML report) reads fields no rule may read: it is given each evaluated event's line, or
    # its dict where the general decoder made one, once, wherever the event is evaluated
    # (`observed_timed` below).
    # A worker of `eval --workers` judges every line the route was unsure of, and counts for the
    # report only those of its own members (parallel/share.py: ShareEvaluator.owns).
    owns = getattr(evaluator, "owns", None) if observer is not None else None
    decode_record = None
    if records and evaluator.record_handlers is not None:
        decode_record, process_record = record_decoder(evaluator.compiled.record), evaluator.process_record
        # observed, the decoder notes where the report's fields lay (events/_noted.h)
        decode_timed = timed_record_decoder(evaluator.compiled.record, noting=observer is not None)
        if observer is not None:
            decode_timed = observed_timed(decode_timed, observer)
    # The list holds only issues not yet reported while this runs, so the record loop tests it for
    # emptiness (compiler/loop.py); those from before and those reported go back at the end.
    issues = evaluator.issues
    earlier, reported = issues[:], []
    del issues[:]
    # Decisions are counted as they come (by their strings' addresses, in C) and added to
    # stats.decisions at the end (output/decisions.py): nothing reads them before, and a batch's
    # drain walked every slot of the tally.
    tally = Tally()
    late_seen = evaluator.late_events
    lineno = 0
    checkpointing = checkpoint is not None
    # a split log left out the lines over its own limit when it was made (splitlog/)
    longest = min(max_line, getattr(log, "max_line_bytes", max_line))

    def one_line(line: bytes | None, lineno: int) -> None:
        """Everything one line can need: the record path, the general decoder, bad lines."""
        record = None
        if decode_record is not None and line is not None:
            try:
                record = decode_record(line)
                # The common case in C: an RFC 3339 time and a line of valid UTF-8 (orjson refuses
                # invalid UTF-8 anywhere, msgspec only where it reads). None: ask Python.
                ts = event_time(record.ts, line)
                if ts is None:
                    ts = parse_ts(record.ts)
                    if not line.isascii():
                        line.decode()
            except _NOT_A_RECORD:
                record = None
        if record is not None:
            stats.events += 1
            if observer is not None and (owns is None or owns(record.user)):
                observer.observe_line(line, ts)
            decisions = process_record(record, ts)
        else:
            try:
                if line is None:
                    raise BadEvent(f"line longer than {longest:,} bytes; skipped without reading it into memory")
                event, ts = decode(line)
            except BadEvent as err:
                if line is not None and not line.strip():
                    return              # blank lines are not events and not errors
                stats.bad_lines += 1
                if about_input:
                    report(f"{log.name}:{lineno}: error[E0101]: {err}")
                if strict:
                    raise StrictStop() from None
                return
            stats.events += 1
            if observer is not None and (owns is None or owns(event["user"])):
                observer.observe_event(event, ts)
            decisions = process(event, ts)
        after(decisions, ts, lineno)

    # An emitter may take a list at once (`many`: the JSON-lines writer of `eval`).
    emit_many = getattr(emit, "many", None)
    # Decisions are records where output/_decisions is built; an emitter that does not say it takes
    # them gets dicts.
    takes_records = getattr(emit_many if emit_many is not None else emit, "takes_records", False)

    def hand_on(decisions: list[dict]) -> None:
        tally.add(decisions)
        if not takes_records:
            materialize(decisions)
        if emit_many is not None:
            emit_many(decisions)
        else:
            for d in decisions:
                emit(d)

    def after(decisions: list[dict], ts: int, lineno: int) -> None:
        """Hand decisions on; say what was late and what failed at run time."""
        nonlocal late_seen
        if evaluator.late_events != late_seen:
            late_seen = evaluator.late_events
            if evaluator.store.watermark - ts > allowed_lateness_us:
                stats.late_events += 1
                if about_input and stats.late_events <= LATE_REPORTED:
                    report(f"{log.name}:{lineno}: warning[W0102]: event is older than the latest event "
                           f"({_when(ts, evaluator)}); evaluated at the latest time"
                           + ("; further late events are only counted" if stats.late_events == LATE_REPORTED else ""))
        if decisions:
            hand_on(decisions)
        if issues:
            for issue in issues:
                report(issue.render().replace("error[", f"{log.name}:{lineno}: error[", 1)
                       if issue.location is None else issue.render())
            stats.runtime_errors += len(issues)
            reported.extend(issues)
            del issues[:]

    # Lines records take run through the program's own loop (compiler/loop.py: the evaluator's
    # bookkeeping and the handlers in one function); it hands back what needs reporting. Checkpoints
    # and progress come between chunks of lines, so no per-line work is added for them.
    loop = evaluator.record_loop if decode_record is not None else None
    # A worker of `eval --workers` takes its chunks routed: own lines, other shares' event times,
    # lines every worker judges (parallel/share.py).
    route = evaluator.route_batch if loop is not None else None
    committed = skip
    store = evaluator.store
    # a worker reads its chunks its own way, and scans each next one before the rules run on this one
    # (parallel/share.py)
    batches = evaluator.batches(log, max_line) if route is not None and skip == 0 else log.batches(max_line)
    try:
        for batch in batches:
            if skip and lineno + len(batch) <= skip:
                lineno += len(batch)            # committed by an earlier run
                continue
            if lineno < skip:
                batch, lineno = batch[skip - lineno:], skip
            if checkpointing and lineno > committed and checkpoint.due(lineno - committed):
                checkpoint.checkpoint(identity, lineno)
                committed = lineno
            if loop is not None:
                if route is not None:
                    lines = iter(route(batch))
                elif ahead is not None and type(batch) is list and (index := store.crowded_index()) is not None:
                    lines = ahead(index, batch)
                else:
                    lines = iter(batch)
                while True:
                    events, stop, decided, held, ts = loop(lines, decode_record, decode_timed, _NOT_A_RECORD,
                                                           evaluator)
                    lineno += events
                    stats.events += events
                    hand_on(decided)            # the stretch's decisions, in order
                    if stop == 0:               # the end of the batch
                        break
                    if stop == 1:               # a line records do not take
                        lineno += 1
                        one_line(held, lineno)
                    elif stop == 2:             # an event that failed a rule (or, in a share, decided or came late)
                        after((), ts, lineno)
                    else:                       # a late event, handed back unevaluated
                        after(process_record(held, ts), ts, lineno)
            else:
                for line in batch:
                    lineno += 1
                    one_line(line, lineno)
            if progress is not None:
                progress(log, stats)
    except (EOFError, gzip.BadGzipFile, zlib.error) as err:
        stats.bad_lines += 1
        if about_input:
            report(f"{log.name}:{lineno + 1}: error[E0102]: the compressed log is damaged or cut short ({err}); "
                   "the lines before it were evaluated")
        if strict:
            raise StrictStop() from None
    finally:
        tally.drain(stats.decisions)
        stats.elapsed = time.perf_counter() - stats.started
        issues[:] = earlier + reported + issues
    if checkpoint is not None:
        checkpoint.checkpoint(identity, max(lineno, skip))


def observed_timed(decode_timed, observer):
    """decode_timed that also observes each line the record loop evaluates, or hands back to be
    evaluated as a record (late: replay's `stop == 3`), with the event's own time; a line handed
    back to the per-line path (the clock asks Python, or the record refused it) is observed
    there, as one_line evaluates it. A worker's routed items that are not its own lines (other
    shares' times, lines every worker judges) are handed on without a time and not observed here;
    one_line observes a judged line only in the worker whose member it is. So every event
    evaluated is observed once, before its decisions, as on the dict path. The same in C where
    the observer has it (`observing`: report/_observe.c), where a C record decoder made `noting`
    hands it where the line's fields lay, so that the line is not scanned again."""
    observing = getattr(observer, "observing", None)
    if observing is not None:
        noted = getattr(getattr(decode_timed, "__self__", None), "noted", None)
        return observing(decode_timed, (LATE, DUE), noted() if noted is not None else None)
    observe_line = observer.observe_line

    def decode(line, clock):
        record, ts = decode_timed(line, clock)
        if ts is not None:
            observe_line(line, ts)
        elif clock.stop in (LATE, DUE):         # evaluated all the same, at the event's own time
            observe_line(line, clock.ts)
        return record, ts
    return decode
