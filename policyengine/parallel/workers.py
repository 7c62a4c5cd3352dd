"""The worker processes of `eval --workers`: forked with the job and the shared memory of the
route's scans, each running one share (`_work`), their answers gathered, their decisions merged."""
from __future__ import annotations

import contextlib
import mmap
import multiprocessing
import multiprocessing.connection
import os
import signal
import tempfile
from typing import NamedTuple

import msgspec
import orjson

from policyengine.compiler import CompiledProgram
from policyengine.events.decode import EventDecoder
from policyengine.events.routing import EXCHANGE_WORKERS, Exchange, SplitDamaged, route_fields
from policyengine.logs import CHUNK, is_split, open_log
from policyengine.output.decisions import dump_tagged
from policyengine.parallel.balance import balanced_partition
from policyengine.parallel.merge import _merged_json
from policyengine.parallel.share import GONE, PEER_GONE, BoardOverlap, PeerGone, ShareEvaluator
from policyengine.replay import ReplayStats, StrictStop, replay
from policyengine.runtime.helpers import RouteDiverged


class Job(msgspec.Struct):
    compiled: CompiledProgram
    logs: list[str]
    shares: int
    strict: bool
    max_line: int
    allowed_lateness_us: int
    until: int | None
    spool: str = ""                # a folder for the workers' decisions
    partition: bytes = b""         # members' buckets to shares (balanced_partition); empty: by CRC-32 alone
    report: bool = False           # each worker counts what `--report` shows of its members' events


_job: Job | None = None          # set before the workers fork; they inherit it
_shared = None                   # the workers' scans' shared memory (events/routing.py: Exchange), inherited too


class ShareResult(NamedTuple):
    """What a worker sends back; its decisions are in the spool file at `path`."""
    path: str
    reports: list[tuple]             # (log, line position, share, order, message)
    stats: ReplayStats
    stopped: bool                    # --strict stopped at a bad line
    diverged: str | None             # a line routed as an event that the decoder refused
    report: object = None            # its ReportSummary, for --report


def _work(share: int):
    """One share's run. Decisions go to a file as they come, a line each: the merge key
    (output/decisions.py: merge_key) and the decision's JSON, so a worker holds none of them in
    memory; the rest comes back to the parent."""
    job = _job
    exchange = Exchange(_shared, job.shares, share) if _shared is not None else None
    evaluator = ShareEvaluator(job.compiled, share, job.partition or job.shares, exchange, job.shares, job.spool)
    decoder = EventDecoder(job.compiled.plan.field_types)
    stats = ReplayStats()
    reports: list[tuple] = []
    log_index = 0
    path = os.path.join(job.spool, f"share{share}.jsonl")
    spool = open(path, "wb")
    write, tags = spool.write, evaluator.tags
    # --report: the worker counts its members' events (replay asks ShareEvaluator.owns of a line
    # every worker judges) and the decisions it makes; the parts add up to one worker's counts.
    observer = None
    if job.report:
        from policyengine.report.collect import ReportData
        observer = ReportData()

    # Decisions are tagged by identity, so they are written as they come, records included (a
    # dict made of a record would be another object): dump_tagged writes both as orjson would,
    # each after its merge key, a stretch's at once.
    def emit(decision: dict) -> None:     # replay hands decisions on a stretch at a time: `many`
        many((decision,))

    def many(decisions: list) -> None:
        pop = tags.pop
        if observer is not None:
            observer.observe_decisions(decisions)
        write(dump_tagged(decisions, [pop(id(d)) for d in decisions]))
    many.takes_records = True
    emit.many = many

    def report(message: str) -> None:
        reports.append((log_index, stats.events + stats.bad_lines, share, len(reports), message))

    stopped, diverged = False, None
    try:
        for log_index, name in enumerate(job.logs):
            log = open_log(name)
            try:
                # Bad lines and late events are the same in every worker: share 0 tells them.
                replay(log, evaluator, decoder, emit, report, stats, job.strict, max_line=job.max_line,
                       allowed_lateness_us=job.allowed_lateness_us, about_input=share == 0, observer=observer)
            finally:
                log.close()
        if job.until is not None:
            fired = evaluator.advance(job.until)
            for decision in fired:
                stats.decisions[(decision["policy"], decision["rule"], decision["action"])] += 1
            many(fired)
    except StrictStop:
        stopped = True
    except BoardOverlap as err:
        diverged = err.args[0]
    except RouteDiverged as err:
        diverged = f"a line routed as an event was refused by its worker's decoder ({job.logs[log_index]}: {err.args[0][:80]!r})"
    except PeerGone:
        diverged = PEER_GONE
    except SplitDamaged as err:          # one worker reading the parts in order meets it and says where
        diverged = f"{job.logs[log_index]}: {err}"
    finally:
        spool.close()
    summary = observer.summary() if observer is not None and diverged is None else None
    return ShareResult(path, reports, stats, stopped, diverged, summary)


