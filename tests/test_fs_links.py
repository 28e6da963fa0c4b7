"""The native data path through a real mount: links into the store, and nothing writes through them.

A mount presents each subtree unique to one wheel as a symlink into the store
(vsite.fs.readonly): for root into a read-only bind mount of the store made
for that mount, for a user straight into the store, whose sealed modes refuse
the user's writes. Python keeps ``__file__`` and ``sys.path`` under the mount
(it does not resolve links); ``os.path.realpath`` leads into the store.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from fusetools import force_unmount, require_fuse
from reliab import make_env_wheels, require_root, write_pylock
from runhelp import ROOT, vsite
from vsite.fs import readonly
from vsite.store import Store
from wheelmaker import make_wheel

pytestmark = pytest.mark.fuse

NOBODY = 65534

DATAPKG = {
    "datapkg/__init__.py": (
        "import os\n"
        "HERE = os.path.dirname(os.path.realpath(__file__))\n"
        "with open(os.path.join(HERE, 'data', 'payload.txt')) as f:\n"
        "    PAYLOAD = f.read()\n"
    ).encode(),
    "datapkg/data/payload.txt": b"found next to the real file\n",
}


def snapshot(root: Path) -> dict[str, tuple]:
    """Every path under ``root`` with its mode, mtime, size and (files) sha256: the store byte for byte."""
    out: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            digest = None
            if os.path.isfile(path) and not os.path.islink(path):
                with open(path, "rb") as f:
                    digest = hashlib.sha256(f.read()).hexdigest()
            out[os.path.relpath(path, root)] = (st.st_mode, st.st_mtime_ns, st.st_size, digest)
    return out


# Each way a process could change a file or dir behind a link, run by the user under test
# (a standalone script: the unprivileged user's interpreter has no pytest). Prints the
# errno each attempt got (0: it worked), then whether py_compile could write a pyc.
ATTEMPTS = r"""
import errno, os, py_compile, sys
site = sys.argv[1]
module = os.path.join(site, "relpkg0/m0.py")
pycache = os.path.join(site, "relpkg0/__pycache__")
attempts = {
    "append": lambda: open(module, "ab").close(),
    "truncate": lambda: open(module, "r+b").close(),
    "create-pyc": lambda: open(os.path.join(pycache, "m0.cpython-399.pyc"), "xb").close(),
    "create-beside": lambda: open(os.path.join(site, "relpkg0/new.py"), "xb").close(),
    "unlink": lambda: os.unlink(module),
    "rename": lambda: os.rename(module, os.path.join(site, "relpkg0/moved.py")),
    "chmod": lambda: os.chmod(module, 0o666),
    "utime": lambda: os.utime(module, (0, 0)),
    "mkdir": lambda: os.mkdir(os.path.join(site, "relpkg0/newdir")),
    "rmdir": lambda: os.rmdir(pycache),
}
for name, attempt in attempts.items():
    if name in sys.argv[2:]:
        continue
    try:
        attempt()
        print(name, 0)
    except OSError as exc:
        print(name, errno.errorcode[exc.errno])
try:
    py_compile.compile(os.path.join(site, "relpkg1/m1.py"), doraise=True)
    print("py_compile", 0)
except (OSError, py_compile.PyCompileError):
    print("py_compile", "refused")
