"""A symlink farm: a fresh venv whose site-packages links each top-level entry of another venv's.

What uv's proposed shallow symlinking and Spack's views do: the environment is
one directory of links, one per top-level entry (package dirs, ``.dist-info``
dirs, ``.pth`` files, single modules) of a venv installed once, so making one
costs a few hundred ``symlink`` calls whatever the size of the packages. The
venv itself is made as ``python -m venv --without-pip --symlinks`` would, minus
activate scripts: ``pyvenv.cfg``, ``bin/python*`` links to the base
interpreter, ``lib/pythonX.Y/site-packages``.

    python -I -S bench/farm.py SOURCE_VENV DEST_VENV

Only the standard library, so it starts in a bare interpreter (``-I -S``).
"""

from __future__ import annotations

import os
import sys


def _site(venv: str) -> str:
    lib = os.path.join(venv, "lib")
    for name in sorted(os.listdir(lib)):
        if name.startswith("python"):
            return os.path.join(lib, name, "site-packages")
    raise SystemExit(f"farm: no lib/python*/site-packages in {venv}")


def _base(source: str) -> tuple[str, str]:
    """(home, version) from the source venv's pyvenv.cfg."""
    cfg = {}
    with open(os.path.join(source, "pyvenv.cfg")) as f:
        for line in f:
            key, sep, value = line.partition("=")
            if sep:
                cfg[key.strip()] = value.strip()
    version = cfg.get("version_info") or cfg.get("version") or ""
    return cfg["home"], version


def make_farm(source: str, dest: str) -> int:
    """Make the venv ``dest`` linking every top-level entry of ``source``'s site-packages; return their count."""
    source = os.path.abspath(source)
    src_site = _site(source)
    home, version = _base(source)
    pyver = os.path.basename(os.path.dirname(src_site))  # pythonX.Y
    site = os.path.join(dest, "lib", pyver, "site-packages")
    os.makedirs(site)
    os.makedirs(os.path.join(dest, "bin"))
    with open(os.path.join(dest, "pyvenv.cfg"), "w") as f:
        f.write(f"home = {home}\ninclude-system-site-packages = false\nversion = {version}\n")
    base = os.path.realpath(os.path.join(source, "bin", "python"))
    for name in ("python", "python3", pyver):
        os.symlink(base, os.path.join(dest, "bin", name))
    count = 0
    for entry in os.scandir(src_site):
        os.symlink(os.path.join(src_site, entry.name), os.path.join(site, entry.name))
        count += 1
    return count


def main(argv: list[str]) -> None:
    if len(argv) != 2:
        raise SystemExit("usage: farm.py SOURCE_VENV DEST_VENV")
    make_farm(*argv)


if __name__ == "__main__":
    main(sys.argv[1:])
