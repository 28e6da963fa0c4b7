"""Handlers never wait on the store on the event loop: a lookup, listing or read the view must
take from the store runs in a worker thread, so one slow store call holds up no other request.
(Through a real mount with a slow store: tests/test_fs_slow_store.py.)"""

from __future__ import annotations

import threading

import pytest
import trio

from tests.memview import MemoryView, Real
from vsite.fs.operations import ViewOperations
from vsite.view.nodes import DirNode


class _Gated(MemoryView):
    """Lookups and listings of names starting with ``slow`` wait until ``gate`` is set (a store
    call on a slow filesystem); ``threads`` records which thread served each call."""

    def __init__(self, tree: dict) -> None:
        super().__init__(tree)
        self.gate = threading.Event()
        self.threads: set[int] = set()

    def lookup(self, parent: DirNode, name: str):
        self.threads.add(threading.get_ident())
        if name.startswith("slow"):
            assert self.gate.wait(10)
        return super().lookup(parent, name)


@pytest.mark.trio
async def test_a_slow_lookup_or_read_holds_up_no_other_request(tmp_path):
    real = tmp_path / "real"
    real.write_bytes(b"0123456789")
    view = _Gated({"slow": b"s", "fast": b"x", "file": Real(str(real)), "dir": {"inner": b"y"}})
    ops = ViewOperations(view, no_open=True)
    done: list[str] = []
    loop_thread = threading.get_ident()

    async def slow_lookup() -> None:
        await ops.lookup(1, b"slow", None)
        done.append("lookup")

    gate = threading.Event()

    def slow_pread(*args):
        assert gate.wait(10)
        return b"late"

    real_node = await ops.lookup(1, b"file", None)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(slow_lookup)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(ops._store, "pread", slow_pread)

            async def slow_read() -> None:
                assert await ops.read(real_node.st_ino, 0, 4) == b"late"
                done.append("read")

            nursery.start_soon(slow_read)
            await trio.sleep(0.1)
            with trio.fail_after(2):  # meanwhile everything else is answered
                fast = await ops.lookup(1, b"fast", None)
                assert await ops.read(fast.st_ino, 0, 10) == b"x"
                inner_dir = await ops.lookup(1, b"dir", None)
                assert (await ops.lookup(inner_dir.st_ino, b"inner", None)).st_size == 1
                assert (await ops.getattr(1, None)).st_ino == 1
            assert done == []
            view.gate.set()
            gate.set()
    assert sorted(done) == ["lookup", "read"]
    assert loop_thread not in view.threads  # the view was only ever called off the event loop
    ops.close_all()
