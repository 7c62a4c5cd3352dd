"""The `policyengine` command: parses arguments, runs a subcommand, never shows a traceback."""
from __future__ import annotations

import argparse
import errno
import gc
import sys

from policyengine import __version__
from policyengine.cli import check_cmd, diff_cmd, eval_cmd, exits, schema_cmd, split_cmd, state_cmd, test_cmd
from policyengine.cli.allocator import huge_page_arenas, keep_freed_memory
from policyengine.cli.reporting import silence_stdout


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        self.print_usage(sys.stderr)
        sys.stderr.write(f"error[E0001]: {message}\n")
        raise SystemExit(exits.USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="policyengine", description="Rules and incentives for online communities.",
                     epilog=exits.EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"policyengine {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    check_cmd.add_parser(sub)
    eval_cmd.add_parser(sub)
    state_cmd.add_parser(sub)
    test_cmd.add_parser(sub)
    schema_cmd.add_parser(sub)
    diff_cmd.add_parser(sub)
    split_cmd.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help(sys.stderr)
        return exits.USAGE
    try:
        return args.run(args)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    except BrokenPipeError:
        silence_stdout()          # the reader (e.g. `head`) stopped listening: not an error
        return exits.OK
    except OSError as exc:
        if exc.errno not in _REFUSED_BY_THE_MACHINE:
            return _bug(exc)
        # A full disk under standard output (`check --format json > /dev/full`) was "a bug".
        where = f"{exc.filename}: " if exc.filename else ""
        sys.stderr.write(f"error[E0001]: {where}{exc.strerror}\n"
                         "  = help: the machine refused a read or a write (a full disk, a read-only or failing "
                         "file system, too many open files); make room, or choose another place\n")
        silence_stdout()
        return exits.USAGE
    except Exception as exc:  # a bug: say so plainly, no traceback
        return _bug(exc)


_REFUSED_BY_THE_MACHINE = {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS, errno.EFBIG, errno.EMFILE,
                           errno.ENFILE}


def _bug(exc: Exception) -> int:
    sys.stderr.write(f"error[E0999]: internal error: {type(exc).__name__}: {exc}\n"
                     "  = help: this is a bug in policyengine; please report it with the command you ran "
                     "(set POLICYENGINE_DEBUG=1 to see the traceback)\n")
    import os
    if os.environ.get("POLICYENGINE_DEBUG"):
        raise exc
    return exits.INTERNAL


def entry() -> None:
    keep_freed_memory()
    huge_page_arenas()
    code = main()
    # The process ends here: what it built needs no last walk by the cycle collector at exit
    # (26M instructions after an `eval` of the community pack, whose state is all alive).
    gc.freeze()
    sys.exit(code)
