"""Talking to a shared mount's lease server: one request line, one reply line.

Requests (the protocol is these lines, nothing else):

- ``hold <pid>`` -> ``ok <venv>``: a lease held while this connection is open
  *and* process ``pid`` lives (``0``: the connection alone). ``vsite run`` keeps
  the connection open across ``exec``, so CMD holds it; ``vsite mount --shared``
  closes it and leaves the lease to its caller's pid.
- ``name <name>`` -> ``ok <venv>``: a lease held until ``release <name>``
  (Slurm prolog/epilog); naming the same lease twice holds it once.
- ``release <name>`` -> ``released`` or ``unknown``.
- ``status`` -> one JSON object (daemon pid, venv, lease counts, names).

A daemon that has begun to unmount refuses new requests by closing its
listening socket: connecting fails or the reply is empty, and the caller
starts a fresh daemon (vsite.shared.join). Plain blocking sockets: this
module is on ``vsite run``'s hot path and imports nothing heavy.
"""

from __future__ import annotations

import json
import socket

from vsite.errors import MountError
from vsite.shared.env import SharedEnv

TIMEOUT = 30.0  # seconds a live daemon gets to answer one request


def request(env: SharedEnv, line: str) -> tuple[socket.socket, str] | None:
    """Send ``line``; return the open connection and the reply, or None if no daemon accepts it."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(TIMEOUT)
        sock.connect(env.address)
        sock.sendall(line.encode() + b"\n")
        reply = _read_line(sock)
    except (ConnectionRefusedError, ConnectionResetError, FileNotFoundError, BrokenPipeError):
        sock.close()
        return None
    except TimeoutError:
        sock.close()
        raise MountError(f"the daemon of {env.venv} did not answer within {TIMEOUT:.0f} s") from None
    except BaseException:
        sock.close()
        raise
    if not reply:  # the daemon closed the connection: it is unmounting
        sock.close()
        return None
    sock.settimeout(None)
    return sock, reply


def _read_line(sock: socket.socket) -> str:
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(4096)
        if not chunk:
            return ""
        data += chunk
    return data.decode(errors="replace").strip()


def lease(env: SharedEnv, line: str) -> socket.socket | None:
    """Take a lease (``hold <pid>`` or ``name <name>``): the open connection, or None if no daemon."""
    done = request(env, line)
    if done is None:
        return None
    sock, reply = done
    if not reply.startswith("ok "):
        sock.close()
        raise MountError(f"the daemon of {env.venv} refused the lease: {reply}")
    return sock


def release(env: SharedEnv, name: str) -> bool:
    """Drop the named lease; True if the daemon held it."""
    done = request(env, f"release {name}")
    if done is None:
        return False
    sock, reply = done
    sock.close()
    return reply == "released"


def status(env: SharedEnv) -> dict | None:
    """The daemon's lease table, or None if no daemon serves ``env``."""
    done = request(env, "status")
    if done is None:
        return None
    sock, reply = done
    sock.close()
    try:
        return json.loads(reply)
    except ValueError:
        return None
