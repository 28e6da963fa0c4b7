"""The mount daemon and mount points: start, ready, stop, crashes and cleanup, on real mounts."""

from __future__ import annotations

import errno
import json
import os
import select
import signal
import subprocess
import sys
import textwrap
import threading

import pytest

from tests.fusetools import FS_MODES, force_unmount, in_proc_mounts, mounted, require_fuse, set_fs_mode, wait_gone
from tests.memview import MemoryView
from vsite.errors import MountError
from vsite.fs import daemon, mountpoint, registry

pytestmark = pytest.mark.fuse


def _view() -> MemoryView:
    return MemoryView({"a.py": b"A = 1\n", "pkg": {"b.txt": b"bee\n"}})


def test_spawn_ready_record_and_unmount(isolated):
    target = isolated / "mnt"
    with mounted(_view(), target, packages=3, wheels=["ab" * 32]) as pid:
        # ready means answering: no waiting needed before the first access
        assert (target / "a.py").read_bytes() == b"A = 1\n"
        assert registry.mount_fstype(str(target)) == registry.FSTYPE
        assert _mount_options(target)[0] == "ro"
        record = registry.read_record(str(target))
        assert record.pid == pid and record.packages == 3 and record.wheels == ["ab" * 32]
        assert registry.pid_alive(pid) and pid != os.getpid()
        assert os.getsid(pid) != os.getsid(0)  # detached into its own session
        states = mountpoint.survey()
        assert [(s.mountpoint, s.state) for s in states] == [(str(target), "mounted")]
        assert (str(target), "mounted") in [(s.mountpoint, s.state) for s in mountpoint.survey(everything=True)]
        mountpoint.unmount(str(target))
        assert not in_proc_mounts(str(target))
        assert wait_gone(pid)
        assert registry.read_record(str(target)) is None
        assert mountpoint.survey() == []


def _mount_options(target) -> list[str]:
    with open("/proc/mounts") as table:
        return next(line.split()[3].split(",") for line in table if line.split()[1] == str(target))


def test_allow_other_only_when_asked(isolated):
    with mounted(_view(), isolated / "a"):
        assert "allow_other" not in _mount_options(isolated / "a")
    with mounted(_view(), isolated / "b", allow_other=True):
        options = _mount_options(isolated / "b")
        assert "allow_other" in options and "default_permissions" in options and options[0] == "ro"


@pytest.mark.parametrize("mode", list(FS_MODES))
def test_stats_published(isolated, monkeypatch, mode):
    set_fs_mode(monkeypatch, mode)
    target = isolated / "mnt"
    with mounted(_view(), target):
        for _ in range(3):
            (target / "pkg/b.txt").read_bytes()
        stats = mountpoint.fresh_stats(registry.read_record(str(target)))
        assert stats["files_served"] == 1
        assert stats["zero_message_open"] == (mode == "zero-message")
        # zero-message: the first open's ENOSYS is the last open the kernel sends
        opens = 1 if mode == "zero-message" else 3
        assert stats["requests"]["open"] == opens and stats["requests"]["lookup"] == 2  # entries cached
        assert stats["requests"].get("read", 0) == 1  # keep_cache: later opens read the page cache
        assert stats["requests"]["flush"] == 1  # ENOSYS: the kernel stopped sending flush
        assert stats["requests"]["getattr"] == 1  # the readiness stat; attributes cached after
        assert mountpoint.survey()[0].stats["requests"]["open"] == opens


def test_daemon_alive_guards_pid_reuse():
    me = registry.MountRecord(mountpoint="/x", lock="l", plan_key="k", packages=0, pid=os.getpid())
    me.pid_start = registry.process_start(os.getpid())
    assert registry.daemon_alive(me)
    me.pid_start += 1
    assert not registry.daemon_alive(me)


