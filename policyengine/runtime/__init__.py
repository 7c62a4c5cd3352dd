"""Runtime: the state store and the helpers generated evaluators call."""
