"""Craft small wheels in tests with zipfile, so view tests need no index.

Each wheel is described by its files (``{path-in-wheel: bytes}``); METADATA,
WHEEL, entry_points.txt and RECORD are generated so uv and the store accept it.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import zipfile
from pathlib import Path


def record_hash(data: bytes) -> str:
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def make_wheel(
    out_dir: Path,
    name: str,
    version: str,
    files: dict[str, bytes | str],
    *,
    entry_points: dict[str, dict[str, str]] | None = None,
    requires: tuple[str, ...] = (),
    root_is_purelib: bool = True,
    tag: str = "py3-none-any",
    modes: dict[str, int] | None = None,
) -> Path:
    """Write ``<name>-<version>-<tag>.whl`` into ``out_dir`` and return its path.

    ``modes`` gives unix permission bits for some files (e.g. 0o755 for scripts).
    """
    dist = name.replace("-", "_")
    dist_info = f"{dist}-{version}.dist-info"
    contents: dict[str, bytes] = {
        path: data.encode() if isinstance(data, str) else data for path, data in files.items()
    }
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    metadata += "".join(f"Requires-Dist: {req}\n" for req in requires)
    contents[f"{dist_info}/METADATA"] = metadata.encode()
    contents[f"{dist_info}/WHEEL"] = (
        "Wheel-Version: 1.0\nGenerator: vsite-tests\n"
        f"Root-Is-Purelib: {'true' if root_is_purelib else 'false'}\nTag: {tag}\n"
    ).encode()
    if entry_points:
        text = ""
        for group, items in entry_points.items():
            text += f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in items.items()) + "\n"
        contents[f"{dist_info}/entry_points.txt"] = text.encode()
    record_path = f"{dist_info}/RECORD"
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerows([(p, record_hash(d), len(d)) for p, d in contents.items()])
    writer.writerow((record_path, "", ""))
    contents[record_path] = out.getvalue().encode()
    out_dir.mkdir(parents=True, exist_ok=True)
    wheel_path = out_dir / f"{dist}-{version}-{tag}.whl"
    modes = modes or {}
    with zipfile.ZipFile(wheel_path, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, data in contents.items():
            info = zipfile.ZipInfo(path, date_time=(2024, 1, 1, 0, 0, 0))
            info.external_attr = (0o100000 | modes.get(path, 0o644)) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return wheel_path


def make_corpus(out_dir: Path) -> dict[str, Path]:
    """Wheels exercising what an installer does: namespace packages, .data schemes,
    console/gui scripts, ``#!python`` scripts, .pth files and one file conflict
    (``shared/conflict.py`` ships in both alpha and beta)."""
    alpha = make_wheel(
        out_dir,
        "alpha",
        "1.0",
        {
            "ns/alpha/__init__.py": "VALUE = 'alpha'\n",
            "alpha_mod.py": "def main():\n    print('alpha main')\n\ndef gui():\n    pass\n",
            "alpha.pth": "import sys\n",
            "shared/__init__.py": "",
            "shared/conflict.py": "WHO = 'alpha'\n",
            "alpha-1.0.data/scripts/alpha-script": "#!python\nprint('alpha script')\n",
            "alpha-1.0.data/scripts/alpha-sh": "#!/bin/sh\necho alpha\n",
            "alpha-1.0.data/headers/alpha.h": "#define ALPHA 1\n",
            "alpha-1.0.data/data/share/alpha/data.txt": "alpha data\n",
            "alpha-1.0.data/purelib/alpha_extra.py": "EXTRA = 1\n",
        },
        entry_points={
            "console_scripts": {"alpha-cli": "alpha_mod:main"},
            "gui_scripts": {"alpha-gui": "alpha_mod:gui"},
        },
        requires=("beta",),
        modes={"alpha-1.0.data/scripts/alpha-script": 0o755, "alpha-1.0.data/scripts/alpha-sh": 0o755},
    )
    beta = make_wheel(
        out_dir,
        "beta",
        "2.0",
        {
            "ns/beta/__init__.py": "VALUE = 'beta'\n",
            "ns/beta/data/__init__.py": "",
            "beta.pth": "# beta\n",
            "shared/__init__.py": "",
            "shared/conflict.py": "WHO = 'beta'\n",
            "shared/beta_only.py": "",
            "beta-2.0.data/scripts/beta-script": "#!pythonw -u\nprint('beta')\n",
            "beta-2.0.data/platlib/beta_plat.py": "PLAT = 1\n",
            "beta-2.0.data/data/share/beta/data.txt": "beta data\n",
        },
        entry_points={"console_scripts": {"beta-cli": "ns.beta:main"}},
        root_is_purelib=False,
        modes={"beta-2.0.data/scripts/beta-script": 0o755},
    )
    return {"alpha": alpha, "beta": beta}