def test_sigterm_unmounts_and_cleans_up(isolated):
    target = isolated / "mnt"
    with mounted(_view(), target) as pid:
        os.kill(pid, signal.SIGTERM)
        assert wait_gone(pid)
        assert not in_proc_mounts(str(target))
        assert registry.read_record(str(target)) is None


def test_external_fusermount_ends_daemon(isolated):
    target = isolated / "mnt"
    with mounted(_view(), target) as pid:
        subprocess.run(["fusermount3", "-u", str(target)], check=True)
        assert wait_gone(pid)
        assert registry.read_record(str(target)) is None


def test_unmount_after_kill_9(isolated):
    target = isolated / "mnt"
    with mounted(_view(), target) as pid:
        os.kill(pid, signal.SIGKILL)
        assert wait_gone(pid)
        with pytest.raises(OSError) as info:
            os.statvfs(target)
        assert info.value.errno in (errno.ENOTCONN, errno.ECONNABORTED)
        assert [s.state for s in mountpoint.survey()] == ["dead-daemon"]
        with pytest.raises(MountError, match="daemon died"):
            mountpoint.prepare_mountpoint(str(target))
        mountpoint.unmount(str(target))
        assert not in_proc_mounts(str(target))
        assert registry.read_record(str(target)) is None
        assert os.listdir(target) == []


def test_second_mount_on_same_target_refused(isolated):
    target = isolated / "mnt"
    with mounted(_view(), target) as pid:
        with pytest.raises(MountError, match=f"already a vsite mount \\(pid {pid}\\)"):
            mountpoint.prepare_mountpoint(str(target))


def test_spawn_failure_reports_and_leaves_nothing(isolated):
    require_fuse()
    missing = isolated / "does-not-exist"
    record = registry.MountRecord(mountpoint=str(missing), lock="l", plan_key="k", packages=0)
    with pytest.raises(MountError, match="cannot mount"):
        daemon.spawn(_view(), record)
    assert not in_proc_mounts(str(missing))
    assert registry.read_record(str(missing)) is None


def test_foreground_serve_stops_on_sigint(isolated):
    require_fuse()
    target = isolated / "mnt"
    target.mkdir()
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {os.path.dirname(__file__)!r})
        from memview import MemoryView
        from vsite.fs import daemon, registry
        record = registry.MountRecord(mountpoint={str(target)!r}, lock="l", plan_key="k", packages=0)
        daemon.serve(MemoryView({{"x": b"1"}}), record, on_ready=lambda: print("ready", flush=True))
        print("done", flush=True)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline() == "ready\n"
        assert (target / "x").read_bytes() == b"1"
        assert registry.read_record(str(target)).pid == proc.pid
        proc.send_signal(signal.SIGINT)
        assert proc.stdout.readline() == "done\n"
        assert proc.wait(timeout=10) == 0
        assert not in_proc_mounts(str(target))
        assert registry.read_record(str(target)) is None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        force_unmount(str(target))


def test_prepare_mountpoint(isolated):
    created = isolated / "a" / "b"
    assert mountpoint.prepare_mountpoint(str(created)) == (str(created), True)
    assert created.is_dir()
    assert mountpoint.prepare_mountpoint(str(created)) == (str(created), False)
    (created / "f").write_text("x")
    with pytest.raises(MountError, match="is not empty"):
        mountpoint.prepare_mountpoint(str(created))
    with pytest.raises(MountError, match="not a directory"):
        mountpoint.prepare_mountpoint(str(created / "f"))


def test_unmount_refuses_non_vsite_targets(isolated):
    plain = isolated / "plain"
    plain.mkdir()
    with pytest.raises(MountError, match="not a vsite mount"):
        mountpoint.unmount(str(plain))
    with pytest.raises(MountError, match="not a vsite mount"):
        mountpoint.unmount("/proc")
    registry.write_record(registry.MountRecord(mountpoint=str(plain), lock="l", plan_key="k", packages=1, pid=0))
    with pytest.raises(MountError, match="stale record"):
        mountpoint.unmount(str(plain))
    assert registry.records() == []


