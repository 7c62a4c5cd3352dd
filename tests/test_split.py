"""`policyengine split` and `eval` over a split log: every line of the log in one file, in its order;
the log's own decisions and messages, on one worker or a worker a part (the oracle: one worker
over the log itself, which tests/test_records.py and tests/test_workers.py hold to the dict path)."""
import gzip
import os
from array import array

import orjson
import pytest

from policyengine.events.timestamps import parse_ts
from policyengine.runtime.helpers import share_of
from tests.conftest import run_cli
from tests.test_records import _log_bytes

UNTIL = "2026-12-31T00:00:00Z"


def _split(log, out, *args: str):
    r = run_cli("split", str(log), "--out", str(out), "--quiet", *args)
    assert r.returncode == 0, r.stderr
    return out


def _eval(log, workers: int, *extra: str, policy: str = "policies/examples"):
    return run_cli("eval", "--quiet", "--workers", str(workers), "--policy", policy, "--until", UNTIL, *extra,
                   str(log))


def _files(folder) -> tuple[dict, list[int], list[bytes], list[list[bytes]]]:
    manifest = orjson.loads((folder / "split.json").read_bytes())
    entries = array("Q")
    entries.frombytes((folder / "clock.bin").read_bytes())
    unsure = (folder / "unsure.jsonl").read_bytes().split(b"\n")[:-1]
    parts = [(folder / f"part-{k:03d}.jsonl").read_bytes().split(b"\n")[:-1] for k in range(manifest["parts"])]
    return manifest, list(entries), unsure, parts


def test_a_split_judges_lines_by_every_field_of_the_event_contract():
    # "Sure" is judged without a program: by the contract's fields (model.Event), so a field added
    # to the contract and not to SPLIT_FIELDS would let lines through that every program refuses.
    from policyengine.model import Event
    from policyengine.splitlog import SPLIT_FIELDS
    assert sorted(name.decode() for name, _ in SPLIT_FIELDS) == sorted(Event.model_fields)


@pytest.mark.parametrize("parts", [2, 3])
def test_every_line_lies_in_its_members_part_in_the_logs_order_with_its_time(tmp_path, mixed_log, parts):
    folder = _split(mixed_log, tmp_path / "split", "--parts", str(parts))
    manifest, entries, unsure, files = _files(folder)
    lines = mixed_log.read_bytes().split(b"\n")[:-1]
    partition = bytes.fromhex(manifest["partition"])
    assert manifest["lines"] == len(entries) == len(lines)
    assert manifest["part_lines"] == [len(f) for f in files] and manifest["unsure_lines"] == len(unsure)
    # The clock says whose each line was: reading the files back in its order gives the log.
    at = [0] * (parts + 1)
    for line, entry in zip(lines, entries):
        k = (entry & 0xFF) - 1
        source = files[k] if k >= 0 else unsure
        assert source[at[k]] == line
        at[k] += 1
        if k >= 0:
            # a part's line: an event of one of its members (by the partition, as workers split
            # them), at the time one worker gives it
            event = orjson.loads(line)
            assert share_of(event["user"], partition) == k
            assert entry >> 8 == parse_ts(event["ts"])
    assert at == [len(f) for f in files] + [len(unsure)]
    assert len(unsure) >= 15 and min(len(f) for f in files) > 25_000 // parts


def test_lines_no_program_could_take_as_they_are_are_unsure(tmp_path):
    # Checked by hand against the event contract: JSON that is not one object, a time that is not
    # RFC 3339, a `user` that is empty, a contract field of the wrong kind.
    bad = [b"[1,2,3]", b'{"type":"message","ts":"2026-11-02T00:00:08Z","user":"h1"',
           b'{"type":"message","ts":1793577603,"user":"h1"}',
           b'{"type":"message","ts":"2026-11-02T00:00:04Z","user":""}',
           b'{"type":"message","ts":"2026-11-02T00:00:04Z","user":"h1","text":7}',
           b'{"type":"message","ts":"2026-11-02T00:00:05Z","user":"h1","id":5}',
           b'{"type":"message","ts":"2026-11-02T00:00:09Z","user":"h1","channel":5}',
           b'{"type":"message","ts":"2026-11-02T00:00:09Z","user":"h1","roles":"mod"}', b""]
    good = b'{"type":"message","ts":"2026-11-02T00:00:01Z","user":"h1","text":"hi","roles":["mod"],"x":{"y":1}}'
    log = tmp_path / "log.jsonl"
    log.write_bytes(b"\n".join([good] + bad) + b"\n")
    _, entries, unsure, files = _files(_split(log, tmp_path / "split", "--parts", "2"))
    assert unsure == bad
    assert sum(files, []) == [good]
    assert [e & 0xFF for e in entries][1:] == [0] * len(bad)


