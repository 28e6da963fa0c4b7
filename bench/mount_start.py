"""Issue 14's `vsite mount` start-up: one plain mount's wall time, with and without the fork server, in one run.

For each round, in alternating order: ``vsite mount LOCK DIR --venv --offline --python PY`` timed from
the exec to its exit (the mount answers by then), then unmounted (untimed) and, for the fork server's
side, the child's figure from the server's log (its fork to the mount's "ready"). The in-process side
is the same command with ``VSITE_FORKSERVER=0`` (the command imports the store and the view and forks
the daemon, which imports trio and pyfuse3). The first mount of the fork-server side starts the
server; it is reported apart (``start``), not in the medians. ``--vsite`` picks the install measured:
an install from the wheelhouse (docs/install.md) is what users run; the checkout's .venv has an
editable finder that adds ~20 ms to every Python start.

    python bench/mount_start.py bench/locks/large/uv.lock --vsite /tmp/inst/bin/vsite --rounds 15
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script (python bench/X.py): make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.harness import lock_script_parser, timed


def main() -> None:
    parser = lock_script_parser(__doc__, rounds=15)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="vsite-mount-start-"))
    env = dict(os.environ, VSITE_RUNTIME_DIR=str(work / "rt"))
    target = work / "venv"
    mount = [args.vsite, "mount", str(args.lock.resolve()), str(target), "--venv", "--offline", "--python", args.python]
    subprocess.run([args.vsite, "fetch", str(args.lock), "--python", args.python], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    sides = {"forkserver": env, "in-process": dict(env, VSITE_FORKSERVER="0")}
    samples: dict[str, list[float]] = {side: [] for side in sides}
    first = timed(mount, env=env)  # starts the server
    subprocess.run(["fusermount3", "-u", str(target)], check=True)
    time.sleep(0.3)
    for r in range(args.rounds):
        for side in (list(sides) if r % 2 == 0 else list(reversed(sides))):
            samples[side].append(timed(mount, env=sides[side]))
            subprocess.run(["fusermount3", "-u", str(target)], check=True)
            time.sleep(0.3)  # the daemon's exit
    log = "".join(p.read_text() for p in (work / "rt/forkserver").glob("*.log"))
    child = [float(ms) / 1000 for ms in re.findall(r"status 0 after (\d+(?:\.\d+)?) ms", log)][1:]
    out = {"start": first, **samples, "child": child, "rounds": args.rounds, "vsite": args.vsite}
    for side, values in (*samples.items(), ("child (fork to ready, server log)", child)):
        if values:
            print(f"{side}: median {statistics.median(values) * 1000:.0f} ms, "
                  f"{min(values) * 1000:.0f}-{max(values) * 1000:.0f} ms over {len(values)}")
    print(f"first mount (starts the server): {first * 1000:.0f} ms")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
