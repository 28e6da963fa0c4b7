"""View: the lazily merged, read-only tree an environment presents. Pure Python, no FUSE."""
