"""Regenerate vsite/view/activate/* from the activate scripts uv writes.

uv embeds virtualenv-derived activation scripts in its binary and fills in the
venv path, prompt and relative site-packages path. vsite presents the same
scripts without running uv, so it keeps uv's output with those values turned
back into placeholders. Run with the uv the tests use:

    .venv/bin/python tools/uv_activate_templates.py .venv/bin/uv

tests/test_view_venv.py checks the rendered scripts against a fresh ``uv venv``.
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "vsite" / "view" / "activate"
PROMPT = "VSITEPROMPTMARKER"


def main(uv: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        venv = Path(tmp) / "VSITEVENVMARKER"
        subprocess.run([uv, "venv", "-q", "--prompt", PROMPT, "-p", sys.executable, str(venv)], check=True)
        version = sysconfig.get_python_version()
        site = f"../lib/python{version}/site-packages"
        for script in sorted((venv / "bin").iterdir()):
            if script.is_symlink() or not (script.name.startswith(("activate", "deactivate", "pydoc"))):
                continue
            data = script.read_bytes()  # bytes: the .bat files have CRLF line ends
            data = (
                data.replace(str(venv).encode(), b"{{ VIRTUAL_ENV_DIR }}")
                .replace(PROMPT.encode(), b"{{ VIRTUAL_PROMPT }}")
                .replace(site.encode(), b"{{ RELATIVE_SITE_PACKAGES }}")
            )
            (OUT / script.name).write_bytes(data)
            print(script.name, data.count(b"{{"))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "uv")
