"""N `vsite mount --shared LOCK` at once on a live shared mount: from the sh launcher against the Python path.

Each command runs as ``sh -c 'vsite mount --shared LOCK [...]; true'`` (the lease is on that shell, which
exits at once, as a worker script's would). One worker (``vsite run LOCK -- python``, sleeping) holds the
mount for the whole run. The sh side is the plain command, which the launcher answers with one lookup
(docs/startup.md, "From sh, on a live mount"); the Python side adds ``--grace 30`` (an option the
launcher leaves to ``vsite-cli``: through the fork server, as before). Rounds alternate the sides; the
floor is N bare ``python -c 'import sys'`` of the same interpreter at once.

    python bench/mount_shared_burst.py bench/locks/large/uv.lock --rounds 8
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script (python bench/X.py): make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.harness import lock_script_parser, timed_together, uptime


def main() -> None:
    parser = lock_script_parser(__doc__, rounds=8)
    parser.add_argument("-n", type=int, default=32)
    args = parser.parse_args()
    lock = str(args.lock.resolve())
    env = dict(os.environ, VSITE_RUNTIME_DIR=tempfile.mkdtemp(prefix="vsite-shared-burst-"))
    before = uptime()
    holder = subprocess.Popen([args.vsite, "run", lock, "--python", args.python, "--", "python", "-c",
                               "import time; print('up', flush=True); time.sleep(3600)"],
                              stdout=subprocess.PIPE, text=True, env=env)
    sides = {"sh": [], "python": ["--grace", "30"]}
    samples: dict[str, list[float]] = {side: [] for side in sides}
    floor = []
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "up", "the holder did not start"

        def burst(extra: list[str]) -> float:
            one = ["sh", "-c", '"$@" >/dev/null; true', "sh", args.vsite, "mount", "--shared", lock,
                   "--python", args.python, *extra]
            return timed_together([one] * args.n, env=env)

        for extra in sides.values():
            burst(extra)  # warm: the plan cache, the fork server
        for r in range(args.rounds):
            for side in (list(sides) if r % 2 == 0 else list(reversed(sides))):
                samples[side].append(burst(sides[side]))
            floor.append(timed_together([[args.python, "-c", "import sys"]] * args.n, env=env))
    finally:
        holder.kill()
        holder.wait()
        runtime = env["VSITE_RUNTIME_DIR"]
        deadline = time.monotonic() + 30  # the mount goes a grace period after its last lease
        while time.monotonic() < deadline and runtime in Path("/proc/self/mounts").read_text():
            time.sleep(0.2)
        shutil.rmtree(runtime, ignore_errors=True)  # its fork server exits once its socket is gone
    after = uptime()
    for side, values in (*samples.items(), ("floor", floor)):
        print(f"{side}: N={args.n} median {statistics.median(values):.3f} s, "
              f"{min(values):.3f}-{max(values):.3f} over {len(values)}")
    print(f"uptime before: {before}\nuptime after: {after}")
    if args.json:
        args.json.write_text(json.dumps({**samples, "floor": floor, "n": args.n, "vsite": args.vsite,
                                         "uptime": [before, after]}, indent=1))


if __name__ == "__main__":
    main()
