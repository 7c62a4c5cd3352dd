"""`eval --report` with `--workers N`: each worker counts its own members' events and the decisions it
makes, and the parent adds the parts up into the page one worker writes, byte for byte."""
import re

import pytest

from policyengine.report.collect import ReportSummary
from policyengine.report.html import _ranked, render
from tests.conftest import run_cli
from tests.test_records import HOSTILE, _log_bytes
from tests.test_route import _eval_in_process

UNTIL = "2026-12-31T00:00:00Z"
# Lines the route is unsure of (escapes in the member's name, a key twice, a time in epoch seconds),
# each judged by every worker and counted by the one whose member it is: "\u0075\u0038\u0030" is
# u80, a member whose plain lines are sure; the same member must be one poster, not one a worker.
UNSURE = [
    b'{"type":"message","ts":"2026-11-02T10:00:00Z","user":"\\u0075\\u0038\\u0030","id":"s1","channel":"help",'
    b'"text":"\\u52a0\\u5fae\\u4fe1"}',
    b'{"type":"message","ts":"2026-11-02T10:00:01Z","user":"u481","user":"u80","id":"s2","channel":"general","text":"hi"}',
    b'{"type":"message","ts":1793613602,"user":"\\u5f20\\u4e09","id":"s3","channel":"\\u95f2\\u804a","text":"promo.example/z"}',
    b'{"type":"join","ts":"2026-11-02T10:00:03Z","user":"\\u004e\\u0065\\u0077","id":"s4","channel":"general"}',
]

# Ads (deleted: each decision counted in its event's channel) whose channel the report reads in
# every way but the plain one: escaped, twice (the last counts), a number, an object, nested
# beside one, with a quote in the id; the record decoder notes them or leaves them to the
# report's own scan (events/_noted.h). Members apart, ids unique: one worker's page on any number.
ODD_CHANNELS = [
    b'{"type":"message","ts":"2026-11-02T11:00:00Z","user":"u7","id":"c1","channel":"\\u95f2\\u804a",'
    b'"text":"\\u52a0\\u5fae\\u4fe1"}',
    b'{"type":"message","ts":"2026-11-02T11:00:01Z","user":"u8","id":"c2","channel":"help","channel":"offtopic",'
    b'"text":"\\u52a0\\u5fae\\u4fe1"}',
    b'{"type":"message","ts":"2026-11-02T11:00:02Z","user":"u9","id":"c3","channel":7,"text":"\\u52a0\\u5fae\\u4fe1"}',
    b'{"type":"message","ts":"2026-11-02T11:00:03Z","user":"u10","id":"c4","channel":{"x":"general"},'
    b'"text":"\\u52a0\\u5fae\\u4fe1"}',
    b'{"type":"message","ts":"2026-11-02T11:00:04Z","user":"u11","meta":{"channel":"n","id":"q"},"id":"c5",'
    b'"channel":"announcements","text":"\\u52a0\\u5fae\\u4fe1"}',
    b'{"type":"message","ts":"2026-11-02T11:00:05Z","user":"u12","id":"c\\"6","channel":"help",'
    b'"text":"\\u52a0\\u5fae\\u4fe1"}',
]


@pytest.fixture(scope="module")
def report_log(tmp_path_factory):
    """benchmarks.loggen's log with bad lines, late lines and the lines above spread through it."""
    lines = _log_bytes(30_000, seed=5).split(b"\n")
    odd = UNSURE + ODD_CHANNELS
    step = len(lines) // (len(odd) + 1)
    for i, line in enumerate(odd):
        lines.insert((i + 1) * step, line)
    path = tmp_path_factory.mktemp("report-workers") / "log.jsonl"
    path.write_bytes(b"\n".join(lines))
    return path


def _eval(tmp_path, log, workers: int, *extra: str):
    page = tmp_path / f"report-{workers}-{len(extra)}.html"
    r = run_cli("eval", "--workers", str(workers), "--policy", "policies/examples", "--report", str(page),
                *extra, str(log))
    assert r.returncode == 0, r.stderr
    return r, page.read_text(encoding="utf-8")


