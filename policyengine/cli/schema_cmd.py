"""`policyengine schema events|decisions`: the JSON Schema of the event and decision contracts."""
from __future__ import annotations

import sys

import orjson

from policyengine.cli import exits


def add_parser(sub) -> None:
    p = sub.add_parser("schema", help="print the JSON Schema of events or decisions")
    p.add_argument("which", choices=("events", "decisions"))
    p.set_defaults(run=run)


def run(args) -> int:
    from policyengine.model import Decision, Event
    model = Event if args.which == "events" else Decision
    sys.stdout.write(orjson.dumps(model.model_json_schema(), option=orjson.OPT_INDENT_2).decode() + "\n")
    return exits.OK