@pytest.mark.parametrize("parts", [2, 3])
def test_eval_over_a_split_log_gives_the_logs_decisions_and_messages(tmp_path, mixed_log, parts):
    folder = _split(mixed_log, tmp_path / "split", "--parts", str(parts))
    one = _eval(mixed_log, 1)
    assert one.returncode == 0
    # the comparison covers timers, ladders, late lines and bad lines, named as in the log
    assert b"warning[W0102]" in one.stderr and f"{mixed_log}:".encode() in one.stderr
    decisions = {orjson.loads(x)["action"] for x in one.stdout.splitlines()}
    assert {"delete", "mute", "ban", "notify", "promote", "warn"} <= decisions
    for workers in (1, parts):
        got = _eval(folder, workers)
        assert got.returncode == 0
        assert (got.stdout, got.stderr) == (one.stdout, one.stderr)
    # with no --workers given, a split log still runs a worker a part; asked for more, it says so
    plain = run_cli("eval", "--policy", "policies/examples", "--out", str(tmp_path / "d.jsonl"), str(folder))
    more = run_cli("eval", "--workers", "5", "--policy", "policies/examples", "--out", str(tmp_path / "e.jsonl"),
                   str(folder))
    for r in (plain, more):
        said = [line.split()[-1] for line in r.stderr.decode().splitlines() if line.startswith("workers ")]
        assert said == [str(parts)]
    assert more.stderr.startswith(f"note: --workers 5: a log split in {parts} parts runs on {parts} workers\n".encode())


def test_strict_and_text_output_over_a_split_log_are_the_logs(tmp_path, mixed_log):
    folder = _split(mixed_log, tmp_path / "split", "--parts", "2")
    for extra in (("--strict",), ("--format", "text")):
        one, two = _eval(mixed_log, 1, *extra), _eval(folder, 2, *extra)
        assert one.returncode == two.returncode
        assert (one.stdout, one.stderr) == (two.stdout, two.stderr)
    assert _eval(folder, 2, "--strict").returncode == 3


def test_over_long_lines_are_left_out_and_reported_where_they_were(tmp_path):
    lines = [orjson.dumps(e) for e in __import__("benchmarks.loggen", fromlist=["generate"]).generate(3_000, seed=3)]
    lines[100] = b'{"type":"message","ts":"2026-11-02T00:00:01Z","user":"long","text":"' + b"x" * 500 + b'"}'
    lines[2000] = b"y" * 900
    log = tmp_path / "log.jsonl"
    log.write_bytes(b"\n".join(lines) + b"\n")
    folder = _split(log, tmp_path / "split", "--parts", "2", "--max-line-bytes", "400")
    one = _eval(log, 1, "--max-line-bytes", "400")
    assert one.stderr.count(b"error[E0101]") == 2 and f"{log}:101:".encode() in one.stderr
    for workers in (1, 2):
        got = _eval(folder, workers, "--max-line-bytes", "400")
        assert (got.returncode, got.stdout, got.stderr) == (one.returncode, one.stdout, one.stderr)
    _, entries, unsure, files = _files(folder)
    assert entries[100] & 0xFF == 0xFF and entries[2000] & 0xFF == 0xFF
    assert all(len(line) <= 400 for line in sum(files, []) + unsure)


# A program reading a field of its own as a number: a line with a string there is an event the
# split (judging by the event contract alone) calls sure, and a bad line for this program. Its
# worker stops the run, which goes to one worker reading the parts in the log's order: exact.
SCORED = 'policy scored\nevent message { score: number }\nrule high { on message where score > 5 do warn("high") }\n'