@pytest.mark.parametrize("until", [(), ("--until", UNTIL)])
def test_two_and_three_workers_write_one_workers_report(tmp_path, report_log, until):
    one, page = _eval(tmp_path, report_log, 1, *until)
    # a page with something in every table, per day (a line of the log is in the year 9999: days
    # are the buckets, the gap to it left out; the hours' page is the next test's)
    assert "per day" in page and "empty days in gaps of more than 62 left out" in page
    assert {"2026-11-02", "2026-11-03", "9999-12-31"} <= set(re.findall(r"<tr><td>(\d{4}-\d\d-\d\d)</td>", page))
    assert "Most affected members" in page and page.count("<tr>") > 30
    kept = re.findall(r'<td>(\d+)%</td></tr>', page)
    assert kept and any(int(k) > 0 for k in kept)
    # an escaped channel (ODD_CHANNELS' first line, the one loggen never writes) is a channel too
    channels = page[page.index("Busiest channels"):]
    assert "<td>闲聊</td>" in channels[:channels.index("</table>")]
    for n in (2, 3):
        many, pages = _eval(tmp_path, report_log, n, *until)
        assert b"note: --workers" not in many.stderr and re.search(rb"\nworkers +%d\n" % n, many.stderr)
        assert many.stdout == one.stdout
        assert pages == page


def test_an_escaped_name_is_one_member_on_every_worker(tmp_path):
    # By hand: u80 posts at 10:00 as a plain line and as an escaped one (which every worker judges
    # and the route leaves unsure), 张三 at 10:01 in epoch seconds; u2 at 11:00. Hour 10 has three
    # messages by two members, hour 11 one member, none of them in hour 10: kept 0 %.
    log = tmp_path / "log.jsonl"
    log.write_bytes(b"\n".join([
        b'{"type":"message","ts":"2026-11-02T10:00:00Z","user":"u80","id":"a","channel":"general","text":"hi"}',
        UNSURE[0],
        b'{"type":"message","ts":1793613660,"user":"\\u5f20\\u4e09","id":"b","channel":"\\u95f2\\u804a","text":"ok"}',
        b'{"type":"message","ts":"2026-11-02T11:00:00Z","user":"u2","id":"c","channel":"general","text":"hello"}',
    ]) + b"\n")
    pages = [_eval(tmp_path, log, n, "--quiet")[1] for n in (1, 2, 3)]
    assert pages[1] == pages[0] and pages[2] == pages[0]
    assert "members who posted<b>3</b>" in pages[0]
    assert "<tr><td>2026-11-02 10:00</td><td class=\"n\">3</td><td class=\"n\">2</td>" in pages[0]
    assert "<tr><td>2026-11-02 11:00</td><td class=\"n\">1</td><td class=\"n\">1</td><td class=\"n\">0</td>" \
           "<td>0%</td></tr>" in pages[0]
    # the escaped message is an ad: deleted and warned (the ladder's first step), each counted once,
    # in the channel of its own line, against u80
    assert "<tr><td>help</td><td class=\"n\">2</td></tr></table>" in pages[0]
    assert "<tr><td>u80</td><td class=\"n\">2</td></tr></table>" in pages[0]


def test_workers_unsure_of_every_line_report_as_one_worker(tmp_path, monkeypatch, capfd, report_log):
    """With the route unsure of every line, every worker judges every line: each must count only
    its own members' events, or every event would be counted by every worker."""
    from policyengine.parallel import share as share_evaluator
    _, page = _eval(tmp_path, report_log, 1, "--quiet")
    monkeypatch.setattr(share_evaluator, "routed", None)
    monkeypatch.setattr(share_evaluator, "split_spans", None)
    monkeypatch.setattr(share_evaluator, "route", lambda lines, fields, shares, share, exchange=None: [(line,) for line in lines])
    two = tmp_path / "two.html"
    code, _, err = _eval_in_process(["eval", "--quiet", "--policy", "policies/examples", "--report", str(two),
                                     "--out", str(tmp_path / "d.jsonl"), "--workers", "2", str(report_log)], capfd)
    assert code == 0 and "note:" not in err
    assert two.read_text(encoding="utf-8") == page


