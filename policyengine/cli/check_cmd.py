"""`policyengine check PATH…`: parse and check policies, stop before compiling."""
from __future__ import annotations

import sys

from policyengine.cli import exits
from policyengine.cli.reporting import print_diagnostics, usage_error
from policyengine.compiler.partition import Blocker, blockers
from policyengine.diagnostics import Diagnostic, Span, sort_key
from policyengine.loader import PolicyPathError, load_paths

ACROSS_MEMBERS = "N0701"     # check --workers: a construct that keeps the program on one worker


def add_parser(sub) -> None:
    p = sub.add_parser("check", help="check policy files for errors",
                       description="Parse and check policy files (or folders of *.policy) and report every error.",
                       epilog=exits.EPILOG, formatter_class=_raw())
    p.add_argument("paths", nargs="+", metavar="PATH", help="a .policy file or a folder of them")
    p.add_argument("--format", choices=("text", "json"), default="text", help="how to print diagnostics")
    p.add_argument("--workers", action="store_true",
                   help="also say whether `eval --workers N` can split the program by member, and if not, a note "
                        "for every construct that keeps state across members")
    p.set_defaults(run=run)


def run(args) -> int:
    try:
        result = load_paths(args.paths)
    except PolicyPathError as err:
        usage_error(str(err))
        return exits.USAGE
    found = blockers(result.program) if args.workers and result.program is not None else []
    notes = sorted((_across_members(b, result.sources) for b in found), key=sort_key)
    print_diagnostics(list(result.diagnostics) + notes, result.sources, args.format,
                      sys.stdout if args.format == "json" else sys.stderr)
    if result.program is None:
        return exits.POLICY_ERRORS
    if args.format == "text":
        rules = len(result.program.rules)
        sys.stderr.write(f"ok: {len(result.files)} file{'s' if len(result.files) != 1 else ''}, "
                         f"{rules} rule{'s' if rules != 1 else ''}\n")
        if args.workers:
            sys.stderr.write(f"workers: runs on one worker: {len(found)} construct{'s' if len(found) != 1 else ''} "
                             "above keep state across members\n" if found else
                             "workers: splits by member: `eval --workers N` runs it on N processes, "
                             "with one worker's decisions\n")
    return exits.OK


def _across_members(found: Blocker, sources: dict[str, str]) -> Diagnostic:
    """A note for a construct that keeps state across members, at its line (its text underlined),
    or without a place where the program does not know it (an aggregate no rule reads)."""
    span = None
    text = sources.get(found.file, "").splitlines()
    if found.file and 1 <= found.line <= len(text):
        line = text[found.line - 1]
        start = len(line) - len(line.lstrip()) + 1
        span = Span(found.file, found.line, start, found.line, len(line.rstrip()) + 1)
    return Diagnostic(ACROSS_MEMBERS, found.what, span, "keeps state across members",
                      "`eval --workers N` splits members among processes only when all state is kept `by user`; "
                      "this runs on one worker (docs/language.md, \"Several workers\")")


def _raw():
    import argparse
    return argparse.RawDescriptionHelpFormatter
