"""`policyengine state show|export|stats --state FILE`: look inside a state file without the policies."""
from __future__ import annotations

import argparse
import sys

import orjson

from policyengine.cli import exits
from policyengine.cli.reporting import printable
from policyengine.events.timestamps import format_ts
from policyengine.runtime import codec

_TIME_SECTIONS = {"mutes", "bans", "joined", "period_open"}


def add_parser(sub) -> None:
    p = sub.add_parser("state", help="inspect a state file",
                       description="Inspect the member state an `eval --state FILE` run keeps.",
                       epilog=exits.EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    verbs = p.add_subparsers(dest="verb", metavar="VERB", parser_class=type(p))
    show = verbs.add_parser("show", help="everything the state holds about one member")
    show.add_argument("--state", required=True, metavar="FILE")
    show.add_argument("--user", required=True, metavar="ID")
    show.add_argument("--format", choices=("text", "json"), default="text")
    export = verbs.add_parser("export", help="the whole state as JSON Lines, one object per piece of state")
    export.add_argument("--state", required=True, metavar="FILE")
    stats = verbs.add_parser("stats", help="sizes by kind of state")
    stats.add_argument("--state", required=True, metavar="FILE")
    p.set_defaults(run=run)


def run(args) -> int:
    from policyengine.state.sqlite import SqliteStore, StateFileError    # sqlite3 only for this command
    if not getattr(args, "verb", None):
        sys.stderr.write("error[E0001]: say what to do: `state show`, `state export` or `state stats`\n")
        return exits.USAGE
    try:
        store = SqliteStore(args.state) if _exists(args.state) else None
        if store is None:
            sys.stderr.write(f"error[E0201]: {args.state}: no such state file\n")
            return exits.USAGE
        rows = store.load()
    except StateFileError as err:
        sys.stderr.write(f"error[E0201]: {err}\n")
        return exits.USAGE
    out = sys.stdout
    if args.verb == "stats":
        total_rows = total_bytes = 0
        out.write(f"{'kind of state':<16} {'rows':>8} {'bytes':>12}\n")
        for section, count, size in store.sizes():
            out.write(f"{section:<16} {count:>8,} {size or 0:>12,}\n")
            total_rows += count
            total_bytes += size or 0
        out.write(f"{'total':<16} {total_rows:>8,} {total_bytes:>12,}\n")
        clock = next((r.value for r in rows if r.section == "clock"), None)
        if clock:
            out.write(f"events seen {clock['events_seen']:,}; latest event time "
                      f"{format_ts(clock['watermark']) if clock['watermark'] is not None else '-'}\n")
        return exits.OK
    if args.verb == "export":
        for row in rows:
            out.write(orjson.dumps({"kind": row.section, "name": row.name, "about": row.info,
                                    "value": orjson.Fragment(codec.dumps(row.value))}).decode() + "\n")
        return exits.OK
    found = [(row, part) for row in rows for part in _about(row, args.user)]
    if args.format == "json":
        out.write(orjson.dumps([{"kind": r.section, "name": r.name, "about": r.info, "value": codec.encode(v)}
                                for r, v in found], option=orjson.OPT_INDENT_2).decode() + "\n")
        return exits.OK
    if not found:
        out.write(f"no state about member {args.user}\n")
        return exits.OK
    out.write(f"member {printable(args.user)}\n")
    for row, value in found:
        out.write(printable(f"  {_label(row):<44} {_show(row.section, value)}") + "\n")
    return exits.OK


def _exists(path: str) -> bool:
    import os
    return os.path.exists(path)


def _about(row, user):
    """The parts of a row that concern the member: keyed by them, or by a tuple holding them."""
    value = row.value
    if isinstance(value, set):                     # `once`: the keys that already fired
        for key in value:
            if key == user or (isinstance(key, tuple) and user in key):
                yield key
        return
    if not isinstance(value, dict):
        return
    for key, item in value.items():
        if key == user or (isinstance(key, tuple) and user in key):
            yield item if key == user else (key, item)


def _label(row) -> str:
    names = {"window": "count in a window", "count": "all-time", "once": "fired once", "cooldown": "cooldown until",
             "ledger": "points", "levels": "level (number)", "offenses": "offenses", "scores": "score",
             "roles": "role since", "mutes": "muted until", "bans": "banned until", "labels": "labels",
             "badges": "badges", "titles": "title", "members": "first seen / joined / messages since",
             "absence": "silence timer until", "boards": "leaderboard this period", "earned": "earned in period"}
    what = names.get(row.section, row.section)
    return f"{what}: {row.info}" if row.info and row.info != row.section else what


def _show(section: str, value) -> str:
    if section == "labels" and isinstance(value, dict):
        return ", ".join(f"{k} (until {format_ts(v)})" if v else k for k, v in value.items())
    if section == "members" and isinstance(value, list):
        return f"{format_ts(value[0])} / {format_ts(value[1])} / {value[2]}"
    if section == "ledger" and isinstance(value, tuple):
        return f"{value[0]:g} (as of {format_ts(value[1])})"
    if section == "badges" and isinstance(value, set):
        return ", ".join(sorted(value))
    if section == "once":
        return f"yes ({_plain(value)})" if isinstance(value, tuple) else "yes"
    return _plain(value)


def _plain(value) -> str:
    """Values as a person reads them: times as RFC 3339, collections by size."""
    from policyengine.runtime.aggregates import COUNT_TIMES, Window
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int) and 10**15 <= value < 10**17:
        return format_ts(value)
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, Window):
        return f"{len(value)} in the window"
    if isinstance(value, (*COUNT_TIMES, set, frozenset, dict)):
        return f"{len(value)} entries"
    if isinstance(value, (tuple, list)):
        return "(" + ", ".join(_plain(v) for v in value) + ")"
    return str(value)
