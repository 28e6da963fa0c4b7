"""View: the lazily merged, read-only tree an environment presents. Pure Python, no FUSE.

:func:`build_view` turns a plan and the store into a :class:`MergedView`
(a :class:`~vsite.view.nodes.View` for vsite.fs); see docs/view.md.
"""

from vsite.view.conflicts import Conflict
from vsite.view.merged import MergedView, build_view
from vsite.view.package import EntrySource
from vsite.view.tree import StoreLinks

__all__ = ["Conflict", "EntrySource", "MergedView", "StoreLinks", "build_view"]
