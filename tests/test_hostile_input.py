"""Hostile text and hostile logs: bounded time and memory, a clear per-line error, nothing lost."""
import time
import tracemalloc

import orjson
import pytest

from conftest import ROOT, run_cli
from policyengine.engine import Engine
from policyengine.runtime.text import link_count, mention_count, normalize, simhash

ADVERSARIAL = {
    "dotted": "a." * 50_000,                      # took 277 s in a backtracking URL pattern
    "long-labels": ("a" * 60 + ".") * 1_600,
    "ats": "@" * 100_000,
    "chinese": "加微信" * 33_000,
    "invisible": " \u200b" * 50_000,
    "emoji": "👍" * 50_000,
}


@pytest.mark.parametrize("name", sorted(ADVERSARIAL))
def test_text_helpers_stay_fast_on_100kb_adversarial_messages(name):
    text = ADVERSARIAL[name]
    for helper in (link_count, mention_count, normalize, simhash):
        started = time.perf_counter()
        helper(text)
        assert time.perf_counter() - started < 0.5, f"{helper.__name__} on {name}"


def test_the_community_pack_handles_100kb_messages_and_huge_mention_lists():
    engine = Engine.load(str(ROOT / "policies/community"))
    started = time.perf_counter()
    for i, (name, text) in enumerate(sorted(ADVERSARIAL.items())):
        engine.process({"type": "message", "ts": i, "user": "u", "id": f"m{i}", "text": text,
                        "mentions": [f"u{j}" for j in range(100_000)]})
    assert time.perf_counter() - started < 5.0
    assert not engine.issues


def test_hostile_log_lines_each_get_an_error_and_the_rest_is_evaluated(tmp_path):
    good = b'{"type":"message","ts":%d,"user":"u","id":"m%d","text":"\xe5\x8a\xa0\xe5\xbe\xae\xe4\xbf\xa1"}'
    lines = [
        good % (1, 1),
        b'{"type":"message","ts":2,"user":"u","id":"m2","text":"cut short',                 # truncated
        b'{"type":"message","ts":3,"user":"u","id":"m3","text":"\xff\xfe bad utf-8"}',      # invalid UTF-8
        b'{"type":"message","ts":NaN,"user":"u","id":"m4"}',                               # NaN
        b'{"type":"message","ts":1e400,"user":"u","id":"m5"}',                             # huge number
        b'{"type":"message","ts":1e15,"user":"u","id":"m6"}',                              # year > 9999
        b'{"type":"message","ts":7,"user":["u"],"id":"m7"}',                               # wrong type
        b'[' * 5000 + b']' * 5000,                                                         # deep nesting
        b'{"type":"message","ts":8,"user":"u","x":' + b'[' * 5000 + b']' * 5000 + b'}',     # ... in a field no rule reads
        good % (9, 9),
        good % (9, 9),                                                                     # duplicate id
        good % (1, 11),                                                                    # far out of order
    ]
    log = tmp_path / "hostile.jsonl"
    log.write_bytes(b"\n".join(lines) + b"\n")
    r = run_cli("eval", "--policy", "policies/examples/ads.policy", str(log))
    err = r.stderr.decode()
    assert r.returncode == 0 and "Traceback" not in err
    for n in (2, 3, 4, 5, 6, 7, 8, 9):
        assert f"{log}:{n}: error[E0101]" in err, n
    assert f"{log}:12: warning[W0102]" in err
    decisions = [orjson.loads(x) for x in r.stdout.splitlines()]
    # m1, the two m9 (a duplicate id is still an event) and m11 (late: evaluated at the latest time).
    assert [d["event_id"] for d in decisions if d["action"] == "delete"] == ["m1", "m9", "m9", "m11"]


def test_a_100mb_line_is_reported_and_skipped_in_bounded_memory(tmp_path):
    from policyengine.logs import lines_bounded
    log = tmp_path / "huge.jsonl"
    with open(log, "wb") as f:
        f.write(b'{"type":"checkin","ts":1,"user":"u"}\n')
        f.write(b'{"type":"message","ts":2,"user":"u","text":"' + b"x" * (100 << 20) + b'"}\n')
        f.write(b'{"type":"checkin","ts":3,"user":"u"}\n')
    tracemalloc.start()
    with open(log, "rb") as f:
        seen = [line if line is None else len(line) for line in lines_bounded(f, 1 << 20)]
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert seen[0] > 0 and seen[1] is None and seen[2] > 0
    assert peak < 8 << 20                       # never more than a few chunks of the line at once
    r = run_cli("eval", "--quiet", "--policy", "policies/examples/ads.policy", str(log))
    assert r.returncode == 0 and f"{log}:2: error[E0101]: line longer than 1,048,576 bytes".encode() in r.stderr
