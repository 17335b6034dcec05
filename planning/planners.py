"""Planners: search for an action sequence (H, A) whose predicted features reach the goal's features.

Every planner shares one interface, `plan(context_features (Tc, N, D), goal_features (N, D), context_states (Tc, S),
context_actions (Tc-1, A)) -> (H, A)`, and the plumbing in `Planner`: action bounds, chunked candidate evaluation,
warm start, seeded sampling.
"""
import dataclasses
from functools import partial
from typing import Any, Callable, Sequence

import torch
from omegaconf import DictConfig, OmegaConf
from torch import Tensor

from configs.schema.planner import CEMConfig, GradientConfig, MPPIConfig, PlannerConfig, SearchConfig
from planning.energies import EnergyFn, goal_energy
from planning.interface import WorldModel

Bound = float | Sequence[float] | Tensor
ScoreFn = Callable[[Tensor], Tensor]  # candidates (K, H, A) -> energies (K,)


def to_device(x: Tensor, device: torch.device) -> Tensor:
    """A host tensor on ``device``: to a GPU through pinned memory, without waiting (a copy from pageable memory
    first waits for all the GPU's queued work, which every search iteration would)."""
    if device.type != "cuda":
        return x.to(device)
    return x.pin_memory().to(device, non_blocking=True)


class Planner:
    """Base planner. Subclasses implement `_optimize(score, mean)` -> actions (H, A) within the bounds.

    ``energy`` scores predicted features against the goal's; ``horizon`` actions are planned; actions are kept in
    the box [action_low, action_high] (a bound per action dimension, or one for all) and, with ``max_norm``, each
    step's action vector is scaled down to that L2 norm first (V-JEPA 2-AC). ``candidate_chunk`` bounds how many
    candidates go through one rollout call (None: all). With ``warm_start``, the previous plan, shifted by
    `advance(steps)`, seeds the next search. ``seed`` seeds the sampler. The settings' defaults are the schema's
    (`configs.schema.planner`); `make_planner` builds a planner from a config.
    """

    def __init__(
        self,
        world_model: WorldModel,
        *,
        energy: EnergyFn = goal_energy,
        horizon: int = PlannerConfig.horizon,
        action_low: Bound = -1.0,
        action_high: Bound = 1.0,
        max_norm: float | None = PlannerConfig.max_norm,
        candidate_chunk: int | None = SearchConfig.candidate_chunk,
        warm_start: bool = SearchConfig.warm_start,
        seed: int = 0,
    ):
        self.world_model, self.energy, self.horizon = world_model, energy, horizon
        self.action_dim = world_model.action_dim
        self.low = torch.as_tensor(action_low, dtype=torch.float32).expand(self.action_dim)
        self.high = torch.as_tensor(action_high, dtype=torch.float32).expand(self.action_dim)
        if (self.low > self.high).any():
            raise ValueError(f"action_low {self.low.tolist()} exceeds action_high {self.high.tolist()}")
        self.max_norm, self.candidate_chunk, self.warm_start, self.seed = max_norm, candidate_chunk, warm_start, seed
        self.centre = self.project((self.low + self.high) / 2).expand(horizon, self.action_dim)  # (H, A)
        self.generator = torch.Generator()
        self.reset()

    def reset(self, seed: int | None = None) -> None:
        """Forget the previous plan and reseed the sampler (with `seed`, else the constructor's seed)."""
        self.generator.manual_seed(self.seed if seed is None else seed)
        self.last_plan: Tensor | None = None
        self.last_energy = float("nan")

    def project(self, actions: Tensor) -> Tensor:
        """Actions (..., A) -> scaled to `max_norm` per step, then clipped to the box."""
        if self.max_norm is not None:
            norm = actions.norm(dim=-1, keepdim=True)
            actions = actions * (self.max_norm / norm).clamp(max=1.0)
        return actions.clamp(self.low, self.high)

    def advance(self, steps: int) -> None:
        """Tell the planner that the first `steps` actions of its last plan were executed (shifts the warm start)."""
        if self.last_plan is not None:
            pad = self.centre[: min(steps, self.horizon)]
            self.last_plan = torch.cat([self.last_plan[steps:], pad])

    def initial_mean(self) -> Tensor:
        """Where the next search starts (H, A): the shifted previous plan (warm start) or the box centre."""
        return self.last_plan if self.warm_start and self.last_plan is not None else self.centre

    def sample_normal(self, num: int, like: Tensor) -> Tensor:
        """Standard normal noise (num, H, A) on `like`'s device, from the planner's generator (on the CPU: a seed
        gives the same plans on any device)."""
        return to_device(torch.randn((num, self.horizon, self.action_dim), generator=self.generator), like.device)

    def sample_uniform(self, num: int, like: Tensor) -> Tensor:
        """Uniform actions in the box (num, H, A), projected, on `like`'s device."""
        u = to_device(torch.rand((num, self.horizon, self.action_dim), generator=self.generator), like.device)
        return self.project(self.low + (self.high - self.low) * u)

    def chunks(self, candidates: Tensor) -> tuple[Tensor, ...]:
        return candidates.split(self.candidate_chunk or len(candidates))

    def candidate_energies(
        self, features: Tensor, states: Tensor, context_actions: Tensor, goal: Tensor, steps_left: int | None,
        candidates: Tensor,
    ) -> Tensor:
        """Candidates (K, H, A) -> energies (K,), one rollout call per chunk of candidates; only the first
        ``steps_left`` actions are rolled out and scored (the rest would never be executed)."""
        rollout = partial(self.world_model.rollout, features, states, context_actions)
        candidates = candidates[:, :steps_left]
        return torch.cat([self.energy(rollout(chunk), goal) for chunk in self.chunks(candidates)])

    def plan(
        self, context_features: Tensor, goal_features: Tensor, context_states: Tensor,
        context_actions: Tensor | None = None, steps_left: int | None = None,
    ) -> Tensor:
        """Context features (Tc, N, D), goal features (N, D), context states (Tc, S) and the actions taken between
        the context frames (Tc-1, A; None for a one-frame context) -> actions (H, A).

        ``steps_left``: actions the episode has left; with fewer than ``horizon``, the plan is scored at the
        episode's end (a "last step" energy then asks to be at the goal by the deadline, not later)."""
        if steps_left is not None and steps_left < 1:
            raise ValueError(f"steps_left must be >= 1, got {steps_left}")
        device = context_features.device  # the bounds move there once, not in every projection
        self.low, self.high, self.centre = self.low.to(device), self.high.to(device), self.centre.to(device)
        if context_actions is None:
            context_actions = context_features.new_zeros(0, self.action_dim)
        score = partial(self.candidate_energies, context_features, context_states, context_actions, goal_features,
                        steps_left)
        actions = self._optimize(score, self.initial_mean().to(device))
        with torch.inference_mode():
            self.last_energy = score(actions[None]).item()
        self.last_plan = actions
        return actions

    def _optimize(self, score: ScoreFn, mean: Tensor) -> Tensor:
        raise NotImplementedError


