"""Plan: the install set and wheel choice of one lock for one target interpreter."""

from vsite.plan.model import Artifact, Plan, PlanItem

__all__ = ["Artifact", "Plan", "PlanItem"]
