"""Plan: the install set and wheel choice of one lock for one target interpreter.

``make_plan`` and ``cached_plan`` load lazily (PEP 562) so importing this
package for the data model or options does not pull in TOML or marker code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vsite.plan.model import Artifact, Plan, PlanItem
from vsite.plan.options import PlanOptions

if TYPE_CHECKING:
    from vsite.plan.cache import cached_plan
    from vsite.plan.make import make_plan

__all__ = ["Artifact", "Plan", "PlanItem", "PlanOptions", "cached_plan", "make_plan"]


def __getattr__(name: str) -> Any:
    if name == "make_plan":
        from vsite.plan.make import make_plan

        return make_plan
    if name == "cached_plan":
        from vsite.plan.cache import cached_plan

        return cached_plan
    raise AttributeError(f"module 'vsite.plan' has no attribute {name!r}")
