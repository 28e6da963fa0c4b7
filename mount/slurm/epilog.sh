#!/bin/sh
# Slurm Epilog (slurm.conf: Epilog=/path/to/epilog.sh): release the lease prolog.sh took for this job.
#
# The shared mount unmounts after its grace period once no other lease (another
# job's, a running worker's) holds it. Slurm variables used: SLURM_JOB_ID,
# SLURM_JOB_UID, SLURM_JOB_GID. Exits 0 whatever happens (a failing epilog drains the node).
PATH=${VSITE_PATH:-/usr/local/bin:/usr/bin:/bin}
export PATH
vsite=${VSITE:-vsite}
[ -n "${SLURM_JOB_ID:-}" ] || exit 0

uid=${SLURM_JOB_UID:-$(id -u)}
VSITE_RUNTIME_DIR=${VSITE_RUNTIME_DIR:-/tmp/vsite-$uid}
export VSITE_RUNTIME_DIR
if [ "$(id -u)" = 0 ] && [ "$uid" != 0 ]; then
    set -- setpriv --reuid="$uid" --regid="${SLURM_JOB_GID:-$uid}" --init-groups
else
    set --
fi
"$@" "$vsite" release --name "slurm-$SLURM_JOB_ID" >/dev/null 2>&1
exit 0
