"""A corpus of small wheels for the view tests (made by wheelmaker.make_wheel), so they need no index."""

from __future__ import annotations

from pathlib import Path

from wheelmaker import make_wheel


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
