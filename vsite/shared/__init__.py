"""Shared mounts: one daemon per environment and user, serving every worker that joins it.

An environment (a plan: lock, interpreter, options) is mounted as a venv at a
stable path under ``runtime_dir()/envs/<key>/venv`` by one daemon, which also
runs a lease server on a unix socket. Workers join by taking a lease; the last
lease to go starts a grace period, after which the daemon unmounts.

- :mod:`vsite.shared.env`: where an environment lives (paths, socket address, key).
- :mod:`vsite.shared.client`: taking and releasing leases (plain sockets; no trio).
- :mod:`vsite.shared.server`: the lease server inside the daemon (trio).
- :mod:`vsite.shared.join`: join a live mount or start one, serialized by a file lock.
- :mod:`vsite.shared.launch`: the sh launcher's join (``bin/vsite``, the installed ``vsite``):
  its index and the daemon's check of it.
"""
