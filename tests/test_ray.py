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

from runhelp import DEMO_LOCK, ROOT
from vsite.plan.options import PlanOptions
from vsite.ray import runtime_env
from vsite.ray.spec import EnvSpec, check, uri

RAY_LOCK = ROOT / "examples" / "ray" / "uv.lock"


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


def require_ray() -> None:
    """Skip without the ray extra, saying so; in CI (CI=true) the Ray tests must run, so fail."""
    try:
        import ray  # noqa: F401 - only whether it imports
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("the ray extra must be installed in CI (make test installs .[test,bench,ray])")
        pytest.skip("the ray extra is not installed (pip install -e '.[ray]')")


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


# --- a multi-node cluster on this machine ------------------------------------------------

NODES = ("node0", "node1")  # custom resources pinning tasks to the head and the second node


def _vsite_mounts_under(base: Path) -> list[str]:
    from vsite.fs import registry

    return [m for m in registry.vsite_mounts() if m.startswith(str(base))]


@pytest.fixture
def cluster(tmp_path, monkeypatch):
    """A head and one more node (own raylet and agent each, own VSITE_RUNTIME_DIR), shared store."""
    require_ray()
    from fusetools import require_fuse

    require_fuse()
    import tempfile

    import ray
    from ray.cluster_utils import Cluster

    import vsite.ray

    monkeypatch.setenv("VSITE_CACHE_DIR", str(tmp_path / "cache"))  # the nodes' local store: stays empty
    # the cluster's shared store, published by the test before the first task (docs/store.md "Clusters")
    monkeypatch.setenv("VSITE_STORE_PATH", str(tmp_path / "published"))
    monkeypatch.setenv("RAY_RUNTIME_ENV_PLUGINS", vsite.ray.plugin_config())
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")  # no token written to ~/.ray
    # A short grace, not 0: with 0 the mount can go between `vsite mount --shared` (whose lease
    # ends when it exits) and the agent's own lease, under load on every one of env_for's tries.
    monkeypatch.setenv("VSITE_GRACE", "2")
    # Loopback only: without this Ray maps 127.0.0.1 to the machine's address and binds there.
    monkeypatch.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    monkeypatch.setattr(ray._private.ray_constants, "ENABLE_RAY_CLUSTER", False)
    ray_tmp = tempfile.mkdtemp(prefix="vsray")  # short: Ray's unix socket paths live under it
    # Ray's default temp dir (the cluster address file) goes there too, never /tmp/ray.
    os.makedirs(os.path.join(ray_tmp, "ray"))
    monkeypatch.setenv("RAY_TMPDIR", ray_tmp)
    common = dict(num_cpus=1, object_store_memory=80 * 1024 * 1024, include_dashboard=False,
                  node_ip_address="127.0.0.1", temp_dir=ray_tmp)
    runtime_dirs = {}
    made = Cluster(shutdown_at_exit=True)
    try:
        for i, name in enumerate(NODES):
            runtime_dirs[name] = tmp_path / f"rt{i}"
            monkeypatch.setenv("VSITE_RUNTIME_DIR", str(runtime_dirs[name]))  # inherited by this node's agent
            made.add_node(**common, resources={name: 1})
        monkeypatch.delenv("VSITE_RUNTIME_DIR")
        made.wait_for_nodes()
        ray.init(address=made.address)
        yield runtime_dirs
    finally:
        ray.shutdown()
        made.shutdown()
        for target in _vsite_mounts_under(tmp_path):  # whatever the test left, never a mount
            from fusetools import force_unmount

            force_unmount(target)
        shutil.rmtree(ray_tmp, ignore_errors=True)


