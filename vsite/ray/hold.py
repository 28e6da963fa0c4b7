"""Take a pid lease on a live shared mount: ``python -I -S hold.py ADDRESS_HEX PID``; exit 0 if held.

Run by every Ray worker's start command (vsite.ray.plugin) just before it
execs Python: ``ADDRESS_HEX`` is the mount's lease socket (its abstract name,
hex-encoded), ``PID`` the shell's ``$$``, which becomes the worker's pid. The
lease lasts until that process exits. Standard library only and meant for
``-I -S`` (no site, no vsite import): it runs once per worker start, so it
must cost a bare interpreter start and one round trip, nothing more. Any
failure (no daemon: the mount went away) exits 1, and the start command falls
back to ``vsite mount --shared``, which mounts again.
"""

import socket
import sys


def main(address_hex: str, pid: str) -> int:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(30)
    try:
        sock.connect(bytes.fromhex(address_hex))
        sock.sendall(f"hold {int(pid)}\n".encode())
        reply = b""
        while not reply.endswith(b"\n"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            reply += chunk
    except (OSError, ValueError):
        return 1
    finally:
        sock.close()
    return 0 if reply.startswith(b"ok ") else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]) if len(sys.argv) == 3 else 2)
