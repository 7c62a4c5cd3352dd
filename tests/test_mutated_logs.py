"""Logs damaged line by line, through the command line: lines cut short, bytes flipped, keys
escaped, fields given twice, times far off or malformed, members whose names hold quotes, braces or
non-ASCII text, windows of lines out of order. Two and three workers must give one worker's
decisions, messages and report, on the log and on it gzipped; `diff` must report what two `eval`
runs matched k-th with k-th by identity say (tests/test_diff_matching.matched_by_hand, independent of
diff's matching and of the lines it sets aside unparsed)."""
import gzip
import random
import re
import shutil

import orjson
import pytest

from benchmarks.loggen import generate
from tests.conftest import ROOT, run_cli
from tests.test_diff_matching import _but_policy, _counted, matched_by_hand


def _mutated(line: bytes, rnd: random.Random) -> bytes:
    """One of 28 ways a line goes wrong (or merely odd: some are still good events)."""
    k = rnd.randrange(28)
    s = line
    user = re.compile(rb'"user":"[^"]*"')
    return [
        lambda: s[:rnd.randrange(len(s))],                                   # cut short
        lambda: (lambda i: s[:i] + bytes([rnd.randrange(256)]) + s[i + 1:])(rnd.randrange(len(s))),
        lambda: s.replace(b'"user"', b'"us\\u0065r"', 1),                    # an escaped key
        lambda: s[:-1] + b',"user":"dup' + str(rnd.randrange(5)).encode() + b'"}',   # a field twice
        lambda: s.replace(b'"ts":"', b'"ts":"9999', 1),
        lambda: s.replace(b'"ts":"2', b'"ts":"1', 1),                        # centuries early: late
        lambda: b"\xef\xbb\xbf" + s,
        lambda: s + b"\r",
        lambda: b"",
        lambda: b"   " + s + b"  ",
        lambda: s.replace(b'"user":"', b'"user":"\\u00e9', 1),
        lambda: s.replace(b'"ts":"', b'"ts":1', 1),
        lambda: s[:-1] + b',"extra":{"a":[1,2,{"b":null}],"c":1e400}}',
        lambda: s[:-1] + b',"n":' + b"9" * 50 + b"}",
        lambda: s.replace(b'"text":"', b'"text":"\\ud800', 1),
        lambda: s.replace(b'"text":"', b'"text":"\xff\xfe', 1),
        lambda: b"[" + s + b"]",
        lambda: s.replace(b'"user":"', b'"user":"\xe4\xb8\xad', 1),
        lambda: s.replace(b'"type":"', b'"type":"x', 1),
        lambda: s[:-1] + b',"ts":"2026-01-01T00:00:00Z"}',
        lambda: s.replace(b'Z"', b'+08:00"', 1),
        lambda: s.replace(b'Z"', b'.123456789Z"', 1),
        lambda: s.replace(b'"user":"', b'"user":null,"x":"', 1),
        lambda: s.replace(b":", b" : ", 3),
        lambda: user.sub(b'"user":""', s, 1),
        lambda: s.replace(b'"user":"', b'"user":"q\\"', 1),                 # a quote in the name
        lambda: s.replace(b'"user":"', b'"user":"{b}', 1),                   # braces in the name
        lambda: s.replace(b'"ts":"', b'"ts":"2026-02-30T', 1),
    ][k]()


def _log(seed: int, events: int, members: int, rate: float) -> bytes:
    rnd = random.Random(seed)
    lines = [orjson.dumps(e) for e in generate(events, seed=seed, members=members, spammers=4)]
    lines = [_mutated(line, rnd) if line and rnd.random() < rate else line for line in lines]
    start = rnd.randrange(len(lines) - 200)
    window = lines[start:start + 200]
    rnd.shuffle(window)
    lines[start:start + 200] = window
    return b"\n".join(lines) + b"\n"


_TIMING = re.compile(rb"^(?:(?:elapsed|throughput|workers)\b|note:).*\n?", re.M)


def _eval(log, workers: int, *extra: str):
    done = run_cli("eval", "--workers", str(workers), "--policy", "policies/examples",
                   "--until", "2026-12-31T00:00:00Z", *extra, str(log))
    return done.returncode, done.stdout, _TIMING.sub(b"", done.stderr.replace(b".jsonl.gz", b".jsonl"))


