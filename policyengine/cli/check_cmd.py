"""`policyengine check PATH…`: parse and check policies, stop before compiling."""
from __future__ import annotations

import sys

from policyengine.cli import exits
from policyengine.cli.reporting import print_diagnostics, usage_error
from policyengine.loader import PolicyPathError, load_paths


def add_parser(sub) -> None:
    p = sub.add_parser("check", help="check policy files for errors",
                       description="Parse and check policy files (or folders of *.policy) and report every error.",
                       epilog=exits.EPILOG, formatter_class=_raw())
    p.add_argument("paths", nargs="+", metavar="PATH", help="a .policy file or a folder of them")
    p.add_argument("--format", choices=("text", "json"), default="text", help="how to print diagnostics")
    p.set_defaults(run=run)


def run(args) -> int:
    try:
        result = load_paths(args.paths)
    except PolicyPathError as err:
        usage_error(str(err))
        return exits.USAGE
    print_diagnostics(result.diagnostics, result.sources, args.format,
                      sys.stdout if args.format == "json" else sys.stderr)
    if result.program is None:
        return exits.POLICY_ERRORS
    if args.format == "text":
        rules = len(result.program.rules)
        sys.stderr.write(f"ok: {len(result.files)} file{'s' if len(result.files) != 1 else ''}, "
                         f"{rules} rule{'s' if rules != 1 else ''}\n")
    return exits.OK


def _raw():
    import argparse
    return argparse.RawDescriptionHelpFormatter
