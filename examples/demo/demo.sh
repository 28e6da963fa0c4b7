#!/usr/bin/env bash
# The main job on the bundled example: fetch the lock's wheels into the store,
# mount the environment as a whole venv, import its packages and run a console
# script through the mount, then unmount. Re-runnable: a leftover mount from an
# interrupted run is removed first, and a warm store makes fetch a no-op.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
vsite=${VSITE:-vsite}
lock="$here/uv.lock"
venv=${DEMO_VENV:-$here/../../.cache/demo-venv}
mkdir -p "$venv" && venv=$(cd "$venv" && pwd)

if grep -q " $venv fuse" /proc/mounts; then "$vsite" unmount "$venv"; fi
"$vsite" plan "$lock"
"$vsite" fetch "$lock"
start=$(date +%s%N)
"$vsite" mount "$lock" "$venv" --venv
trap '"$vsite" unmount "$venv"' EXIT
echo "mounted in $(( ($(date +%s%N) - start) / 1000000 )) ms (process start included)"
"$venv/bin/python" - <<'PY'
import sys, importlib
mods = ["rich", "rich.console", "click", "attr", "six", "idna", "packaging.version", "markdown_it", "pygments"]
for name in mods:
    mod = importlib.import_module(name)
    assert mod.__file__.startswith(sys.prefix), (name, mod.__file__)
print(f"imported {len(mods)} modules from {sys.prefix}")
from rich.console import Console
Console().print("[bold green]hello from a vsite mount[/]")
PY
"$venv/bin/pygmentize" -V
"$vsite" status
