"""Durable state: snapshots of the engine's state under stable names, and the stores that keep them."""