@pytest.mark.parametrize("seed", [11, 12])
def test_damaged_logs_give_one_workers_decisions_messages_and_report_on_any_workers(tmp_path, seed):
    data = _log(seed, 6000, 60, 0.1)
    log = tmp_path / "damaged.jsonl"
    log.write_bytes(data)
    packed = tmp_path / "damaged.jsonl.gz"
    packed.write_bytes(gzip.compress(data))
    one = _eval(log, 1)
    assert one[0] == 0 and one[1].count(b"\n") > 100          # decisions made, bad lines said
    assert b"Traceback" not in one[2] and b"error[" in one[2]
    for workers in (2, 3):
        for source in (log, packed):
            assert _eval(source, workers) == one
    pages = []
    for workers in (1, 2):
        page = tmp_path / f"report{workers}.html"
        assert _eval(log, workers, "--report", str(page))[1] == one[1]
        pages.append(page.read_bytes())
    assert pages[0] == pages[1]


def test_diff_of_a_damaged_log_reports_what_two_evals_matched_by_hand_say(tmp_path):
    data = _log(21, 20000, 300, 0.05)
    log = tmp_path / "damaged.jsonl"
    log.write_bytes(data)
    edited = tmp_path / "community"
    shutil.copytree(ROOT / "policies" / "community", edited)
    rules = edited / "rules.policy"
    source = rules.read_text(encoding="utf-8")
    assert "count(message by user within 10s) >= 8" in source
    rules.write_text(source.replace("count(message by user within 10s) >= 8",
                                    "count(message by user within 10s) >= 7"), encoding="utf-8")
    done = run_cli("diff", "--format", "json", "--policy", "policies/community", "--against", str(edited), str(log))
    assert done.returncode == 0 and b"Traceback" not in done.stderr
    report = orjson.loads(done.stdout)
    old, new = (run_cli("eval", "--quiet", "--policy", policy, str(log)).stdout.splitlines()
                for policy in ("policies/community", str(edited)))
    old, new = [orjson.loads(x) for x in old], [orjson.loads(x) for x in new]
    # escaped names reach the decisions (their lines keep a batch pair whole in diff's C scan)
    assert any(b'\\"' in orjson.dumps(d) for d in old)
    counts, members = matched_by_hand(old, new, same=lambda x, y: _but_policy(x) == _but_policy(y))
    assert counts                                           # the edit changes something
    assert _counted(report) == counts and report["members_affected"] == len(members)


def _events_read(stderr: bytes) -> int:
    return int(re.search(rb"events read +([\d,]+)", stderr).group(1).replace(b",", b""))


@pytest.mark.parametrize("damage", ["cut short", "a byte flipped"])
def test_a_damaged_gzip_log_is_evaluated_up_to_the_damage_on_any_workers(tmp_path, damage):
    # Workers read a chunk ahead; the chunk before the damage was lost with the error (1 624 lines
    # of a log one worker read 2 791 of). Cut short, what zlib inflates of the file is the oracle:
    # its complete lines are the events read.
    import zlib
    data = b"\n".join(orjson.dumps(e) for e in generate(30000, seed=3, members=200)) + b"\n"
    packed = bytearray(gzip.compress(data))
    if damage == "cut short":
        packed = packed[:len(packed) * 3 // 5]
    else:
        packed[len(packed) * 3 // 5] ^= 0x55
    log = tmp_path / "damaged.jsonl.gz"
    log.write_bytes(bytes(packed))
    runs = [run_cli("eval", "--workers", str(workers), "--policy", "policies/examples", str(log))
            for workers in (1, 2, 3)]
    for done in runs:
        assert done.returncode == 0 and b"error[E0102]" in done.stderr and b"Traceback" not in done.stderr
        assert done.stdout == runs[0].stdout
        assert _TIMING.sub(b"", done.stderr) == _TIMING.sub(b"", runs[0].stderr)
    if damage == "cut short":
        inflated = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(bytes(packed))
        assert _events_read(runs[1].stderr) == inflated.count(b"\n") > 10000
