"""Check: names, types and the event schema. Produces the CheckedProgram the compiler requires."""
from policyengine.check.program import CheckedAction, CheckedProgram, CheckedRule, check_program

__all__ = ["CheckedAction", "CheckedProgram", "CheckedRule", "check_program"]
