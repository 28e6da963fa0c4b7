"""vsite's benchmarks against uv. ``python -m bench LOCK`` runs them all (bench/__main__.py).

The older single-purpose scripts (bench_fetch.py, bench_plan.py, view_build.py,
fs_requests.py, fs_micro.py) still run on their own; the whole-run bench reuses
bench_fetch's cold runs.
"""