def _ring_lines(shares: int) -> int:
    """The lines the workers' exchange holds: more than four of replay's longest chunks
    (logs.CHUNK bytes of empty lines, and an over-long one) and a block of 256 a worker, which
    events/_route.c needs so that no two workers can wait for each other for ever, and which no
    worker gets further ahead than anyway; rounded up to a power of two, so that a line's slot is
    found by a mask, not a 64-bit division a line (events/_route.c; with the route's other masks
    and its CRC, two workers over 10M events 1.03× faster). Two million lines, 16 MiB, all of it
    touched on logs that long."""
    least = 4 * (CHUNK + 1) + 256 * shares + 1
    return 1 << (least - 1).bit_length()


def _child(share: int, conn, parent: int, prctl) -> None:
    """A worker process: _work's answer to the parent; whatever stopped it, it leaves the
    exchange, so that the others scan its blocks themselves from there on."""
    _die_with(parent, prctl)
    try:
        conn.send((True, _work(share)))
    except BaseException as err:          # handed to the parent, which raises it as Pool.map did
        conn.send((False, err))
    finally:
        if _shared is not None:           # however _work ended, no other worker waits for its scans
            Exchange(_shared, _job.shares, share).leave()
        _leave_spool(share)               # … nor for its part of a leaderboard
        conn.close()


PR_SET_PDEATHSIG = 1


def _parent_death_call():
    """libc's prctl, where there is one (Linux), looked up in the parent: each worker is forked
    with it, and asks for SIGKILL when the parent dies."""
    try:
        import ctypes
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def _die_with(parent: int, prctl) -> None:
    """A worker ends when the parent does. A parent killed (kill -9, a caller's timeout) left its
    workers waiting for each other's scans for ever: forty of them spun for an hour on this
    machine, the thirty-second session's slow benchmarks."""
    if prctl is not None:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:             # it died before the call: no signal will come
        os._exit(1)


def _leave_spool(share: int) -> None:
    """Say in the spool that worker `share` has left (ShareEvaluator._combine_board waits on it)."""
    with contextlib.suppress(OSError):
        open(os.path.join(_job.spool, GONE % share), "wb").close()


