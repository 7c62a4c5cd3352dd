"""The HTML report: self-contained, the numbers a person reads, and it renders in headless Chromium."""
import re
import shutil
import subprocess

from conftest import run_cli

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run"]


def _report(tmp_path):
    out = tmp_path / "report.html"
    log = tmp_path / "log.jsonl"
    log.write_text("\n".join([
        '{"type":"join","ts":"2026-11-01T08:00:00Z","user":"n1","channel":"general"}',
        '{"type":"message","ts":"2026-11-01T08:00:05Z","user":"n1","id":"m1","channel":"general","text":"加微信"}',
        '{"type":"message","ts":"2026-11-01T09:00:00Z","user":"u2","id":"m2","channel":"help","text":"hello"}',
        '{"type":"message","ts":"2026-11-01T10:00:00Z","user":"u2","id":"m3","channel":"help","text":"promo.example/x"}',
    ]) + "\n")
    r = run_cli("eval", "--quiet", "--policy", "policies/examples/ads.policy", "--report", str(out), "--out",
                str(tmp_path / "d.jsonl"), str(log))
    assert r.returncode == 0, r.stderr
    return out


def test_report_is_self_contained_and_counts_right(tmp_path):
    html = _report(tmp_path).read_text(encoding="utf-8")
    assert "<script" not in html and not re.search(r'(src|href)="(https?:)?//', html)
    assert "<b>4</b>" in html and "<b>2</b>" in html            # 4 events; 2 delete decisions
    assert "<tr><td>ads/delete_ads</td><td>delete</td><td class=\"n\">2</td></tr>" in html
    assert "<td>n1</td><td class=\"n\">1</td>" in html and "<td>help</td><td class=\"n\">1</td>" in html
    assert "per hour" in html


def test_report_renders_in_headless_chromium_without_console_errors(tmp_path):
    assert CHROMIUM, "chromium is needed (make test installs Debian's package)"
    page = _report(tmp_path)
    shot = tmp_path / "shot.png"
    r = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr",
                        "--v=0", "--window-size=1200,1400", f"--screenshot={shot}", page.as_uri()],
                       capture_output=True, timeout=120)
    assert shot.exists() and shot.stat().st_size > 10_000      # a page was painted, not a blank
    console = [l for l in r.stderr.decode(errors="replace").splitlines() if "CONSOLE" in l]
    assert console == []
    dom = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile2'}", "--dump-dom", page.as_uri()],
                         capture_output=True, timeout=120).stdout.decode()
    assert dom.count("<rect") >= 3 and "Most affected members" in dom


def test_a_number_past_a_double_is_a_bad_line_with_a_report_too(tmp_path):
    # msgspec skips `1e999` in a field no rule reads; orjson, the general decoder, refuses the line.
    # The record path used to evaluate it, and --report (which parsed the line with orjson) then
    # stopped with an internal error. It is a bad line on every path, reported, the rest evaluated.
    log = tmp_path / "log.jsonl"
    log.write_text('{"type":"message","ts":"2026-11-01T08:00:05Z","user":"n1","id":"m1","text":"加微信","x":1e999}\n'
                   '{"type":"message","ts":"2026-11-01T08:00:06Z","user":"n2","id":"m2","text":"加微信","x":1e300}\n')
    for report in ([], ["--report", str(tmp_path / "r.html")]):
        r = run_cli("eval", "--policy", "policies/examples/ads.policy", "--out", str(tmp_path / "d.jsonl"), *report,
                    str(log))
        stderr = r.stderr.decode()
        assert r.returncode == 0 and "log.jsonl:1: error[E0101]: invalid JSON: number is infinity" in stderr
        assert "internal error" not in stderr and "log.jsonl:2" not in stderr
        assert [line.count('"user":"n2"') for line in (tmp_path / "d.jsonl").read_text().splitlines()] == [1]


def test_a_gap_of_months_is_left_out_and_said_so(tmp_path):
    # By hand: messages on Nov 1, Nov 5 and in the year 9999 — days (the span is past three days);
    # Nov 2-4 are a short gap, shown empty; the 2 912 xxx days to 9999 are left out, and the page says so.
    log = tmp_path / "log.jsonl"
    log.write_text("\n".join([
        '{"type":"message","ts":"2026-11-01T08:00:00Z","user":"a","id":"m1","text":"hi"}',
        '{"type":"message","ts":"2026-11-05T08:00:00Z","user":"a","id":"m2","text":"hi"}',
        '{"type":"message","ts":"9999-12-31T08:00:00Z","user":"b","id":"m3","text":"hi"}',
    ]) + "\n")
    out = tmp_path / "r.html"
    r = run_cli("eval", "--quiet", "--policy", "policies/examples/ads.policy", "--report", str(out), str(log))
    assert r.returncode == 0, r.stderr
    html = out.read_text(encoding="utf-8")
    days = re.findall(r"<tr><td>(\d{4}-\d\d-\d\d)</td>", html)
    assert days == ["2026-11-01", "2026-11-02", "2026-11-03", "2026-11-04", "2026-11-05", "9999-12-31"]
    from datetime import date
    gap = (date(9999, 12, 31) - date(2026, 11, 5)).days - 1
    assert f"; {gap:,} empty days in gaps of more than 62 left out" in html
    assert len(html) < 20_000
