#!/usr/bin/env bash
# Both ways of running Ray workers on a vsite environment, on a local Ray bound to 127.0.0.1.
# Needs vsite[ray] (`.venv/bin/pip install -e '.[ray]'`) and FUSE. From the repo root:
#   PATH=$PWD/.venv/bin:$PATH examples/ray/run.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0  # keep Ray on loopback for a local run
export RAY_AUTH_MODE=disabled            # no token written to ~/.ray for a local run
python "$here/with_py_executable.py"
RAY_RUNTIME_ENV_PLUGINS='[{"class": "vsite.ray.plugin.VsitePlugin"}]' python "$here/with_plugin.py"
