"""Where `eval`'s and `diff`'s decisions go: the output, its write errors said as such, each
decision as a JSON line or a line of text, and counted by `--report` on its way."""
from __future__ import annotations

from policyengine.cli.reporting import printable
from policyengine.output.decisions import dump_lines


class OutputError(Exception):
    """The decisions could not be written: a full disk, a file taken away. Said as such (exit 3), not
    as a bug: `--out /dev/full` was an internal error."""


class Output:
    """The decisions' file or standard output, its write errors said as OutputError."""
    __slots__ = ("raw", "name")

    def __init__(self, raw, name: str):
        self.raw, self.name = raw, name

    def _said(self, call, *args):
        try:
            return call(*args)
        except BrokenPipeError:
            raise
        except OSError as err:
            raise OutputError(f"{self.name}: cannot write the decisions: {err.strerror or err}") from None

    def write(self, data) -> int:
        return self._said(self.raw.write, data)

    def flush(self) -> None:
        self._said(self.raw.flush)

    def close(self) -> None:
        self._said(self.raw.close)


def jsonl_writer(out):
    write = out.write

    def emit(decision: dict) -> None:
        write(dump_lines((decision,)))

    # replay hands on a stretch of decisions at a time: one call and one write for them all, not
    # one each (the community pack decides on six events in ten).
    def many(decisions: list[dict]) -> None:
        write(dump_lines(decisions))
    many.takes_records = True           # decision records as they are (output/decisions.py)
    emit.many = many
    return emit


_TEXT_FIELDS = ("message_id", "duration_s", "message", "role", "badge", "points", "title", "label", "channel", "to")


def text_writer(out):
    def emit(d: dict) -> None:
        subject = f"user={d['user']}" if "user" in d else f"channel={d.get('channel', '-')}"
        extras = " ".join(f"{k}={d[k]}" for k in _TEXT_FIELDS if k in d and not (k == "channel" and "user" not in d))
        reason = f"  # {d['reason']}" if "reason" in d else ""
        line = f"{d['ts']}  {d['policy']}/{d['rule']}  {d['action']:<12} {subject} {extras}".rstrip() + reason
        out.write(printable(line).encode() + b"\n")     # one line a decision, whatever a name holds
    return emit


def observed(emit, report):
    """`emit` with each decision counted by `report` (--report's ReportData) before it is written; a
    stretch at a time where `emit` takes stretches, as records where it takes records."""
    write_decision, write_many = emit, getattr(emit, "many", None)

    def observing(decision: dict) -> None:
        report.observe_decision(decision)
        write_decision(decision)
    if write_many is not None:
        def many(decisions: list) -> None:
            report.observe_decisions(decisions)
            write_many(decisions)
        many.takes_records = getattr(write_many, "takes_records", False)
        observing.many = many
    return observing
