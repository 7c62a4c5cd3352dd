"""Decisions out: the JSON lines `eval` writes and the tally its summary counts."""