def test_a_run_made_again_on_one_worker_reports_it_once(tmp_path, monkeypatch, capfd, report_log):
    """A line routed wrongly sends the run to one worker: the report is that run's alone, not the
    workers' parts added to it."""
    from policyengine.parallel import share as share_evaluator
    _, page = _eval(tmp_path, report_log, 1, "--quiet")
    monkeypatch.setattr(share_evaluator, "routed", None)
    monkeypatch.setattr(share_evaluator, "route", lambda lines, fields, shares, share, exchange=None: list(lines))
    again = tmp_path / "again.html"
    code, _, err = _eval_in_process(["eval", "--quiet", "--policy", "policies/examples", "--report", str(again),
                                     "--out", str(tmp_path / "d.jsonl"), "--workers", "2", str(report_log)], capfd)
    assert code == 0 and err.startswith("note: --workers 2: running on one worker: a line routed as an event")
    assert again.read_text(encoding="utf-8") == page


def test_parts_add_up():
    # By hand: two workers' parts, members apart.
    a = ReportSummary(3, {10: 2}, {10: 1}, {10: {("p/r", "delete"): 1}}, {("p/r", "delete"): 1}, {"u1": 1},
                      {"general": 1}, 2, {(1, 10): (2, 0), (24, 0): (2, 0)})
    b = ReportSummary(4, {10: 1, 11: 2}, {}, {10: {("p/r", "delete"): 2}, 11: {("p/s", "warn"): 1}},
                      {("p/r", "delete"): 2, ("p/s", "warn"): 1}, {"u2": 3}, {"general": 2, "help": 1}, 2,
                      {(1, 10): (1, 0), (1, 11): (2, 1), (24, 0): (2, 0)})
    total = ReportSummary.merged([a, b])
    assert (total.events, total.posters, total.messages, total.joins) == (7, 4, {10: 3, 11: 2}, {10: 1})
    assert total.decisions == {10: {("p/r", "delete"): 3}, 11: {("p/s", "warn"): 1}}
    assert total.totals == {("p/r", "delete"): 3, ("p/s", "warn"): 1}
    assert (total.by_member, total.by_channel) == ({"u1": 1, "u2": 3}, {"general": 3, "help": 1})
    assert total.activity == {(1, 10): (3, 0), (1, 11): (2, 1), (24, 0): (4, 0)}
    view = total.buckets()                       # hours 10 and 11: per hour
    assert (view.unit, view.keys, view.active(11), view.retention(11)) == ("hour", [10, 11], 2, 1 / 3)
    assert view.retention(10) is None and view.decisions(10) == {("p/r", "delete"): 3}
    assert (a.events, a.by_channel) == (3, {"general": 1})            # the parts are left as they were


def test_equal_counts_are_listed_by_name_whatever_order_they_came_in():
    assert _ranked({"u9": 2, "u1": 5, "u3": 2, "u2": 2}) == [("u1", 5), ("u2", 2), ("u3", 2), ("u9", 2)]
    assert _ranked({"b": 1, "a": 1, "c": 3}, 2) == [("c", 3), ("a", 1)]
    one = ReportSummary(1, {0: 1}, {}, {0: {("p/x", "warn"): 1, ("p/a", "warn"): 1}},
                        {("p/x", "warn"): 1, ("p/a", "warn"): 1}, {"z": 1, "y": 1}, {}, 1, {(1, 0): (1, 0)})
    other = ReportSummary(1, {0: 1}, {}, {0: {("p/a", "warn"): 1, ("p/x", "warn"): 1}},
                          {("p/a", "warn"): 1, ("p/x", "warn"): 1}, {"y": 1, "z": 1}, {}, 1, {(1, 0): (1, 0)})
    page = render(one)
    assert page == render(other) and page.index("<td>p/a</td>") < page.index("<td>p/x</td>")
    assert page.index("<td>y</td>") < page.index("<td>z</td>")


def test_strict_reports_what_came_before_the_first_bad_line_on_every_worker(tmp_path, report_log):
    pages = {}
    for n in (1, 2):
        page = tmp_path / f"strict{n}.html"
        r = run_cli("eval", "--quiet", "--strict", "--workers", str(n), "--policy", "policies/examples", "--report",
                    str(page), str(report_log))
        assert r.returncode == 3 and b"error[E0101]" in r.stderr
        pages[n] = page.read_text(encoding="utf-8")
    # the first bad line is HOSTILE's first (tests/test_records.py); every line before it is an event
    first_bad = report_log.read_bytes().split(b"\n").index(HOSTILE[0])
    assert first_bad > 1000 and pages[2] == pages[1] and f"events<b>{first_bad:,}</b>" in pages[1]