def test_a_sure_line_the_program_refuses_sends_the_run_to_one_worker_exactly(tmp_path, mixed_log):
    lines = mixed_log.read_bytes().split(b"\n")[:-1]
    lines = [line.replace(b'"type":"message",', b'"type":"message","score":%d,' % (i % 9), 1)
             for i, line in enumerate(lines)]
    lines[5000] = b'{"type":"message","ts":"2026-11-05T00:00:00Z","user":"u1","score":"high"}'
    log = tmp_path / "scored.jsonl"
    log.write_bytes(b"\n".join(lines) + b"\n")
    policy = tmp_path / "scored.policy"
    policy.write_text(SCORED)
    folder = _split(log, tmp_path / "split", "--parts", "2")
    assert b'"score":"high"' in b"".join(_files(folder)[3][0] + _files(folder)[3][1])    # in a part: sure
    one = _eval(log, 1, policy=str(policy))
    assert one.stderr.count(b"error[E0101]") >= 1 and one.stdout.count(b'"high"') > 1000
    two = _eval(folder, 2, policy=str(policy))
    assert two.stdout == one.stdout
    note, rest = two.stderr.split(b"\n", 1)
    assert note.startswith(b"note: --workers 2: running on one worker: a line routed as an event was refused")
    assert rest == one.stderr


def test_a_damaged_split_is_said_so_without_a_traceback(tmp_path, mixed_log):
    folder = _split(mixed_log, tmp_path / "split", "--parts", "2")
    part = folder / "part-001.jsonl"
    data = part.read_bytes()
    part.write_bytes(data.replace(b"\n", b" ", 1))                 # two lines one, its size the same
    for workers in (1, 2):
        r = _eval(folder, workers)
        assert r.returncode == 3
        assert b"the split log is damaged" in r.stderr and b"Traceback" not in r.stderr
    part.write_bytes(data.split(b"\n", 1)[1])                      # a line lost: found before the run
    r = _eval(folder, 2)
    assert r.returncode == 3 and r.stdout == b"" and b"Traceback" not in r.stderr
    assert f"{part}: not the {len(data):,} bytes its manifest says; split the log again".encode() in r.stderr
    part.write_bytes(data)
    (folder / "clock.bin").write_bytes((folder / "clock.bin").read_bytes()[:-8])
    r = _eval(folder, 2)
    lines = mixed_log.read_bytes().count(b"\n")
    assert r.returncode == 3 and f"clock.bin: not {lines} entries as its manifest says".encode() in r.stderr
    (folder / "split.json").write_bytes(b'{"format": "something else"}')
    r = _eval(folder, 2)
    assert r.returncode == 3 and b"not a split log's manifest" in r.stderr and b"Traceback" not in r.stderr


def test_what_split_and_eval_refuse(tmp_path, mixed_log):
    folder = _split(mixed_log, tmp_path / "split", "--parts", "2")
    again = run_cli("split", str(mixed_log), "--out", str(folder), "--parts", "2")
    assert again.returncode == 3 and b"already exists and is not an empty folder" in again.stderr
    for parts in ("0", "65"):
        r = run_cli("split", str(mixed_log), "--out", str(tmp_path / f"p{parts}"), "--parts", parts)
        assert r.returncode == 3 and b"give 1 to 64" in r.stderr and not (tmp_path / f"p{parts}").exists()
    mixed = _eval(folder, 2, str(mixed_log))
    assert mixed.returncode == 3 and b"is a split log and" in mixed.stderr
    other = _split(mixed_log, tmp_path / "three", "--parts", "3")
    apart = _eval(folder, 2, str(other))
    assert apart.returncode == 3 and b"were split differently" in apart.stderr
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".split-")]       # nothing half made left


