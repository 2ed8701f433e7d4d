"""Planners: CEM, MPPI, gradient-based and hybrid, all with the same `plan` contract."""

from agent.planners.base import PlanResult, evaluate, shift
from agent.planners.cem import CEM, CEMConfig
from agent.planners.gradient import GradientConfig, GradientPlanner
from agent.planners.hybrid import HybridPlanner
from agent.planners.mppi import MPPI, MPPIConfig

__all__ = [
    "CEM",
    "MPPI",
    "CEMConfig",
    "GradientConfig",
    "GradientPlanner",
    "HybridPlanner",
    "MPPIConfig",
    "PlanResult",
    "evaluate",
    "shift",
]