def test_records_written_before_the_rename_are_read(isolated):
    """Records name the mount point ``mountpoint``; those of older daemons said ``target``."""
    path = str(isolated / "old")
    old = {"target": path, "lock": "l", "plan_key": "k", "packages": 1, "pid": 0}
    registry.record_path(path).parent.mkdir(parents=True)
    registry.record_path(path).write_text(json.dumps(old))
    assert registry.read_record(path).mountpoint == path
    assert [r.mountpoint for r in registry.records()] == [path]


def test_survey_lists_no_record_whose_mount_is_gone(isolated):
    """A record of a live daemon without its mount (the daemon is exiting) is not a mount; a dead one's goes."""
    me = registry.MountRecord(mountpoint=str(isolated / "a"), lock="l", plan_key="k", packages=0, pid=os.getpid())
    me.pid_start = registry.process_start(me.pid)
    gone = registry.MountRecord(mountpoint=str(isolated / "b"), lock="l", plan_key="k", packages=0, pid=0)
    registry.write_record(me)
    registry.write_record(gone)
    assert mountpoint.survey() == []
    assert [r.mountpoint for r in registry.records()] == [me.mountpoint]  # the live one's is its own to remove


def test_check_fuse_without_fusermount(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(MountError, match="fusermount3 not found"):
        mountpoint.check_fuse()


def test_unmount_of_a_busy_mount_fails_and_keeps_it(isolated):
    target = isolated / "mnt"
    with mounted(_view(), target) as pid:
        holder = subprocess.Popen(["sleep", "60"], cwd=target / "pkg")
        try:
            with pytest.raises(MountError, match="cannot unmount .*busy"):
                mountpoint.unmount(str(target))
            assert registry.daemon_alive(registry.read_record(str(target)))
            assert (target / "a.py").read_bytes() == b"A = 1\n"
        finally:
            holder.kill()
            holder.wait()
        mountpoint.unmount(str(target))
        assert wait_gone(pid) and not in_proc_mounts(str(target))


def test_prepare_mountpoint_refuses_other_mounts(isolated):
    if os.geteuid() != 0 and os.environ.get("CI") != "true":
        pytest.skip("mounting a tmpfs needs root")
    target = isolated / "tmpfs"
    target.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "none", str(target)], check=True)
    try:
        with pytest.raises(MountError, match=r"already a mount point \(tmpfs\)"):
            mountpoint.prepare_mountpoint(str(target))
        with pytest.raises(MountError, match="not a vsite mount"):
            mountpoint.unmount(str(target))
    finally:
        subprocess.run(["umount", str(target)], check=True)


def test_daemon_keeps_no_inherited_fds(isolated):
    read_end, write_end = os.pipe()  # as if a caller waited for EOF on a pipe it handed down
    os.set_inheritable(write_end, True)
    try:
        with mounted(_view(), isolated / "mnt") as pid:
            os.close(write_end)
            write_end = -1
            readable, _, _ = select.select([read_end], [], [], 10)
            assert readable, "the daemon keeps the caller's pipe open"
            assert os.read(read_end, 1) == b""  # EOF
            targets = {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
            assert "/dev/fuse" in targets
    finally:
        os.close(read_end)
        if write_end >= 0:
            os.close(write_end)


def test_claim_serializes_mounts_of_one_target(isolated):
    target = str(isolated / "mnt")
    order: list[str] = []
    first = mountpoint.Claim(target)

    def second() -> None:
        with mountpoint.Claim(target):
            order.append("second")

    waiter = threading.Thread(target=second)
    waiter.start()
    waiter.join(0.3)
    assert waiter.is_alive() and order == []  # blocked while the first holds it
    order.append("first")
    first.release()
    waiter.join(10)
    assert order == ["first", "second"]
    with mountpoint.Claim(str(isolated / "other")):  # other targets are independent
        pass