"""


def _attempt_writes(python: Path, site: Path, *skip: str, run=subprocess.run, **kwargs) -> dict[str, str]:
    done = run([str(python), "-c", ATTEMPTS, str(site), *skip], **kwargs)
    assert done.returncode == 0, done.stderr
    return dict(line.split() for line in done.stdout.splitlines())


@pytest.fixture
def world(tmp_path):
    require_fuse()
    env = dict(os.environ, VSITE_CACHE_DIR=str(tmp_path / "cache"), VSITE_RUNTIME_DIR=str(tmp_path / "runtime"),
               UV_CACHE_DIR=str(tmp_path / "empty-uv-cache"))
    env.pop("VSITE_LINKS", None)
    wheels = make_env_wheels(tmp_path / "wheels", 2, 3)
    wheels.append(make_wheel(tmp_path / "wheels", name="datapkg", files=DATAPKG))
    lock = write_pylock(tmp_path / "pylock.toml", wheels)
    done = vsite("fetch", lock, env=env)
    assert done.returncode == 0, done.stderr
    return tmp_path, lock, env


def _site(venv: Path) -> Path:
    return next((venv / "lib").glob("python3*/site-packages"))


def test_root_mount_links_into_a_read_only_bind_of_the_store(world):
    require_root()
    tmp_path, lock, env = world
    store = Store(env["VSITE_CACHE_DIR"])
    wheels = store.layout.wheels_dir()
    before = snapshot(wheels)
    venv = tmp_path / "venv"
    done = vsite("mount", "--offline", "--venv", lock, venv, env=env)
    assert done.returncode == 0, done.stderr
    bind = Path(env["VSITE_RUNTIME_DIR"]) / "store-ro" / readonly.bind_path(str(venv)).name
    try:
        site = _site(venv)
        assert (site / "relpkg0").is_symlink()
        assert os.readlink(site / "relpkg0").startswith(str(bind) + "/")
        options = next(line.split()[3] for line in open("/proc/mounts") if line.split()[1] == str(bind))
        assert "ro" in options.split(",")
        probe = subprocess.run(
            [str(venv / "bin/python"), "-c",
             "import os, sys, datapkg, relpkg0\n"
             "print(relpkg0.__file__)\n"
             "print(os.path.realpath(relpkg0.__file__))\n"
             "print(datapkg.PAYLOAD, end='')\n"
             "print(all(p.startswith(sys.prefix) for p in sys.path if 'site-packages' in p))\n"],
            capture_output=True, text=True, env=env, timeout=60)
        assert probe.returncode == 0, probe.stderr
        file, real, payload, in_prefix = probe.stdout.splitlines()
        assert file == str(site / "relpkg0/__init__.py")  # Python does not resolve the link
        assert real.startswith(str(bind) + "/") and real.endswith("/site/relpkg0/__init__.py")
        assert payload == DATAPKG["datapkg/data/payload.txt"].decode().strip()
        assert in_prefix == "True"
        # root ignores modes; the bind mount refuses every write
        tried = _attempt_writes(venv / "bin/python", site, capture_output=True, text=True, env=env, timeout=60)
        assert tried == {**dict.fromkeys(tried, "EROFS"), "py_compile": "refused"}, tried
    finally:
        vsite("unmount", venv, env=env)
        force_unmount(str(venv))
    assert str(bind) not in {line.split()[1] for line in open("/proc/mounts")}
    assert not bind.exists()
    assert snapshot(wheels) == before
    assert store.verify() == []


def test_links_off_serves_every_file_from_the_daemon(world):
    tmp_path, lock, env = world
    venv = tmp_path / "venv-served"
    done = vsite("mount", "--offline", "--venv", lock, venv, env=dict(env, VSITE_LINKS="0"))
    assert done.returncode == 0, done.stderr
    try:
        assert "VSITE_LINKS=0" in done.stderr and len(done.stderr.strip().splitlines()) == 1
        site = _site(venv)
        assert not (site / "relpkg0").is_symlink()
        assert os.path.realpath(site / "relpkg0/__init__.py") == str(site / "relpkg0/__init__.py")
        assert (site / "relpkg0/m0.py").read_bytes().startswith(b"NAME = 'p0m0'")
        with pytest.raises(OSError) as info:
            open(site / "relpkg0/m0.py", "ab").close()
        assert info.value.errno == errno.EROFS
    finally:
        vsite("unmount", venv, env=env)
        force_unmount(str(venv))


def _system_python() -> str:
    """An interpreter outside /root (which other users cannot enter), for running vsite as another user."""
    for candidate in (f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}", "/usr/bin/python3"):
        if os.access(candidate, os.X_OK):
            return candidate
    if os.environ.get("CI") == "true":
        pytest.fail("no system Python for the unprivileged-user test")
    pytest.skip("no system Python outside /root for running vsite as another user")


class User:
    """uid nobody with a home under /tmp, running vsite with the system Python (vsite from this checkout)."""

    def __init__(self, home: Path, python: str) -> None:
        self.home = home
        self.python = python
        site_packages = next(p for p in sys.path if p.endswith("site-packages") and "/.venv/" in p)
        self.env = {"PATH": os.environ["PATH"], "HOME": str(home), "VSITE_CACHE_DIR": str(home / "cache"),
                    "VSITE_RUNTIME_DIR": str(home / "runtime"), "UV_CACHE_DIR": str(home / "uv"),
                    "PYTHONPATH": f"{ROOT}:{site_packages}"}
        # root cannot enter a user's mount (FUSE without allow_other): paths by name
        self.site_packages = f"lib/python{sys.version_info.major}.{sys.version_info.minor}/site-packages"

    def run(self, *argv: str, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *argv],
                              capture_output=True, text=True, env=self.env | env, timeout=300, cwd=self.home)

    def vsite(self, *args: str, **env: str) -> subprocess.CompletedProcess:
        return self.run(self.python, "-m", "vsite", *args, **env)


@pytest.fixture
def user(world):
    """uid nobody, able to mount (setuid fusermount3), with its own home and the test's wheels and lock in it."""
    require_root()
    tmp_path, _, _ = world
    python = _system_python()
    home = Path(tempfile.mkdtemp(prefix="vsite-user-", dir="/tmp"))
    fuse_mode = os.stat("/dev/fuse").st_mode & 0o777
    try:
        # a user mounts through setuid fusermount3, which needs /dev/fuse open to users (Debian's
        # default, 0o666); this machine's is 0o600: opened up for the test, restored after it
        os.chmod("/dev/fuse", fuse_mode | 0o006)
        os.chmod(home, 0o755)
        shutil.copytree(tmp_path / "wheels", home / "wheels")
        write_pylock(home / "pylock.toml", sorted((home / "wheels").glob("*.whl")))
        subprocess.run(["chown", "-R", f"{NOBODY}:{NOBODY}", str(home)], check=True)
        yield User(home, python)
    finally:
        os.chmod("/dev/fuse", fuse_mode)
        subprocess.run(["chmod", "-R", "u+w", str(home)], capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


def test_unprivileged_owner_cannot_write_through_links(user):
    """A user's own mount links straight into the user's store; its sealed modes refuse the user's writes."""
    lock = str(user.home / "pylock.toml")
    done = user.vsite("fetch", lock, "--python", user.python)
    assert done.returncode == 0, done.stderr
    wheels = Store(user.home / "cache").layout.wheels_dir()
    before = snapshot(wheels)
    venv = user.home / "venv"
    done = user.vsite("mount", "--offline", "--venv", "--python", user.python, lock, str(venv))
    assert done.returncode == 0, done.stderr
    try:
        site = venv / user.site_packages
        link = user.run("readlink", str(site / "relpkg0"))
        assert link.stdout.strip().startswith(str(wheels) + "/"), link
        # an owner may chmod or touch its own files (modes cannot stop that: it is changing the
        # store on purpose, not writing through an environment); everything else is refused
        tried = _attempt_writes(venv / "bin/python", site, "chmod", "utime", run=lambda argv, **kw: user.run(*argv))
        assert tried == {**dict.fromkeys(tried, "EACCES"), "py_compile": "refused"}, tried
        imported = user.run(str(venv / "bin/python"), "-c", "import relpkg0, relpkg1, datapkg; print(datapkg.PAYLOAD)")
        assert imported.returncode == 0 and "found next to the real file" in imported.stdout, imported
    finally:
        user.vsite("unmount", str(venv))
        force_unmount(str(venv))
    assert snapshot(wheels) == before
    assert Store(user.home / "cache").verify() == []


@pytest.mark.parametrize("given_as", ["VSITE_CACHE_DIR", "VSITE_STORE_PATH"])
def test_a_store_read_only_to_the_user_and_on_another_filesystem(user, given_as):
    """Root fills a store on a tmpfs of its own; a user mounts from it as it is (no pins, no writes):
    links lead into it across filesystems, imports work, the store is unchanged. Given as the
    user's local store, or as a shared store of the search path (the user's own local store empty)."""
    lock = str(user.home / "pylock.toml")
    shared = user.home / "shared-store"
    shared.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m,mode=0755", "tmpfs", str(shared)], check=True)
    try:
        env = dict(os.environ, VSITE_CACHE_DIR=str(shared), UV_CACHE_DIR=str(user.home / "root-uv"))
        done = vsite("fetch", lock, "--python", user.python, env=env)
        assert done.returncode == 0, done.stderr
        wheels = Store(shared).layout.wheels_dir()
        before = snapshot(shared)
        venv = user.home / "venv-shared-store"
        stores = {given_as: str(shared)}
        done = user.vsite("mount", "--offline", "--venv", "--python", user.python, lock, str(venv), **stores)
        assert done.returncode == 0, done.stderr
        try:
            site = venv / user.site_packages
            assert user.run("readlink", str(site / "relpkg0")).stdout.strip().startswith(str(wheels) + "/")
            imported = user.run(str(venv / "bin/python"), "-c",
                                "import os, relpkg0, datapkg; print(os.path.realpath(relpkg0.__file__)); print(datapkg.PAYLOAD, end='')")
            assert imported.returncode == 0, imported.stderr
            real, payload = imported.stdout.splitlines()
            assert real.startswith(str(wheels) + "/") and payload.startswith("found next to the real file")
            assert os.stat(real).st_dev != os.stat(user.home).st_dev  # another filesystem than the mount's
            tried = _attempt_writes(venv / "bin/python", site, run=lambda argv, **kw: user.run(*argv))
            assert tried == {**dict.fromkeys(tried, "EACCES"), "chmod": "EPERM", "utime": "EPERM",
                             "py_compile": "refused"}, tried
        finally:
            user.vsite("unmount", str(venv), **stores)
            force_unmount(str(venv))
        assert snapshot(shared) == before  # not even a pin: the store is the owner's
        if given_as == "VSITE_STORE_PATH":
            assert not (user.home / "cache" / "v2" / "wheels").exists()  # the user's store gained no wheel
    finally:
        subprocess.run(["umount", "-l", str(shared)], capture_output=True)
