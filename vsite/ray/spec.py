"""What a ``runtime_env={"vsite": {...}}`` field asks for, checked and made absolute.

The field is a dict: ``lock`` (required: a uv.lock or pylock.toml), ``python``
(the interpreter the environment is planned for; default: the one running Ray
on that node), ``offline`` (use only the store), and uv's selection options
under their PlanOptions names (``extras``, ``groups``, ``no_dev``, ...). Lists
are lists of strings, switches are booleans; anything else is refused with the
key's name, before any work, because Ray shows the message to the user.

This module imports nothing of Ray: the plugin (vsite.ray.plugin) and the
driver-side helpers share it.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, fields
from typing import Any

from vsite.plan.options import PlanOptions, cli_args

FIELD = "vsite"  # the runtime_env key, and the plugin's name
_OWN_KEYS = {"lock": str, "python": str, "offline": bool}
_OPTION_TYPES = {f.name: (bool if f.type in (bool, "bool") else list) for f in fields(PlanOptions)}


def check(config: Any) -> None:
    """Raise ValueError naming the first thing wrong with a ``vsite`` field's value."""
    if isinstance(config, str):
        return  # shorthand: the lock's path
    if not isinstance(config, dict):
        raise ValueError(f"runtime_env['{FIELD}'] must be a lock path or a dict, not {type(config).__name__}")
    if not isinstance(config.get("lock"), str) or not config["lock"]:
        raise ValueError(f"runtime_env['{FIELD}'] needs 'lock': the path of a uv.lock or pylock.toml")
    for key, value in config.items():
        if key in _OWN_KEYS:
            if not isinstance(value, _OWN_KEYS[key]):
                raise ValueError(f"runtime_env['{FIELD}']['{key}'] must be a {_OWN_KEYS[key].__name__}")
        elif key in _OPTION_TYPES:
            if _OPTION_TYPES[key] is bool and not isinstance(value, bool):
                raise ValueError(f"runtime_env['{FIELD}']['{key}'] must be true or false")
            if _OPTION_TYPES[key] is list and not (
                isinstance(value, list) and all(isinstance(v, str) for v in value)
            ):
                raise ValueError(f"runtime_env['{FIELD}']['{key}'] must be a list of names")
        else:
            known = ", ".join(sorted([*_OWN_KEYS, *_OPTION_TYPES]))
            raise ValueError(f"runtime_env['{FIELD}'] has an unknown key {key!r} (known: {known})")


def normalize(config: Any) -> dict:
    """The field as a dict (a bare string is the lock), checked."""
    check(config)
    return {"lock": config} if isinstance(config, str) else dict(config)


def uri(config: Any, working_dir_uri: str | None) -> str:
    """Ray's cache key for one environment: the field's value and the working_dir it is read from.

    Pure (no file is read): Ray calls it again, on any node, to count references.
    """
    raw = json.dumps([normalize(config), working_dir_uri], sort_keys=True)
    return f"{FIELD}://{hashlib.sha256(raw.encode()).hexdigest()[:32]}"


@dataclass(frozen=True)
class EnvSpec:
    """One environment to mount: an absolute lock path, the interpreter, the plan options."""

    lock: str
    python: str | None = None
    options: PlanOptions = PlanOptions()
    offline: bool = False

    @classmethod
    def from_config(cls, config: Any, base_dir: str | None = None, default_python: str | None = None) -> "EnvSpec":
        """Build from a runtime_env field; a relative lock path is resolved against ``base_dir``.

        ``base_dir`` is the job's working_dir on this node when it has one
        (the lock travels with the code), else the current directory.
        """
        data = normalize(config)
        lock = os.path.join(base_dir or os.getcwd(), os.path.expanduser(data["lock"]))
        if not os.path.isfile(lock):
            where = "the job's working_dir" if base_dir else f"{os.getcwd()} (no working_dir given)"
            raise ValueError(
                f"runtime_env['{FIELD}']: no lock file {data['lock']!r} in {where}; "
                "give an absolute path on a shared filesystem, or ship the lock in working_dir"
            )
        opts: dict[str, Any] = {
            k: (tuple(v) if isinstance(v, list) else v) for k, v in data.items() if k in _OPTION_TYPES
        }
        return cls(
            lock=os.path.abspath(lock),
            python=data.get("python") or default_python,
            options=PlanOptions(**opts),
            offline=bool(data.get("offline", False)),
        )

    def cli_args(self) -> list[str]:
        """``LOCK [--python P] [--offline] [uv's flags]`` as vsite's mount commands take them."""
        args = [self.lock]
        if self.python:
            args += ["--python", self.python]
        if self.offline:
            args.append("--offline")
        return args + cli_args(self.options)