class CEMPlanner(Planner):
    """Cross-entropy method: sample around a Gaussian, refit it to the lowest-energy elites (DINO-WM, V-JEPA 2-AC).

    Each of ``iterations`` rounds samples ``num_samples`` sequences around the mean (standard deviation ``init_std``
    at first, at least ``min_std``), keeps the ``num_elites`` lowest-energy ones and refits the mean and standard
    deviation to them, keeping ``momentum`` of the previous ones.
    """

    def __init__(
        self,
        world_model: WorldModel,
        *,
        num_samples: int = CEMConfig.num_samples,
        num_elites: int = CEMConfig.num_elites,
        iterations: int = CEMConfig.iterations,
        init_std: float = CEMConfig.init_std,
        min_std: float = CEMConfig.min_std,
        momentum: float = CEMConfig.momentum,
        **kwargs: Any,
    ):
        super().__init__(world_model, **kwargs)
        if not 2 <= num_elites <= num_samples:
            raise ValueError(f"need 2 <= num_elites ({num_elites}) <= num_samples ({num_samples})")
        self.num_samples, self.num_elites, self.iterations = num_samples, num_elites, iterations
        self.init_std, self.min_std, self.momentum = init_std, min_std, momentum

    @torch.inference_mode()
    def _optimize(self, score: ScoreFn, mean: Tensor) -> Tensor:
        std = torch.full_like(mean, self.init_std)
        for _ in range(self.iterations):
            candidates = self.project(mean + std * self.sample_normal(self.num_samples, mean))  # (K, H, A)
            elites = candidates[score(candidates).topk(self.num_elites, largest=False).indices]
            mean = self.momentum * mean + (1 - self.momentum) * elites.mean(0)
            std = (self.momentum * std + (1 - self.momentum) * elites.std(0)).clamp_min(self.min_std)
        return self.project(mean)


