"""Compiler: checked program → plan (lower) → Python source (codegen) → code object."""
from policyengine.compiler.program import CompiledProgram, compile_program

__all__ = ["CompiledProgram", "compile_program"]
