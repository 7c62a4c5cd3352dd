"""The HTML report `eval --report` writes: decisions over time and the community's numbers."""
