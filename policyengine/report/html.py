"""Render ReportData as one self-contained HTML page: inline CSS and SVG, no scripts, no fetches."""
from __future__ import annotations

from html import escape

from policyengine.report.collect import GAP_SHOWN, ReportSummary

PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"]
CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI","Noto Sans CJK SC","PingFang SC",sans-serif;margin:2rem;color:#222;max-width:1100px}
h1{font-size:1.6rem;margin-bottom:.2rem} h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd;padding-bottom:.3rem}
.sub{color:#666} table{border-collapse:collapse;margin:.5rem 0} td,th{padding:.25rem .8rem;border-bottom:1px solid #eee;text-align:left}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums} .kpis{display:flex;gap:1rem;flex-wrap:wrap}
.kpi{border:1px solid #ddd;border-radius:8px;padding:.6rem 1rem;min-width:9rem} .kpi b{display:block;font-size:1.4rem}
.legend span{display:inline-block;margin-right:1rem;font-size:.85rem} .legend i{display:inline-block;width:.8rem;height:.8rem;margin-right:.3rem;vertical-align:middle}
svg text{font-size:11px;fill:#555}
"""


def render(data: ReportSummary, title: str = "policyengine report") -> str:
    view = data.buckets()
    days = view.keys
    total_decisions = sum(data.totals.values())
    kpis = [("events", data.events), ("decisions", total_decisions), ("members who posted", data.posters),
            ("new members", sum(data.joins.values()))]
    parts = [f"<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>{escape(title)}</title>",
             f"<style>{CSS}</style></head><body>", f"<h1>{escape(title)}</h1>",
             f"<p class=\"sub\">{escape(view.label(days[0]) if days else '-')} – "
             f"{escape(view.label(days[-1]) if days else '-')}, event time (UTC), per {view.unit}"
             + (f"; {view.left_out:,} empty {view.unit}s in gaps of more than {GAP_SHOWN} left out"
                if view.left_out else "") + "</p>",
             "<div class=\"kpis\">" + "".join(f"<div class=\"kpi\">{escape(k)}<b>{v:,}</b></div>" for k, v in kpis) + "</div>"]
    top = [k for k, _ in _ranked(data.totals, len(PALETTE) - 1)]
    parts.append(f"<h2>Decisions per {view.unit}, by rule and action</h2>")
    series = []
    for day in days:
        counts = view.decisions(day)
        row = [counts.get(k, 0) for k in top]
        row.append(sum(counts.values()) - sum(row))
        series.append(row)
    labels = [f"{r} · {a}" for r, a in top] + (["other"] if len(data.totals) > len(top) else [])
    parts.append(_stacked_bars(view, series, labels))
    parts.append(_legend(labels))
    parts.append(_table(["rule", "action", "decisions"], [(r, a, n) for (r, a), n in _ranked(data.totals)]))
    parts.append("<h2>Community activity</h2>")
    parts.append(_stacked_bars(view, [[view.messages(d)] for d in days], ["messages"], colours=["#4e79a7"]))
    rows = []
    for d in days:
        keep = view.retention(d)
        rows.append((view.label(d), view.messages(d), view.active(d), view.joins(d),
                     "-" if keep is None else f"{keep:.0%}"))
    parts.append(_table([view.unit, "messages", "active members", "new members", f"kept from the {view.unit} before"], rows))
    parts.append("<h2>Most affected members</h2>")
    parts.append(_table(["member", "moderation decisions"], _ranked(data.by_member, 15)))
    parts.append("<h2>Busiest channels</h2>")
    parts.append(_table(["channel", "decisions"], _ranked(data.by_channel, 15)))
    parts.append("</body></html>\n")
    return "".join(parts)


def _ranked(counts: dict, first: int | None = None) -> list[tuple]:
    """The most first, equals by name: the same page whichever order the counts were made in (one
    worker's, or several workers' added up)."""
    return sorted(counts.items(), key=lambda item: (-item[1], str(item[0])))[:first]


def _stacked_bars(view, series, labels, colours=PALETTE, width=1000, height=220) -> str:
    days = view.keys
    if not days:
        return "<p>no events</p>"
    peak = max((sum(row) for row in series), default=0) or 1
    bar = width / len(days)
    out = [f"<svg role=\"img\" viewBox=\"0 0 {width} {height + 30}\" width=\"100%\" xmlns=\"http://www.w3.org/2000/svg\">"]
    for i, (day, row) in enumerate(zip(days, series)):
        y = height
        for j, value in enumerate(row):
            if not value:
                continue
            h = value / peak * (height - 10)
            y -= h
            out.append(f"<rect x=\"{i * bar + 1:.1f}\" y=\"{y:.1f}\" width=\"{max(bar - 2, 1):.1f}\" height=\"{h:.1f}\" "
                       f"fill=\"{colours[j % len(colours)]}\"><title>{escape(view.label(day))} "
                       f"{escape(labels[j] if j < len(labels) else '')}: {value}</title></rect>")
        if i % -(-len(days) // 12) == 0:           # at most 12 labels
            text = view.label(day)[11:] if view.unit == "hour" else view.label(day)[5:]
            out.append(f"<text x=\"{i * bar + bar / 2:.1f}\" y=\"{height + 16}\" text-anchor=\"middle\">"
                       f"{escape(text)}</text>")
    out.append(f"<text x=\"4\" y=\"12\">{peak:,}</text></svg>")
    return "".join(out)


def _legend(labels) -> str:
    return "<p class=\"legend\">" + "".join(
        f"<span><i style=\"background:{PALETTE[i % len(PALETTE)]}\"></i>{escape(l)}</span>" for i, l in enumerate(labels)) + "</p>"


def _table(head, rows) -> str:
    if not rows:
        return "<p>none</p>"
    def cell(v):
        return f"<td class=\"n\">{v:,}</td>" if isinstance(v, int) else f"<td>{escape(str(v))}</td>"
    return ("<table><tr>" + "".join(f"<th>{escape(h)}</th>" for h in head) + "</tr>"
            + "".join("<tr>" + "".join(cell(v) for v in row) + "</tr>" for row in rows) + "</table>")
