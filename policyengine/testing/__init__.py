"""Policy test cases: events with relative times and the decisions expected."""