def test_logs_split_alike_are_read_by_the_same_workers(tmp_path, mixed_log):
    second = tmp_path / "second.jsonl"
    second.write_bytes(_log_bytes(8_000, seed=9).replace(b'"2026-11-', b'"2026-12-'))
    first = _split(mixed_log, tmp_path / "a", "--parts", "2")
    alike = _split(second, tmp_path / "b", "--like", str(first))
    assert _files(alike)[0]["partition"] == _files(first)[0]["partition"]
    one = run_cli("eval", "--quiet", "--policy", "policies/examples", str(mixed_log), str(second))
    two = run_cli("eval", "--quiet", "--workers", "2", "--policy", "policies/examples", str(first), str(alike))
    assert one.returncode == two.returncode == 0
    assert (two.stdout, two.stderr) == (one.stdout, one.stderr) and len(one.stdout) > 0


def test_a_gzipped_log_and_standard_input_split_as_the_plain_log(tmp_path, mixed_log):
    plain = _split(mixed_log, tmp_path / "plain", "--parts", "2")
    packed = tmp_path / "mixed.jsonl.gz"
    packed.write_bytes(gzip.compress(mixed_log.read_bytes()))
    # (its own partition is sampled from its head, a plain log's from windows spread over it)
    zipped = _split(packed, tmp_path / "zipped", "--like", str(plain))
    for name in ("clock.bin", "unsure.jsonl", "part-000.jsonl", "part-001.jsonl"):
        assert (zipped / name).read_bytes() == (plain / name).read_bytes()
    piped = run_cli("split", "-", "--out", str(tmp_path / "piped"), "--parts", "2", stdin=mixed_log.read_bytes())
    assert piped.returncode == 0
    # standard input is read once: its members are parted by CRC-32 alone, the decisions the same
    assert _eval(tmp_path / "piped", 2).stdout == _eval(mixed_log, 1).stdout


def test_two_workers_report_over_a_split_log_is_the_logs(tmp_path, mixed_log):
    folder = _split(mixed_log, tmp_path / "split", "--parts", "2")
    pages = []
    for log, workers in ((mixed_log, 1), (folder, 2)):
        page = tmp_path / f"report-{workers}.html"
        r = run_cli("eval", "--quiet", "--workers", str(workers), "--policy", "policies/examples", "--report",
                    str(page), "--out", str(tmp_path / "d.jsonl"), str(log))
        assert r.returncode == 0
        pages.append(page.read_bytes())
    assert pages[0] == pages[1] and b"<html" in pages[0]


