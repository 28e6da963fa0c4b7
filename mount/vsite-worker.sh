#!/bin/sh
# vsite-worker.sh: run a worker in a lock's environment, on the lock's shared vsite mount.
#
#   vsite-worker.sh LOCK [--] CMD [ARG...]
#   VSITE_LOCK=LOCK vsite-worker.sh CMD [ARG...]
#
# Usable as a Ray, Slurm or container entrypoint. It joins (or starts) the
# shared mount with a lease held by this process's pid (`vsite run`), puts the
# venv first on PATH and execs CMD under that same pid: CMD receives the signals the
# entrypoint receives (SIGTERM, SIGINT) and the exit status is CMD's. When CMD
# ends -- normally, by a signal or by SIGKILL -- the pid is gone, the daemon
# drops the lease at once and unmounts after the grace period if no other
# worker holds one.
#
# Environment: VSITE (the vsite command, default `vsite`), VSITE_LOCK,
# VSITE_OPTS (plan options, e.g. "--extra gpu --python /usr/bin/python3.12",
# split on spaces), VSITE_GRACE (seconds), VSITE_RUNTIME_DIR, VSITE_CACHE_DIR,
# VSITE_STORE_PATH (shared read-only stores used in place, colon-separated).
set -eu

vsite=${VSITE:-vsite}
if [ -n "${VSITE_LOCK:-}" ]; then
    lock=$VSITE_LOCK
elif [ $# -gt 0 ]; then
    lock=$1
    shift
else
    echo "usage: vsite-worker.sh LOCK [--] CMD [ARG...]  (or VSITE_LOCK=LOCK vsite-worker.sh CMD...)" >&2
    exit 2
fi
if [ "${1:-}" = "--" ]; then
    shift
fi
if [ $# -eq 0 ]; then
    echo "vsite-worker.sh: no command to run" >&2
    exit 2
fi

# `vsite run` joins (or starts) the mount, sets VIRTUAL_ENV and PATH, unsets PYTHONHOME and
# execs CMD under this pid; with no VSITE_OPTS (or only --python PY) on a live mount the installed
# vsite joins from sh, with no Python start (docs/startup.md).
# shellcheck disable=SC2086  # VSITE_OPTS is a list of options
exec "$vsite" run "$lock" ${VSITE_OPTS:-} -- "$@"
