"""StoreFiles: store fds by inode, a bounded LRU (zero-message open never says when a file is done)."""

from __future__ import annotations

import errno
import os
import resource

import pytest

from vsite.fs.storefiles import MAX_OPEN, StoreFiles, default_limit


def _files(tmp_path, n: int) -> list[str]:
    paths = []
    for i in range(n):
        path = tmp_path / f"f{i}"
        path.write_bytes(f"file {i}\n".encode())
        paths.append(str(path))
    return paths


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_bounded_lru_reopens_what_it_closed(tmp_path):
    paths = _files(tmp_path, 10)
    store = StoreFiles(limit=3)
    before = _open_fds()
    for rounds in range(2):  # the second round reopens every file
        for ino, path in enumerate(paths):
            assert store.pread(ino, path, os.path.getsize(path), 100, 0) == f"file {ino}\n".encode()
            assert store.open_count() <= 3
    assert _open_fds() - before == 3
    # the most recently read stays open: reading it again opens nothing
    store.pread(9, paths[9], os.path.getsize(paths[9]), 2, 5)
    assert store.open_count() == 3 and _open_fds() - before == 3
    store.close_all()
    assert store.open_count() == 0 and _open_fds() == before


def test_changed_store_file_is_eio(tmp_path):
    (path,) = _files(tmp_path, 1)
    store = StoreFiles()
    with pytest.raises(OSError) as info:
        store.pread(1, path, os.path.getsize(path) + 1, 10, 0)  # not the size the view showed
    assert info.value.errno == errno.EIO
    os.symlink(path, tmp_path / "link")
    with pytest.raises(OSError) as info:
        store.pread(2, str(tmp_path / "link"), os.path.getsize(path), 10, 0)
    assert info.value.errno == errno.ELOOP
    assert store.open_count() == 0


def test_limit_stays_below_the_soft_fd_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (100, hard))
        assert default_limit() == 50  # half of a low limit: the rest is the daemon's own
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert default_limit() == min(MAX_OPEN, soft // 2)


def test_reads_from_many_threads_never_meet_another_files_fd(tmp_path):
    """The daemon preads in worker threads: an fd evicted while another thread reads it is
    closed by that reader, never under it (its number could be reused for another file)."""
    import threading

    paths = _files(tmp_path, 12)
    store = StoreFiles(limit=2)  # constant eviction
    errors: list[str] = []

    def reader(seed: int) -> None:
        for n in range(400):
            ino = (seed * 7 + n * 5) % len(paths)
            got = store.pread(ino, paths[ino], os.path.getsize(paths[ino]), 100, 0)
            if got != f"file {ino}\n".encode():
                errors.append(f"inode {ino} read {got!r}")
                return

    before = _open_fds()
    threads = [threading.Thread(target=reader, args=(seed,)) for seed in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.open_count() <= 2 and _open_fds() - before == store.open_count()
    store.close_all()
    assert _open_fds() == before
