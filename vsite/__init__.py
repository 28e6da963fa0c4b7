"""vsite: a Python environment's site-packages as a read-only FUSE view of a shared wheel store.

Stages, each importable and testable alone (no FUSE below ``vsite.fs``):
lock (parse lockfiles) -> plan (install set for one interpreter) -> store
(content-addressed unpacked wheels) -> view (lazy merged tree) -> fs (pyfuse3)
-> shared (shared mounts, leases) -> cli (click) -> ray (Ray plugin). Each imports
only the ones before it (tests/test_stages.py).
"""

__version__ = "0.1.0"
