"""The planner group (configs/planner/<name>.yaml): one dataclass per planner kind, stored in hydra's ConfigStore as
``planner/<name>_schema``, which each preset names first in its defaults; ``planner=mppi planner.temperature=0.1``
is then checked against `MPPIConfig`, and a key another kind takes is refused."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from configs.schema import doc
from vjepa.runtime import config_checks as checks
from vjepa.runtime.errors import ConfigError


@dataclass
class PlannerConfig:
    """What every planner takes."""

    name: str = doc(text="the planner kind: cem | mppi | gradient | random")
    horizon: int = doc(5, "planner actions (world-model steps) per plan")
    max_norm: Optional[float] = doc(None, "scale each step's action vector down to this L2 norm (V-JEPA 2-AC); "
                                          "null: the action box only")


@dataclass
class SearchConfig(PlannerConfig):
    """What every planner that scores candidates takes."""

    warm_start: bool = doc(True, "start from the previous plan, shifted by the actions executed")
    candidate_chunk: Optional[int] = doc(None, "candidates per rollout call, episodes planned together counted "
                                               "together (bounds memory); null: one episode's candidates at once")


@dataclass
class SamplingConfig(SearchConfig):
    """What every planner that samples candidates around a mean takes."""

    num_samples: int = doc(100, "candidate action sequences per iteration")
    iterations: int = doc(10, "rounds of sampling and moving the mean per plan")


@dataclass
class CEMConfig(SamplingConfig):
    """Cross-entropy method (DINO-WM, V-JEPA 2-AC): sample, keep the lowest-energy elites, refit, repeat."""

    name: str = "cem"
    num_elites: int = doc(10, "lowest-energy candidates the Gaussian is refitted to")
    init_std: float = doc(1.0, "standard deviation of the first round's Gaussian")
    min_std: float = doc(0.05, "floor of the refitted standard deviation")
    momentum: float = doc(0.0, "weight of the previous mean and std in each refit")
    keep_elites: bool = doc(False, "rank each round's elites again beside the next round's samples (iCEM)")
    execute: str = doc("mean", "mean: the refitted mean (DINO-WM, V-JEPA 2-AC) | best: the lowest-energy sequence "
                               "found (iCEM)")


@dataclass
class MPPIConfig(SamplingConfig):
    """Model-predictive path integral: move the mean to the softmax(-energy / temperature)-weighted samples."""

    name: str = "mppi"
    temperature: float = doc(0.01, "softmax temperature on the energies (lower: greedier)")
    noise_std: float = doc(0.5, "standard deviation of the samples around the mean")


@dataclass
class GradientConfig(SearchConfig):
    """Adam on the actions through the differentiable rollout, from the warm start plus random restarts."""

    name: str = "gradient"
    iterations: int = doc(30, "Adam steps per plan")
    lr: float = doc(0.1, "Adam's learning rate on the actions")
    num_restarts: int = doc(8, "action sequences optimised at once: the warm start and uniform random ones")


@dataclass
class RandomConfig(PlannerConfig):
    """Baseline: one uniform random action sequence per plan (the world model is not consulted)."""

    name: str = "random"


PLANNER_CONFIGS: dict[str, type[PlannerConfig]] = {
    "cem": CEMConfig, "mppi": MPPIConfig, "gradient": GradientConfig, "random": RandomConfig}
for _name, _node in PLANNER_CONFIGS.items():
    ConfigStore.instance().store(group="planner", name=f"{_name}_schema", node=_node)

POSITIVE = ("horizon", "num_samples", "iterations", "num_restarts", "candidate_chunk")  # integers >= 1 (or null)
POSITIVE_NUMBERS = ("max_norm", "init_std", "temperature", "lr")  # numbers > 0 (or null)


def check_planner(cfg: DictConfig, where: str = "planner") -> None:
    """The planner kind at ``where`` in ``cfg`` (chosen by its preset), its keys' ranges, and CEM's
    2 <= num_elites <= num_samples and execute."""
    planner = OmegaConf.select(cfg, where)
    if OmegaConf.get_type(planner) is not PLANNER_CONFIGS.get(planner.name):  # planner.name=... alone
        raise ConfigError(f"{planner.name!r} is not the planner the preset configures", f"{where}.name",
                          f"choose the planner with planner=<{' | '.join(PLANNER_CONFIGS)}>")
    for key in POSITIVE:
        if key in planner:
            checks.integer(cfg, f"{where}.{key}", low=1, optional=key == "candidate_chunk")
    for key in POSITIVE_NUMBERS:
        if key in planner:
            checks.number(cfg, f"{where}.{key}", low=0, above=True, optional=key == "max_norm")
    for key in ("min_std", "noise_std"):
        if key in planner:
            checks.number(cfg, f"{where}.{key}", low=0)
    if "momentum" in planner:
        checks.number(cfg, f"{where}.momentum", low=0, high=1)
    if "num_elites" in planner:
        checks.integer(cfg, f"{where}.num_elites", low=2, high=planner.num_samples)
    if "execute" in planner:
        checks.choice(cfg, f"{where}.execute", ("mean", "best"))
