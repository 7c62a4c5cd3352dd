"""Numbers on the command line: an argparse type for a bounded number, said in the user's terms."""
from __future__ import annotations

import argparse


def at_least(least: float, kind=int, most: float = float("inf"), most_said: str = ""):
    """An argparse type: a number of `kind` from `least` to `most` (`most_said` in words)."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"give a number, {least} or more") from None
        if not least <= value <= most:                  # NaN too
            raise argparse.ArgumentTypeError(f"give {least} or more" if most == float("inf")
                                             else f"give {least} to {most_said or most}")
        return value
    return parse