@pytest.mark.fuse
@pytest.mark.slow
@pytest.mark.network
def test_tasks_on_each_node_run_on_that_nodes_mount(cluster, tmp_path):
    """From a shared store (VSITE_STORE_PATH in the agents' environment) published beforehand:
    each node's first worker mounts offline, nothing downloaded, the modules in the shared store."""
    import subprocess
    import sys
    import time

    import ray

    from vsite.fs import registry

    published = tmp_path / "published"
    subprocess.run([sys.executable, "-m", "vsite", "fetch", "--store", str(published), "--python", sys.executable,
                    str(RAY_LOCK)], check=True, capture_output=True, timeout=900)

    @ray.remote(num_cpus=0)
    def report() -> dict:
        import os
        import shutil
        import sys

        import attr
        import click
        import rich

        return {
            "prefix": sys.prefix,
            "files": [m.__file__ for m in (attr, click, rich)],
            "real": os.path.realpath(rich.__file__),
            "ray": ray.__file__,
            "virtual_env": os.environ.get("VIRTUAL_ENV"),
            "pygmentize": shutil.which("pygmentize"),
        }

    runtime_env = {"vsite": {"lock": str(RAY_LOCK), "offline": True}}
    refs = {
        name: [report.options(resources={name: 0.01}, runtime_env=runtime_env).remote() for _ in range(2)]
        for name in NODES
    }
    results = {name: ray.get(r, timeout=600) for name, r in refs.items()}
    prefixes = set()
    for name, reports in results.items():
        for seen in reports:
            prefix = seen["prefix"]
            assert prefix.startswith(str(cluster[name]) + os.sep), (name, seen)
            assert registry.mount_fstype(prefix) == registry.FSTYPE
            assert all(f.startswith(prefix + os.sep) for f in seen["files"] + [seen["ray"]]), seen
            assert seen["virtual_env"] == prefix
            assert seen["pygmentize"] == os.path.join(prefix, "bin", "pygmentize")
            # root's links lead through a read-only bind of the shared store (a user's: into it)
            entry = Path(seen["real"]).relative_to(Path(seen["real"]).parents[3])
            assert (published / "v2" / "wheels" / entry).is_file(), seen["real"]
            prefixes.add(prefix)
    assert len(prefixes) == 2, "one mount per node"
    assert not (tmp_path / "cache" / "v2" / "wheels").is_dir() or not os.listdir(tmp_path / "cache/v2/wheels")

    # Released when the job's workers are gone: end the job (the driver); its workers exit, the mounts go.
    ray.shutdown()
    deadline = time.monotonic() + 120
    while _vsite_mounts_under(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _vsite_mounts_under(tmp_path)


def test_the_mount_command_names_the_agents_store_path(monkeypatch):
    """Workers mounting again from their start command use the same shared stores as the agent."""
    from vsite.ray.env import _vsite_command

    spec = EnvSpec(str(DEMO_LOCK))
    monkeypatch.delenv("VSITE_STORE_PATH", raising=False)
    assert "--store-path" not in _vsite_command(spec)
    monkeypatch.setenv("VSITE_STORE_PATH", "/cvmfs/sw/vsite:/shared/vsite")
    command = _vsite_command(spec)
    assert command[command.index("--store-path") + 1] == "/cvmfs/sw/vsite:/shared/vsite"
    assert command[-len(spec.cli_args()):] == spec.cli_args()


@pytest.mark.fuse
@pytest.mark.network
def test_worker_prefix_holds_the_mount_with_the_workers_own_pid(shared_env):
    """The start-command words: on a live mount, one stat from the shell takes a pid lease on it (the
    hold name, no Python start), which the worker it execs keeps: the mount outlives the agent's lease
    while the worker runs and goes after it. On a mount that is gone, the slow path mounts it again."""
    import subprocess
    import sys
    import time

    from fusetools import require_fuse
    from runhelp import shared_mounts, wait_until
    from vsite.ray.env import env_for
    from vsite.shared import client
    from vsite.shared.env import SharedEnv

    require_fuse()
    worker_code = "'import os, sys; print(os.getpid(), flush=True); sys.stdin.read()'"
    lease = env_for(EnvSpec(str(DEMO_LOCK)))  # the agent's: a connection lease on a fresh mount
    env = SharedEnv(Path(lease.venv).parent.name)
    for live in (True, False):
        words = lease.worker_prefix() + ["exec", sys.executable, "-c", worker_code]
        worker = subprocess.Popen(["bash", "-c", " ".join(words)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  text=True, env=shared_env)
        try:
            assert int(worker.stdout.readline()) == worker.pid  # the shell exec'd the worker: one pid
            status = client.status(env)
            assert status is not None
            # live: the lookup's lease, no connection of its own; gone: the slow path's `hold <pid>` lease
            assert (status["joined"], status["connections"]) == ((1, 1) if live else (0, 1)), status
            lease.close()
            time.sleep(1.5)  # three grace periods (0.5 s): the worker's lease holds the mount
            assert shared_mounts(shared_env) == [lease.venv]
        finally:
            worker.communicate("", timeout=30)
        assert wait_until(lambda: not shared_mounts(shared_env), 10)  # the worker gone: the mount goes


def test_plugin_refuses_other_interpreter_fields_and_keys_uris_by_field():
    require_ray()
    from ray.runtime_env import RuntimeEnv

    from vsite.ray.plugin import VsitePlugin

    field = {"lock": "/x/uv.lock"}
    env = RuntimeEnv(vsite=field, env_vars={"A": "1"})
    VsitePlugin.validate(env)
    assert VsitePlugin().get_uris(env) == [uri(field, None)]
    assert VsitePlugin().get_uris(RuntimeEnv(env_vars={"A": "1"})) == []
    for other in ({"pip": ["six"]}, {"py_executable": "python3"}, {"uv": ["six"]}):
        with pytest.raises(ValueError, match=f"cannot be combined with '{next(iter(other))}'"):
            VsitePlugin.validate({"vsite": field, **other})
    with pytest.raises(ValueError, match="unknown key"):
        VsitePlugin.validate({"vsite": {"lock": "/x/uv.lock", "pip": []}})
