"""`policyengine test PATH…`: run policy test-case files (TOML) and report each failing case."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import orjson

from policyengine.cli import exits


def add_parser(sub) -> None:
    p = sub.add_parser("test", help="run policy test cases",
                       description="Run test-case files: events with relative times and the decisions "
                                   "expected. PATH is a .toml file or a folder searched for tests/*.toml.",
                       epilog=exits.EPILOG.replace("  2  a policy has errors", "  1  a case failed\n  2  a policy has errors"),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(run=run)


def case_files(paths: list[str]) -> list[Path]:
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found += sorted(p for p in path.rglob("*.toml") if p.parent.name == "tests" or p.name.endswith(".cases.toml"))
        elif path.is_file():
            found.append(path)
        else:
            raise FileNotFoundError(raw)
    return found


def run(args) -> int:
    # Imported here: the case runner pulls in the Engine API (pydantic), which other commands never need.
    from policyengine.testing.cases import CaseFileError, run_file
    try:
        files = case_files(args.paths)
    except FileNotFoundError as missing:
        sys.stderr.write(f"error[E0001]: {missing}: no such file or folder\n")
        return exits.USAGE
    results, broken = [], []
    for path in files:
        try:
            results += run_file(path)
        except CaseFileError as err:
            broken.append(str(err))
    failed = [r for r in results if not r.ok]
    if args.format == "json":
        sys.stdout.write(orjson.dumps({
            "passed": len(results) - len(failed), "failed": len(failed), "broken_files": broken,
            "cases": [{"file": r.file, "line": r.line, "name": r.name, "ok": r.ok, "detail": r.detail}
                      for r in results]}, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        for message in broken:
            sys.stderr.write(f"error[E0301]: {message}\n")
        for r in failed:
            sys.stdout.write(r.render() + "\n\n")
        sys.stdout.write(f"{len(results) - len(failed)} passed, {len(failed)} failed\n")
    if broken:
        return exits.USAGE
    if not results:
        sys.stderr.write("error[E0302]: no test cases found\n")
        return exits.USAGE
    return exits.FAILED if failed else exits.OK
