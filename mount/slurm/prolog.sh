#!/bin/sh
# Slurm Prolog (slurm.conf: Prolog=/path/to/prolog.sh): pre-mount the job's environment on this node.
#
# The lock comes from $VSITE_LOCK if the prolog's environment has it, else from
# the job's comment (`sbatch --comment vsite=/path/to/uv.lock`, which Slurm
# passes to prologs as SLURM_JOB_COMMENT). The mount is the lock's shared mount,
# held by a lease named slurm-<job id> until the epilog releases it, so every
# `vsite run` / vsite-worker.sh of the job on this node joins it without waiting.
#
# Slurm variables used: SLURM_JOB_ID, SLURM_JOB_UID, SLURM_JOB_GID, SLURM_JOB_COMMENT.
# Run as root (slurmd), it mounts as the job's user (setpriv), in that user's
# runtime dir /tmp/vsite-<uid> unless VSITE_RUNTIME_DIR is set: jobs must see
# the same VSITE_RUNTIME_DIR (unset XDG_RUNTIME_DIR or set VSITE_RUNTIME_DIR).
# A prolog that fails drains the node, so this one only reports problems
# (to slurmd's log) and exits 0: the job's own `vsite run` then tries again.
#
# A cluster's shared read-only store (docs/store.md, "Clusters") comes from
# VSITE_STORE_PATH in slurmd's environment (e.g. a systemd drop-in for slurmd:
# Environment=VSITE_STORE_PATH=/cvmfs/sw/vsite), the variable the jobs' own
# `vsite run` reads: entries found there are used in place, none downloaded.
PATH=${VSITE_PATH:-/usr/local/bin:/usr/bin:/bin}
export PATH
vsite=${VSITE:-vsite}

lock=${VSITE_LOCK:-}
if [ -z "$lock" ]; then
    case "${SLURM_JOB_COMMENT:-}" in
        vsite=*) lock=${SLURM_JOB_COMMENT#vsite=} ;;
    esac
fi
[ -n "$lock" ] || exit 0
[ -n "${SLURM_JOB_ID:-}" ] || { echo "vsite prolog: SLURM_JOB_ID is not set" >&2; exit 0; }

uid=${SLURM_JOB_UID:-$(id -u)}
VSITE_RUNTIME_DIR=${VSITE_RUNTIME_DIR:-/tmp/vsite-$uid}
export VSITE_RUNTIME_DIR
if [ "$(id -u)" = 0 ] && [ "$uid" != 0 ]; then
    HOME=$(getent passwd "$uid" | cut -d: -f6)
    export HOME
    set -- setpriv --reuid="$uid" --regid="${SLURM_JOB_GID:-$uid}" --init-groups
else
    set --
fi
if [ -n "${VSITE_STORE_PATH:-}" ]; then
    set -- "$@" "$vsite" mount --shared --store-path "$VSITE_STORE_PATH"
else
    set -- "$@" "$vsite" mount --shared
fi
"$@" --name "slurm-$SLURM_JOB_ID" ${VSITE_OPTS:-} "$lock" >/dev/null \
    || echo "vsite prolog: job $SLURM_JOB_ID: could not mount $lock" >&2
exit 0
