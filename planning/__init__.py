"""Latent planning with world models: the world-model interface, energies, planners, MPC loop, evaluation harness,
the planning commands (plan, demo, state probe, landscape)."""
from planning.energies import EnergyFn, goal_energy
from planning.evaluate import evaluate
from planning.interface import Rollout, WorldModel
from planning.mpc import EpisodeResult, run_episode, run_episodes
from planning.planners import (
    PLANNERS,
    CEMPlanner,
    GradientPlanner,
    MPPIPlanner,
    Planner,
    RandomPlanner,
    make_planner,
)
from planning.toy import LinearToyWorldModel

__all__ = [
    "PLANNERS",
    "CEMPlanner",
    "EnergyFn",
    "EpisodeResult",
    "GradientPlanner",
    "LinearToyWorldModel",
    "MPPIPlanner",
    "Planner",
    "RandomPlanner",
    "Rollout",
    "WorldModel",
    "evaluate",
    "goal_energy",
    "make_planner",
    "run_episode",
    "run_episodes",
]
