"""The pure-Python fallbacks decide as the C modules do. setup.py builds the C extensions
optionally (a machine without a compiler installs without them), so each C module has a Python
path; here they run with the extensions hidden (tests/without_c.py) against the built ones, over
the community pack and the examples: every decision line byte for byte, and a bot's checkpoint
and restart."""
import subprocess
import sys

import orjson

from benchmarks.loggen import generate
from conftest import ROOT

HIDE = str(ROOT / "tests" / "without_c.py")
POLICIES = ["--policy", str(ROOT / "policies/community"), "--policy", str(ROOT / "policies/examples")]


def _run(*args, hidden: bool, cwd=ROOT) -> subprocess.CompletedProcess:
    head = [sys.executable, HIDE] if hidden else [sys.executable]
    return subprocess.run([*head, *args], capture_output=True, cwd=cwd, timeout=300)


def test_the_extensions_are_hidden_and_the_fallbacks_load():
    # Built here, so the comparisons below compare something; hidden, none is loaded.
    probe = ("import policyengine.cli.main, policyengine.replay, policyengine.engine, sys; "
             "print(sorted(m for m in sys.modules if m.startswith('policyengine.') "
             "and m.rpartition('.')[2].startswith('_') and not m.endswith('__main__')))")
    built, hidden = (_run("-c", probe, hidden=h) for h in (False, True))
    assert built.returncode == 0 and b"policyengine.events._records" in built.stdout
    assert hidden.returncode == 0 and hidden.stdout.strip() == b"[]", hidden.stderr[-800:]


def test_eval_without_the_c_modules_writes_the_same_decisions(tmp_path):
    log = tmp_path / "log.jsonl"
    sample = [orjson.loads(line) for line in
              subprocess.run(["zcat", str(ROOT / "data/sample/community-chat.jsonl.gz")], capture_output=True).stdout.splitlines()[:1500]]
    log.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in [*sample, *generate(2500, seed=11, members=60)]))
    outputs = []
    for hidden in (False, True):
        out = tmp_path / f"{hidden}.jsonl"
        done = _run("-m", "policyengine", "eval", *POLICIES, "--until", "2030-01-01T00:00:00Z", "--quiet",
                    "--out", str(out), "--state", str(tmp_path / f"{hidden}.db"), "--checkpoint-every", "997", str(log),
                    hidden=hidden)
        assert done.returncode == 0 and b"Traceback" not in done.stderr, done.stderr[-800:]
        outputs.append(out.read_bytes())
    assert outputs[0].count(b"\n") > 2000                   # the rules decided plenty
    assert outputs[1] == outputs[0]


BOT = """
import sys
sys.path.insert(0, {root!r})
import orjson
from policyengine import Engine
from benchmarks.loggen import generate
events = list(generate(3000, seed=5, members=80))
decided = []
engine = Engine.load({root!r} + "/policies/community", state=sys.argv[1])
for i, event in enumerate(events):
    if i in (1000, 2000):
        engine.checkpoint()
        engine.close()
        engine = Engine.load({root!r} + "/policies/community", state=sys.argv[1])
    decided += [d.model_dump(mode="json") for d in engine.process(event)]
engine.close()
sys.stdout.buffer.write(orjson.dumps(decided))
"""


def test_a_bot_without_the_c_modules_checkpoints_and_restarts_as_with_them(tmp_path):
    script = tmp_path / "bot.py"
    script.write_text(BOT.format(root=str(ROOT)))
    runs = [_run(str(script), str(tmp_path / f"{hidden}.db"), hidden=hidden) for hidden in (False, True)]
    for run in runs:
        assert run.returncode == 0, run.stderr[-800:]
    assert len(orjson.loads(runs[0].stdout)) > 1000 and runs[1].stdout == runs[0].stdout