class MPPIPlanner(Planner):
    """Model-predictive path integral: move the mean to the softmax(-energy / temperature)-weighted candidates.

    Each of ``iterations`` rounds samples ``num_samples`` sequences around the mean (standard deviation
    ``noise_std``) and moves the mean to their average weighted by softmax(-energy / ``temperature``).
    """

    def __init__(
        self,
        world_model: WorldModel,
        *,
        num_samples: int = MPPIConfig.num_samples,
        iterations: int = MPPIConfig.iterations,
        temperature: float = MPPIConfig.temperature,
        noise_std: float = MPPIConfig.noise_std,
        **kwargs: Any,
    ):
        super().__init__(world_model, **kwargs)
        self.num_samples, self.iterations = num_samples, iterations
        self.temperature, self.noise_std = temperature, noise_std

    @torch.inference_mode()
    def _optimize(self, score: ScoreFn, mean: Tensor) -> Tensor:
        for _ in range(self.iterations):
            candidates = self.project(mean + self.noise_std * self.sample_normal(self.num_samples, mean))
            weights = torch.softmax(-score(candidates) / self.temperature, dim=0)
            mean = self.project(torch.einsum("k,kha->ha", weights, candidates))
        return mean


class GradientPlanner(Planner):
    """Adam on the action sequences through the differentiable rollout, projected to the bounds after each step.

    ``num_restarts`` sequences take ``iterations`` Adam steps of learning rate ``lr``: restart 0 starts from
    `initial_mean()`, the others uniformly in the box; the lowest-energy one is returned.
    """

    def __init__(self, world_model: WorldModel, *, iterations: int = GradientConfig.iterations,
                 lr: float = GradientConfig.lr, num_restarts: int = GradientConfig.num_restarts, **kwargs: Any):
        super().__init__(world_model, **kwargs)
        self.iterations, self.lr, self.num_restarts = iterations, lr, num_restarts

    def plan(
        self, context_features: Tensor, goal_features: Tensor, context_states: Tensor,
        context_actions: Tensor | None = None, steps_left: int | None = None,
    ) -> Tensor:
        # clones turn inference-mode tensors (from encode) into ones autograd may save for backward
        return super().plan(context_features.clone(), goal_features.clone(), context_states.clone(),
                            None if context_actions is None else context_actions.clone(), steps_left)

    @torch.enable_grad()
    def _optimize(self, score: ScoreFn, mean: Tensor) -> Tensor:
        starts = torch.cat([mean[None], self.sample_uniform(self.num_restarts - 1, mean)])  # (R, H, A)
        leaves = [c.clone().requires_grad_() for c in self.chunks(starts)]  # one graph per chunk bounds memory
        optimizer = torch.optim.Adam(leaves, lr=self.lr)
        for _ in range(self.iterations):
            for leaf in leaves:
                (leaf.grad,) = torch.autograd.grad(score(leaf).sum(), leaf)
            optimizer.step()
            with torch.no_grad():
                for leaf in leaves:
                    leaf.copy_(self.project(leaf))
        with torch.inference_mode():
            actions = torch.cat(leaves).detach()
            return actions[score(actions).argmin()]


class RandomPlanner(Planner):
    """Baseline: one uniform random action sequence within the bounds (nothing is searched: no warm start, no
    candidates to chunk)."""

    def __init__(self, world_model: WorldModel, **kwargs: Any):
        super().__init__(world_model, warm_start=False, candidate_chunk=None, **kwargs)

    def _optimize(self, score: ScoreFn, mean: Tensor) -> Tensor:
        return self.sample_uniform(1, mean)[0]


PLANNERS: dict[str, type[Planner]] = {
    "cem": CEMPlanner,
    "mppi": MPPIPlanner,
    "gradient": GradientPlanner,
    "random": RandomPlanner,
}


def make_planner(
    settings: PlannerConfig | DictConfig,
    world_model: WorldModel,
    energy: EnergyFn,
    action_low: Bound,
    action_high: Bound,
    seed: int,
) -> Planner:
    """The planner ``settings`` describe (a `configs.schema.planner` dataclass such as ``CEMConfig(horizon=5)``, or
    the ``planner`` group of a composed config), scoring with ``energy`` in the box [action_low, action_high]."""
    if isinstance(settings, DictConfig):
        settings = OmegaConf.to_object(settings)
    kwargs = dataclasses.asdict(settings)
    name = kwargs.pop("name")
    if name not in PLANNERS:
        raise ValueError(f"unknown planner {name!r}; choose from {sorted(PLANNERS)}")
    return PLANNERS[name](world_model, energy=energy, action_low=action_low, action_high=action_high, seed=seed,
                          **kwargs)
