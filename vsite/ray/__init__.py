"""vsite for Ray (extra ``vsite[ray]``): workers on a vsite mount of a lock.

- :mod:`vsite.ray.plugin`: the runtime_env plugin (imports Ray; loaded by Ray's agent).
- :mod:`vsite.ray.env`: one mount per node and environment, leased (no Ray import).
- :mod:`vsite.ray.spec`: the ``runtime_env["vsite"]`` field (no Ray import).

Only the plugin module imports Ray; nothing else in vsite imports this package.
"""

from __future__ import annotations

import json
import os

PLUGIN_CLASS = "vsite.ray.plugin.VsitePlugin"


def plugin_config() -> str:
    """The value of ``RAY_RUNTIME_ENV_PLUGINS`` that enables the plugin (set it for every ``ray start``)."""
    return json.dumps([{"class": PLUGIN_CLASS}])


def runtime_env(lock: str, **options) -> dict:
    """``{"vsite": {...}}`` for ``lock`` made absolute (a driver's cwd is not the agent's), with uv's options."""
    from vsite.ray.spec import FIELD, check

    field = {"lock": os.path.abspath(lock), **options}
    check(field)
    return {FIELD: field}
