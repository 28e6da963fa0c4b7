"""What a fetch shows while it runs: wheels done and bytes downloaded, on one terminal line.

Like uv's, progress is in wheels and bytes, not only a package count: a lock's
first fetch is dominated by a few large downloads (torch, pyarrow), which a
package count hides. :class:`FetchMeter` is fed from the fetch's threads
(``item_done`` per plan item, ``downloaded`` per chunk received), redraws at
most every ``interval`` seconds, and ends with one summary line. ``vsite
fetch`` and a mount that must fetch (vsite.fs.prepare) use the same meter.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from vsite.plan.model import Plan, PlanItem
    from vsite.store.fetch import FetchReport
    from vsite.store.store import Store


def megabytes(n: int) -> str:
    """A byte count as a person reads it: ``436.0 MB``, or ``12 kB`` below a megabyte."""
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.0f} kB"


class FetchMeter:
    """One line on ``stream`` (a terminal): ``vsite: fetching 12/40 wheels, 120.3 MB of 436.0 MB downloaded``.

    ``to_fetch``: the lock's sizes of the wheels the store does not hold yet, an
    upper bound of what will be downloaded (uv's cache or a local file may
    provide some of them).
    """

    def __init__(self, plan: Plan, store: Store, stream: TextIO, *, interval: float = 0.1,
                 live: bool | None = None) -> None:
        self.stream = stream
        self.live = stream.isatty() if live is None else live  # draw the line (a terminal), or only count
        self.interval = interval
        self.total = len(plan.items)
        self.to_fetch = sum(
            item.wheel.size or 0 for item in plan.items if item.wheel is not None and store.entry_dir(item) is None
        )
        self.done = 0
        self.received = 0
        self.started = time.monotonic()
        self._drawn = 0.0
        self._width = 0
        self._lock = threading.Lock()

    def item_done(self, item: PlanItem, action: str) -> None:
        with self._lock:
            self.done += 1
            self._draw(force=self.done == self.total)

    def downloaded(self, nbytes: int) -> None:
        with self._lock:
            self.received += nbytes
            self._draw()

    def line(self) -> str:
        text = f"vsite: fetching {self.done}/{self.total} wheels"
        if self.to_fetch:
            text += f", {megabytes(self.received)} of {megabytes(self.to_fetch)} downloaded"
        return text

    def _draw(self, force: bool = False) -> None:
        if not self.live:
            return
        now = time.monotonic()
        if not force and now - self._drawn < self.interval:
            return
        self._drawn = now
        text = self.line()
        self.stream.write("\r" + text.ljust(self._width))
        self.stream.flush()
        self._width = len(text)

    def finish(self, report: FetchReport | None) -> str:
        """End the progress line; return the summary (empty if nothing came into the store)."""
        if self._width:
            self.stream.write("\n")
            self.stream.flush()
        if report is None:
            return ""
        return summary(report, self.total, self.received, time.monotonic() - self.started)


def summary(report: FetchReport, total: int, received: int, seconds: float) -> str:
    """``vsite: fetched 38 of 40 packages in 12.3 s: 30 downloaded (120.3 MB), 8 from uv's cache``, or ""."""
    parts = [
        (len(report.downloaded), f"downloaded ({megabytes(received)})"),
        (len(report.from_uv_cache), "from uv's cache"),
        (len(report.from_shared), "copied from a shared store"),
        (len(report.local), "local files"),
        (len(report.built), "built"),
    ]
    fetched = sum(n for n, _ in parts)
    if not fetched:
        return ""
    said = ", ".join(f"{n} {what}" for n, what in parts if n)
    return f"vsite: fetched {fetched} of {total} packages in {seconds:.1f} s: {said}"
