"""Events in: the JSON Lines contract, time parsing and per-line validation."""
