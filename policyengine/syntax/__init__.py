"""Syntax: source text → AST. Lark lives here and nowhere else."""
from policyengine.syntax.parser import parse_module

__all__ = ["parse_module"]