def test_one_worker_reads_the_parts_back_as_the_log_in_its_chunks_in_c_and_in_python(tmp_path, mixed_log,
                                                                                      monkeypatch):
    from policyengine.logs import line_batches
    from policyengine.splitlog import open_split, read
    batches = list(line_batches(open(mixed_log, "rb"), 400))
    folder = _split(mixed_log, tmp_path / "split", "--parts", "3", "--max-line-bytes", "400")
    # the chunks the log is read in, so that a stretch of the record loop ends where it does over
    # the log (the report counts a decision's channel at its end)
    assert [len(b) for b in open_split(str(folder)).batches(400)] == [len(b) for b in batches] and len(batches) > 10
    lines = [line for batch in batches for line in batch]
    assert None in lines                                  # the 400-digit number's line is over
    # chunks of 7 lines, which end anywhere in each part's: the lines in order all the same
    manifest = orjson.loads((folder / "split.json").read_bytes())
    sevens = array("I", [7] * (len(lines) // 7) + ([len(lines) % 7] if len(lines) % 7 else []))
    (folder / "chunks.bin").write_bytes(sevens.tobytes())
    (folder / "split.json").write_bytes(orjson.dumps({**manifest, "chunks": len(sevens)}))
    c_lines = [line for batch in open_split(str(folder)).batches(400) for line in batch]
    monkeypatch.setattr(read, "interleave", None)
    python_batches = list(open_split(str(folder)).batches(400))
    assert [len(b) for b in python_batches] == list(sevens)
    assert c_lines == [line for batch in python_batches for line in batch] == lines


def test_an_empty_log_and_a_damaged_gzip_log(tmp_path, mixed_log):
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    folder = _split(empty, tmp_path / "empty", "--parts", "2")
    assert orjson.loads((folder / "split.json").read_bytes())["lines"] == 0
    for workers in (1, 2):
        r = _eval(folder, workers)
        assert r.returncode == 0 and r.stdout == _eval(empty, 1).stdout
    # a gzip log cut short: said with the line it was cut at, and no folder that reads as a split
    data = gzip.compress(mixed_log.read_bytes())
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(data[:len(data) // 2])
    r = run_cli("split", str(cut), "--out", str(tmp_path / "cut"), "--parts", "2")
    assert r.returncode == 3 and b"the compressed log is damaged or cut short" in r.stderr
    assert b"Traceback" not in r.stderr and not (tmp_path / "cut").exists()
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".split-")]


def test_a_split_log_is_not_split_again(tmp_path, mixed_log):
    folder = _split(mixed_log, tmp_path / "split", "--parts", "2")
    r = run_cli("split", str(folder), "--out", str(tmp_path / "again"), "--parts", "3")
    assert r.returncode == 3 and not (tmp_path / "again").exists()
    assert r.stderr == f"error[E0001]: {folder}: already a split log; split the log it was made from ({mixed_log}) " \
                       "into other parts\n".encode()


def test_eval_with_a_larger_line_limit_than_the_splits_says_what_the_split_left_out(tmp_path):
    lines = [b'{"type":"message","ts":"2026-11-02T00:00:0%dZ","user":"u%d","text":"%s"}' % (i, i, b"x" * 300 * i)
             for i in range(4)]
    log = tmp_path / "log.jsonl"
    log.write_bytes(b"\n".join(lines) + b"\n")
    folder = _split(log, tmp_path / "split", "--parts", "2", "--max-line-bytes", "500")
    assert orjson.loads((folder / "split.json").read_bytes())["overlong_lines"] == 2      # of 668 and 968 bytes
    r = _eval(folder, 2)
    assert r.returncode == 0
    assert r.stderr.startswith(f"warning[W0103]: {folder}: 2 lines over 500 bytes were left out when it was "
                               "split;".encode())
    # named as over the split's limit, not eval's (1 MiB), at their lines in the log
    assert r.stderr.count(b"line longer than 500 bytes") == 2 and f"{log}:3: error".encode() in r.stderr
    same = _eval(folder, 2, "--max-line-bytes", "500")
    assert b"W0103" not in same.stderr and same.stderr.count(b"line longer than 500 bytes") == 2
    # each split log says its own: a second, split alike, with one line left out
    later = tmp_path / "later.jsonl"
    later.write_bytes(lines[3].replace(b"2026-11-02", b"2026-11-03") + b"\n")
    second = _split(later, tmp_path / "second", "--like", str(folder), "--max-line-bytes", "500")
    both = run_cli("eval", "--quiet", "--policy", "policies/examples", str(folder), str(second))
    assert both.returncode == 0
    said = [line for line in both.stderr.decode().splitlines() if line.startswith("warning[W0103]")]
    assert said == [f"warning[W0103]: {folder}: 2 lines over 500 bytes were left out when it was split; they are "
                    "reported as over-long here (split the log again with a larger --max-line-bytes to read them)",
                    f"warning[W0103]: {second}: 1 line over 500 bytes was left out when it was split; it is "
                    "reported as over-long here (split the log again with a larger --max-line-bytes to read them)"]


def test_a_progress_line_when_asked_and_none_otherwise(tmp_path, mixed_log):
    shown = run_cli("split", str(mixed_log), "--out", str(tmp_path / "a"), "--parts", "2", "--progress", "always")
    quiet = run_cli("split", str(mixed_log), "--out", str(tmp_path / "b"), "--parts", "2")     # auto, not a terminal
    assert shown.returncode == quiet.returncode == 0
    assert shown.stderr.startswith(f"\r{mixed_log}: ".encode()) and b" events, " in shown.stderr
    summary = shown.stderr.split(b"\r\x1b[K")[-1]                     # cleared before the summary
    assert summary == quiet.stderr.replace(str(tmp_path / "b").encode(), str(tmp_path / "a").encode())
    assert b"\r" not in quiet.stderr and quiet.stderr.startswith(b"split 30,025 lines of")
    assert (tmp_path / "a" / "clock.bin").read_bytes() == (tmp_path / "b" / "clock.bin").read_bytes()