def _run_workers(shares: int) -> list[ShareResult] | str:
    """`_work` for each share, each in a process of its own, all at once: a worker waits for the
    others' scans (events/_route.c), so two shares must never be queued on one process, as a
    Pool may do. A worker that dies without an answer (killed, out of memory) is marked gone in
    the exchange, so that no other waits for its scans, and the run is said to need one worker."""
    context = multiprocessing.get_context("fork")
    pipes, processes = [], []
    parent, prctl = os.getpid(), _parent_death_call()
    try:
        for share in range(shares):
            ours, theirs = context.Pipe(duplex=False)
            process = context.Process(target=_child, args=(share, theirs, parent, prctl), daemon=True)
            process.start()
            theirs.close()
            pipes.append(ours)
            processes.append(process)
        answers: dict[int, tuple] = {}
        dead = []
        waiting = {pipe: share for share, pipe in enumerate(pipes)}
        while waiting:
            for pipe in multiprocessing.connection.wait(list(waiting)):
                share = waiting.pop(pipe)
                try:
                    answers[share] = pipe.recv()
                except EOFError:
                    dead.append(share)
                    if _shared is not None:
                        Exchange(_shared, shares, share).leave()
                    _leave_spool(share)
        if dead:
            code = processes[dead[0]].exitcode
            how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
            return f"worker {dead[0] + 1} of {shares} stopped without an answer ({how})"
        for share in range(shares):
            ok, answer = answers[share]
            if not ok:
                raise answer
        return [answers[share][1] for share in range(shares)]
    except BaseException:
        # Stopped here (a worker that could not be started, an interrupt): the workers started
        # would wait for the others' scans; each was joined for 5 s in turn, 40 of them 200 s.
        for process in processes:
            process.terminate()
        raise
    finally:
        for process in processes:
            process.join(timeout=5)
            if process.is_alive():
                process.terminate()
                process.join()


class SharesRan(NamedTuple):
    messages: list[str]              # in the order one worker says them
    stats: ReplayStats               # the workers' combined
    stopped: bool                    # --strict stopped at a bad line
    report: object                   # the workers' ReportSummary merged (job.report), or None


def run_shares(job: Job, emit, write_json=None) -> SharesRan | str:
    """Run `job` on `job.shares` worker processes and `emit` their decisions in the order one worker
    gives; `write_json`, if given, takes each decision's JSON line instead (as the jsonl writer would
    write it). Returns what they said, found and counted; or, emitting nothing, why the run must be
    made on one worker (a line routed wrongly, a worker that died)."""
    global _job, _shared
    if not job.partition:
        fields = route_fields(job.compiled.record) if job.compiled.record is not None else ()
        job.partition = balanced_partition(job.logs, job.shares, job.max_line, fields)
    with tempfile.TemporaryDirectory(prefix="policyengine-workers-") as spool:
        job.spool, _job = spool, job
        # anonymous and shared: what one worker writes the others see; pages are touched only
        # as the ring fills
        # (past the exchange's 255 workers, each worker scans every line itself, as it once did)
        # (a split log's workers read their own parts and share no scans: splitlog/)
        sharing = Exchange is not None and job.shares <= EXCHANGE_WORKERS and not is_split(job.logs[0])
        _shared = mmap.mmap(-1, Exchange.size(job.shares, _ring_lines(job.shares))) if sharing else None
        try:
            results = _run_workers(job.shares)
        finally:
            _job = None
            if _shared is not None:
                _shared.close()
                _shared = None
        if isinstance(results, str):
            return results
        diverged = [result.diverged for result in results if result.diverged not in (None, PEER_GONE)]
        if diverged:
            return diverged[0]
        if any(result.diverged == PEER_GONE for result in results):
            return PEER_GONE
        with contextlib.ExitStack() as spools:
            files = [spools.enter_context(open(result.path, "rb")) for result in results]
            for chunk in _merged_json(files, spools):
                if write_json is not None:
                    write_json(chunk)
                else:
                    for line in chunk.split(b"\n")[:-1]:           # JSON escapes a newline in a string
                        emit(orjson.loads(line))
    reports = [report[4] for report in sorted(report for result in results for report in result.reports)]
    stats = results[0].stats
    for other in results[1:]:
        stats.decisions.update(other.stats.decisions)
        stats.runtime_errors += other.stats.runtime_errors
    summary = None
    if job.report:
        from policyengine.report.collect import ReportSummary
        summary = ReportSummary.merged([result.report for result in results])
    return SharesRan(reports, stats, any(result.stopped for result in results), summary)
