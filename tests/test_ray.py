"""vsite.ray: the runtime_env field, and Ray workers on vsite mounts across a multi-node cluster.

The cluster test starts a head and a second node, each with its own raylet,
runtime env agent and VSITE_RUNTIME_DIR (so each node makes its own mount, as
separate machines would), all on 127.0.0.1, and runs tasks pinned to each node
through custom resources.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from vsite.plan.options import PlanOptions
from vsite.ray import runtime_env
from vsite.ray.spec import EnvSpec, check, uri

ROOT = Path(__file__).resolve().parent.parent
RAY_LOCK = ROOT / "examples" / "ray" / "uv.lock"
DEMO_LOCK = ROOT / "examples" / "demo" / "uv.lock"


@pytest.mark.parametrize(
    "config, message",
    [
        (3, "must be a lock path or a dict"),
        ({}, "needs 'lock'"),
        ({"lock": "uv.lock", "python": 3}, "'python'] must be a str"),
        ({"lock": "uv.lock", "no_dev": "yes"}, "'no_dev'] must be true or false"),
        ({"lock": "uv.lock", "extras": "gpu"}, "'extras'] must be a list of names"),
        ({"lock": "uv.lock", "extra": ["gpu"]}, "unknown key 'extra'"),
    ],
)
def test_bad_fields_are_refused_naming_the_key(config, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        check(config)


def test_uri_depends_on_the_field_and_the_working_dir_only():
    a = uri({"lock": "/x/uv.lock", "extras": ["b", "a"]}, None)
    assert a == uri({"extras": ["b", "a"], "lock": "/x/uv.lock"}, None)
    assert a.startswith("vsite://")
    assert a != uri({"lock": "/x/uv.lock", "extras": ["a"]}, None)
    assert a != uri({"lock": "/x/uv.lock", "extras": ["b", "a"]}, "gcs://_ray_pkg_1.zip")
    assert uri("/x/uv.lock", None) == uri({"lock": "/x/uv.lock"}, None)


def test_spec_resolves_a_relative_lock_in_the_working_dir(tmp_path):
    (tmp_path / "proj").mkdir()
    shutil.copy(DEMO_LOCK, tmp_path / "proj" / "uv.lock")
    spec = EnvSpec.from_config({"lock": "uv.lock", "groups": ["Dev_X"], "no_dev": True}, str(tmp_path / "proj"))
    assert spec.lock == str(tmp_path / "proj" / "uv.lock")
    assert spec.options == PlanOptions(groups=("dev-x",), no_dev=True)
    with pytest.raises(ValueError, match="no lock file 'uv.lock' in the job's working_dir"):
        EnvSpec.from_config("uv.lock", str(tmp_path))


def test_spec_command_line_plans_the_same_options(tmp_path):
    """The flags the agent passes to `vsite mount` parse back into the same PlanOptions."""
    from click.testing import CliRunner

    import click

    from vsite.cli.options import plan_options, split_plan_options

    options = PlanOptions(extras=("a", "b"), no_dev=True, no_install_packages=("x",), all_groups=True)
    spec = EnvSpec(lock=str(DEMO_LOCK), python="/usr/bin/python3", options=options, offline=True)
    seen = {}

    @click.command()
    @click.argument("lock")
    @click.option("--offline", is_flag=True)
    @plan_options
    def cmd(lock, offline, **opts):
        python, fields = split_plan_options(opts)
        seen.update(lock=lock, offline=offline, python=python, options=PlanOptions(**fields))

    result = CliRunner().invoke(cmd, spec.cli_args())
    assert result.exit_code == 0, result.output
    assert seen == {"lock": str(DEMO_LOCK), "offline": True, "python": "/usr/bin/python3", "options": options}


def test_runtime_env_helper_makes_the_lock_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert runtime_env("uv.lock", extras=["gpu"]) == {"vsite": {"lock": str(tmp_path / "uv.lock"), "extras": ["gpu"]}}
    with pytest.raises(ValueError, match="unknown key"):
        runtime_env("uv.lock", bogus=True)


def test_ray_version_must_match_the_lock(tmp_path, monkeypatch):
    monkeypatch.setenv("VSITE_CACHE_DIR", str(tmp_path / "cache"))
    from vsite.ray.env import ray_mismatch

    assert "does not install ray" in ray_mismatch(EnvSpec(str(DEMO_LOCK)), "2.60.0")
    assert "pins ray 2.60.0 but this cluster runs ray 9.9.9" in ray_mismatch(EnvSpec(str(RAY_LOCK)), "9.9.9")
    assert ray_mismatch(EnvSpec(str(RAY_LOCK)), "2.60.0") is None
