"""The workers' shared scans (events/_route.c: Exchange, scan_ahead): each line is scanned by one
worker, and every worker must still be told of every line exactly what its own scan would say.

The oracle is `route` without an exchange (itself held to the decoders in tests/test_route.py),
run in the test's process; the workers are forked processes sharing an anonymous mmap, as in
`eval --workers`.
"""
from __future__ import annotations

import mmap
import multiprocessing
import random
import signal

import orjson
import pytest

from benchmarks.loggen import generate
from policyengine.events.clock import Clock
from policyengine.events.routing import Exchange, route, routed, scan_ahead
from tests.conftest import run_cli
from tests.test_route import FIELDS, PLAIN, PLAIN_US, _eval_in_process, _index_of, _spans_of

assert Exchange is not None, "events/_route.c was not built"

@pytest.fixture(autouse=True)
def _no_wait_for_ever():
    """A worker here waits for the others' scans: a test that got that wrong would hang the suite,
    so each must finish within two minutes."""
    def hung(signum, frame):
        raise TimeoutError("waited two minutes: a worker waits for scans no one will make")
    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(120)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


SMALL_RING = 2048        # lines: small, so that it wraps and writers wait for room (chunks of 256 lines, 3 workers)


def _log(n: int, seed: int) -> list:
    """Lines as `eval` reads them: events of many members, and lines no scan is sure of (bad
    JSON, a line cut short, an over-long line as None)."""
    rng = random.Random(seed)
    lines = [orjson.dumps(event) for event in generate(n, seed=seed)]
    for i in rng.sample(range(n), n // 20):
        lines[i] = rng.choice([b"{not json", lines[i][:-3], None, b"", b'{"type":"message"}'])
    return lines


def _chunks(lines: list, seed: int, most: int) -> list[list]:
    """`lines` in chunks of 1 to `most` lines: chunk edges fall inside blocks and on them."""
    rng, chunks, i = random.Random(seed), [], 0
    while i < len(lines):
        size = rng.choice([1, 7, 255, 256, 257, most])
        chunks.append(lines[i:i + min(size, most)])
        i += min(size, most)
    return chunks


def _worker(memory, workers, me, chunks, shares, ahead, leave_after, pipe, spans=False):
    exchange = Exchange(memory, workers, me)
    out = []
    if spans:        # as eval's workers read: chunks as spans, through routed with a clock that takes no time
        index = _index_of([line for chunk in chunks for line in chunk])
        chunks = [_spans_of(chunk) for chunk in chunks]
        clock = Clock()
        clock.due = -(1 << 63)
    try:
        for k, chunk in enumerate(chunks):
            if k == leave_after:
                break
            if ahead and k == 0:
                scan_ahead(chunk, FIELDS, shares, me, exchange)
            if ahead and k + 1 < len(chunks):
                scan_ahead(chunks[k + 1], FIELDS, shares, me, exchange)
            # a worker reading spans asks for its members' rows ahead (its index: every member)
            out.append(list(routed(chunk, FIELDS, shares, me, exchange, clock, index)) if spans
                       else route(chunk, FIELDS, shares, me, exchange))
    finally:
        exchange.leave()
    pipe.send(out)
    pipe.close()


def _run(workers: int, chunks: list, shares, ring: int, ahead=(), leave_after=(), spans=()) -> list[list]:
    """Each worker's routed chunks; worker w scans ahead if w in `ahead`, leaves before chunk
    leave_after[w] if given, reads spans through `routed` if w in `spans`."""
    memory = mmap.mmap(-1, Exchange.size(workers, ring))
    context = multiprocessing.get_context("fork")
    pipes, processes = [], []
    for me in range(workers):
        ours, theirs = context.Pipe(duplex=False)
        stop = dict(leave_after).get(me, -1)
        process = context.Process(target=_worker, args=(memory, workers, me, chunks, shares, me in ahead, stop, theirs,
                                                                 me in spans))
        process.start()
        pipes.append(ours)
        processes.append(process)
    try:
        # a worker waiting for ever would hang the suite: each must answer within a minute
        assert all(pipe.poll(60) for pipe in pipes), "a worker did not answer"
        got = [pipe.recv() for pipe in pipes]
    finally:
        for process in processes:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
    assert [process.exitcode for process in processes] == [0] * workers
    return got


@pytest.mark.parametrize("workers, ring, ahead, spans", [(2, SMALL_RING, (), ()), (2, SMALL_RING, (0, 1), ()),
                                                         (3, SMALL_RING, (1,), ()), (2, 1 << 21, (0, 1), ()),
                                                         (2, SMALL_RING, (0, 1), (0, 1)), (3, SMALL_RING, (0,), (1,)),
                                                         # memory for more than a power of two of lines: the ring is that power
                                                         (2, SMALL_RING + 77, (0, 1), (0,)), (3, SMALL_RING + 77, (), ())])
def test_workers_sharing_their_scans_are_told_what_their_own_scans_say(workers, ring, ahead, spans):
    lines = _log(6000, seed=workers + ring)
    held = 1 << (ring.bit_length() - 1)                # the lines the ring holds: a power of two
    chunks = _chunks(lines, seed=ring, most=min((held - 256 * workers) // 4 - 1, 900))
    got = _run(workers, chunks, workers, ring, ahead, spans=spans)
    for me in range(workers):
        assert got[me] == [route(chunk, FIELDS, workers, me) for chunk in chunks]
    # and the scans were in fact split: some lines of each kind
    kinds = {item.__class__ for chunk in got[0] for item in chunk}
    assert kinds == {bytes, int, tuple}


def test_a_partition_is_read_the_same_through_the_exchange():
    partition = bytes(random.Random(5).randrange(2) for _ in range(1024))
    chunks = _chunks(_log(3000, seed=8), seed=8, most=256)
    got = _run(2, chunks, partition, SMALL_RING, ahead=(0,))
    for me in range(2):
        assert got[me] == [route(chunk, FIELDS, partition, me) for chunk in chunks]


def test_a_worker_that_leaves_has_its_blocks_scanned_by_the_others():
    chunks = _chunks(_log(5000, seed=3), seed=3, most=256)
    # worker 1 leaves after five chunks (having scanned the sixth ahead), worker 2 at once
    got = _run(3, chunks, 3, SMALL_RING, ahead=(1,), leave_after=((1, 5), (2, 0)))
    assert got[0] == [route(chunk, FIELDS, 3, 0) for chunk in chunks]
    assert got[1] == [route(chunk, FIELDS, 3, 1) for chunk in chunks[:5]] and got[2] == []


def test_alone_with_the_others_gone_a_worker_scans_every_block():
    memory = mmap.mmap(-1, Exchange.size(2, SMALL_RING))
    Exchange(memory, 2, 1).leave()
    mine = Exchange(memory, 2, 0)
    chunks = _chunks(_log(2000, seed=4), seed=4, most=256)
    assert [route(chunk, FIELDS, 2, 0, mine) for chunk in chunks] == [route(chunk, FIELDS, 2, 0) for chunk in chunks]
    assert mine.line == 2000


def test_what_an_exchange_refuses():
    with pytest.raises(ValueError):
        Exchange(mmap.mmap(-1, 4096), 2, 0)                          # no room for a ring
    memory = mmap.mmap(-1, Exchange.size(2, SMALL_RING))
    for workers, me in ((0, 0), (2, 2), (2, -1), (256, 0)):        # 255 at most: a share + 1 in a byte
        with pytest.raises(ValueError):
            Exchange(memory, workers, me)
    with pytest.raises(ValueError):
        Exchange.size(2, 100)                                        # a ring of fewer than 1024 lines
    exchange = Exchange(memory, 2, 0)
    with pytest.raises(ValueError):
        route([PLAIN], FIELDS, 2, 1, exchange)                       # another worker's exchange
    # a chunk too long for the ring: four of them and a block (256 lines) a worker must fit
    with pytest.raises(ValueError):
        route([PLAIN] * ((SMALL_RING - 2 * 256) // 4), FIELDS, 2, 0, exchange)
    longest = (SMALL_RING - 2 * 256) // 4 - 1
    Exchange(memory, 2, 1).leave()             # (else this worker would wait for worker 1's block)
    assert route([PLAIN] * longest, FIELDS, 2, 0, exchange) == route([PLAIN] * longest, FIELDS, 2, 0)
    with pytest.raises(TypeError):
        scan_ahead([PLAIN], FIELDS, 2, 0, None)
    scan_ahead([PLAIN] * 3, FIELDS, 2, 0, exchange)
    with pytest.raises(ValueError):
        route([PLAIN] * 5, FIELDS, 2, 0, exchange)                   # not the chunk scanned ahead
    assert len(route([PLAIN] * 3, FIELDS, 2, 0, exchange)) == 3 and exchange.line == longest + 3


def test_a_time_the_ring_cannot_hold_makes_its_line_unsure_through_the_exchange():
    # The ring keeps a line's time in 56 bits (events/_route.c: Found): from -2**55 µs
    # (0828-04-17T00:49:41.036032Z) to just before 2**55 µs (3111-09-16T23:10:18.963968Z). A line
    # past them is one the scan reads surely alone but every worker decodes through the exchange.
    def at(day):
        return PLAIN.replace(b"2026-11-02T00:00:25.301Z", day.encode() + b"T00:00:00Z")
    inside, outside = [at("0828-06-01"), at("3111-06-01"), PLAIN], [at("0828-01-01"), at("3111-12-01")]
    chunk = inside + outside
    alone = route(chunk, FIELDS, 2, 0)
    assert all(item.__class__ is not tuple for item in alone)            # each sure, scanned alone
    memory = mmap.mmap(-1, Exchange.size(2, SMALL_RING))
    Exchange(memory, 2, 1).leave()                 # worker 0 alone: it scans every block
    shared = route(chunk, FIELDS, 2, 0, Exchange(memory, 2, 0))
    assert shared[:3] == alone[:3] and shared[3:] == [(line,) for line in outside]


def test_the_ring_keeps_a_share_in_a_byte():
    # A share and one more in the entry's low byte: share 128 (its top bit) comes back as itself,
    # not as worker 0's; a share past 254 (a partition may name one) is unsure through the ring.
    memory = mmap.mmap(-1, Exchange.size(2, SMALL_RING))
    Exchange(memory, 2, 1).leave()
    exchange = Exchange(memory, 2, 0)
    assert route([PLAIN], FIELDS, bytes([128]) * 1024, 0, exchange) == [PLAIN_US]
    assert route([PLAIN], FIELDS, bytes([254]) * 1024, 0, exchange) == [PLAIN_US]
    assert route([PLAIN], FIELDS, bytes([255]) * 1024, 0, exchange) == [(PLAIN,)]
    assert route([PLAIN], FIELDS, bytes([255]) * 1024, 0) == [PLAIN_US]               # sure alone
    assert Exchange.size(255, SMALL_RING) > 0
    with pytest.raises(ValueError):
        Exchange.size(256, SMALL_RING)


@pytest.mark.parametrize("how, said", [("exit", "exit code 9"), ("kill", "killed by signal 9")])
def test_a_worker_that_dies_makes_eval_run_on_one_worker(tmp_path, monkeypatch, capfd, how, said):
    """Killed or out of memory: the others must not wait for its scans, and the run is made again
    on one worker, deciding the same."""
    import os

    from policyengine.parallel import workers as worker_processes
    from tests.test_records import _log_bytes
    log = tmp_path / "log.jsonl"
    log.write_bytes(_log_bytes(3000, seed=6))
    args = ["eval", "--quiet", "--policy", "policies/examples", str(log)]
    one = run_cli(*args, "--workers", "1")
    assert one.returncode == 0 and one.stdout
    work = worker_processes._work

    def dies(share):
        if share == 1:
            if how == "kill":                   # as the kernel's out-of-memory killer does
                os.kill(os.getpid(), signal.SIGKILL)
            os._exit(9)
        return work(share)
    monkeypatch.setattr(worker_processes, "_work", dies)

    code, out, err = _eval_in_process([*args, "--workers", "3"], capfd)   # (within two minutes: above)
    assert code == 0
    assert err.startswith(f"note: --workers 3: running on one worker: worker 2 of 3 stopped without an answer ({said})")
    assert out == one.stdout
    assert err.split("\n", 1)[1] == one.stderr.decode()


def test_a_wait_for_scans_no_one_will_make_stops_at_a_signal():
    # Ctrl-C (or any signal whose handler raises) must reach a worker waiting in C for another's
    # scans: worker 1 here never comes, and never leaves.
    class Interrupted(Exception):
        pass

    def interrupt(signum, frame):
        raise Interrupted
    memory = mmap.mmap(-1, Exchange.size(2, SMALL_RING))
    exchange = Exchange(memory, 2, 0)
    signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 0.2)
    with pytest.raises(Interrupted):
        route([PLAIN] * 300, FIELDS, 2, 0, exchange)      # lines 256-299 are worker 1's to scan
    # its own block was scanned and published before it waited: worker 1, come late, reads it
    assert route([PLAIN] * 300, FIELDS, 2, 1, Exchange(memory, 2, 1)) == route([PLAIN] * 300, FIELDS, 2, 1)


def test_workers_past_the_exchanges_count_each_scan_every_line_and_decide_the_same(tmp_path, monkeypatch, capfd):
    # Past EXCHANGE_WORKERS (256) the workers share no scans: each routes every line itself, as
    # before the exchange. Here the bound is lowered to 2, so that 3 workers run that way.
    from policyengine.parallel import workers as worker_processes
    from tests.test_records import _log_bytes
    log = tmp_path / "log.jsonl"
    log.write_bytes(_log_bytes(3000, seed=12))
    args = ["eval", "--quiet", "--policy", "policies/examples", str(log)]
    one = run_cli(*args, "--workers", "1")
    made = []
    monkeypatch.setattr(worker_processes, "EXCHANGE_WORKERS", 2)
    monkeypatch.setattr(worker_processes, "Exchange", type("Counted", (), {
        "size": staticmethod(lambda *a: made.append(a) or Exchange.size(*a))}))
    code, out, err = _eval_in_process([*args, "--workers", "3"], capfd)
    assert code == 0 and out == one.stdout and err == one.stderr.decode()
    assert made == []                               # no shared memory was made
