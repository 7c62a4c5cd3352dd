"""Exit codes, shared by every command and documented in `--help`."""
OK = 0
FAILED = 1          # `test`-style commands: the run worked, something did not hold
POLICY_ERRORS = 2   # a policy has errors
USAGE = 3           # bad arguments, unreadable files, `--strict` on a bad log line
INTERNAL = 4        # a bug in policyengine; the message says how to report it

EPILOG = """exit codes:
  0  success
  2  a policy has errors (diagnostics on stderr)
  3  usage or I/O error, or a bad log line under --strict
  4  internal error (a bug: please report it with the command you ran)"""
