"""Planners: search for action sequences (H, A) whose predicted features reach the goals' features, for one episode
or for B episodes at once.

Every planner shares one interface, `plan_batch(context_features (B, Tc, N, D), goal_features (B, N, D),
context_states (B, Tc, S), context_actions (B, Tc-1, A)) -> (B, H, A)` (`plan` is its one-episode form), and the
plumbing in `Planner`: action bounds, chunked candidate evaluation, warm start, seeded sampling. The B episodes'
candidates go through the world model together (`WorldModel.rollout` with one context per episode); each episode
keeps its own sampler, so that an episode's plans do not depend on which other episodes are planned beside it.
"""
import dataclasses
from functools import partial
from typing import Any, Callable, Sequence

import torch
from omegaconf import DictConfig, OmegaConf
from torch import Tensor
from torch.func import vmap

from configs.schema.planner import CEMConfig, GradientConfig, MPPIConfig, PlannerConfig, SearchConfig
from planning.energies import EnergyFn, goal_energy
from planning.interface import Rollout, WorldModel

Bound = float | Sequence[float] | Tensor
ScoreFn = Callable[..., Tensor]  # candidates (B, K, H, A) [, episode rows] -> energies (B, K)
Block = tuple[slice, slice]  # (episodes, candidates) of one rollout call


def to_device(x: Tensor, device: torch.device) -> Tensor:
    """A host tensor on ``device``: to a GPU through pinned memory, without waiting (a copy from pageable memory
    first waits for all the GPU's queued work, which every search iteration would)."""
    if device.type != "cuda":
        return x.to(device)
    return x.pin_memory().to(device, non_blocking=True)


def blocks(episodes: int, candidates: int, chunk: int | None) -> list[Block]:
    """(episode, candidate) slices covering episodes x candidates with at most ``chunk`` candidates in each: an
    episode's candidates are split when they exceed it, whole episodes grouped up to it (None: one episode's
    candidates per block, so that memory does not grow with the number of episodes)."""
    per = min(candidates, chunk or candidates)  # candidates of one episode per block
    group = max(1, chunk // per) if chunk else 1  # episodes per block
    return [(slice(e, e + group), slice(k, k + per)) for e in range(0, episodes, group)
            for k in range(0, candidates, per)]


class Planner:
    """Base planner. Subclasses implement `_optimize(score, mean (B, H, A))` -> actions (B, H, A) within the bounds.

    ``energy`` scores one episode's predicted features against its goal's (episodes are mapped over with vmap);
    ``horizon`` actions are planned; actions are kept in the box [action_low, action_high] (a bound per action
    dimension, or one for all) and, with ``max_norm``, each step's action vector is scaled down to that L2 norm
    first (V-JEPA 2-AC). ``candidate_chunk`` bounds how many candidates, all episodes together, go through one
    rollout call (None: one episode's candidates: memory as for one episode, whatever the number of episodes).
    With ``warm_start``, each episode's previous plan, shifted by `advance(steps)`, seeds its next search.
    ``seed`` seeds the sampler of a one-episode planner; `reset` seeds one sampler per episode. The settings'
    defaults are the schema's (`configs.schema.planner`); `make_planner` builds a planner from a config.
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
        self.reset()

    def reset(self, seed: int | Sequence[int] | None = None) -> None:
        """Forget the previous plans and reseed: one episode seeded ``seed`` (None: the constructor's seed), or one
        episode per seed of a sequence."""
        seeds = [self.seed if seed is None else seed] if seed is None or isinstance(seed, int) else list(seed)
        self.generators = [torch.Generator().manual_seed(s) for s in seeds]
        self.last_plan: Tensor | None = None  # (episodes, H, A)
        self.last_energies = torch.full((len(seeds),), float("nan"))
        self.active = list(range(len(seeds)))  # the episodes being planned

    @property
    def last_energy(self) -> float:
        """The energy of the first episode's last plan."""
        return float(self.last_energies[0])

    def project(self, actions: Tensor) -> Tensor:
        """Actions (..., A) -> scaled to `max_norm` per step, then clipped to the box."""
        if self.max_norm is not None:
            norm = actions.norm(dim=-1, keepdim=True)
            actions = actions * (self.max_norm / norm).clamp(max=1.0)
        return actions.clamp(self.low, self.high)

    def advance(self, steps: int) -> None:
        """Tell the planner that the first `steps` actions of its last plans were executed (shifts the warm
        starts)."""
        if self.last_plan is not None:
            pad = self.centre[: min(steps, self.horizon)].expand(len(self.last_plan), -1, -1)
            self.last_plan = torch.cat([self.last_plan[:, steps:], pad], dim=1)

    def initial_mean(self, episodes: Sequence[int] | Tensor | None = None) -> Tensor:
        """Where the next searches of ``episodes`` (None: all) start (B, H, A): the shifted previous plans (warm
        start) or the box centre."""
        rows = torch.arange(len(self.generators)) if episodes is None else torch.as_tensor(episodes)
        if self.warm_start and self.last_plan is not None:
            return self.last_plan[rows]
        return self.centre.expand(len(rows), -1, -1)

    def sample_normal(self, num: int, like: Tensor) -> Tensor:
        """Standard normal noise (B, num, H, A) for the B active episodes on `like`'s device, each from its own
        generator (on the CPU: a seed gives the same plans on any device, and with any other episodes beside)."""
        noise = [torch.randn((num, self.horizon, self.action_dim), generator=self.generators[i]) for i in self.active]
        return to_device(torch.stack(noise), like.device)

    def sample_uniform(self, num: int, like: Tensor) -> Tensor:
        """Uniform actions in the box (B, num, H, A) for the B active episodes, projected, on `like`'s device."""
        u = [torch.rand((num, self.horizon, self.action_dim), generator=self.generators[i]) for i in self.active]
        return self.project(self.low + (self.high - self.low) * to_device(torch.stack(u), like.device))

    def blocks(self, episodes: int, candidates: int) -> list[Block]:
        return blocks(episodes, candidates, self.candidate_chunk)

    def episode_energies(self, rollout: Rollout, goal: Tensor) -> Tensor:
        """Rollouts of B episodes (B, K, H, ...) and their goals (B, N, D) -> energies (B, K), the energy mapped
        over the episodes."""
        if rollout.states is None:
            return vmap(lambda f, g: self.energy(Rollout(f), g))(rollout.features, goal)
        return vmap(lambda f, s, g: self.energy(Rollout(f, s), g))(rollout.features, rollout.states, goal)

    def candidate_energies(
        self, features: Tensor, states: Tensor, context_actions: Tensor, goal: Tensor, steps_left: int | None,
        candidates: Tensor, rows: slice = slice(None),
    ) -> Tensor:
        """Candidates (B, K, H, A) of the episodes ``rows`` of the context -> energies (B, K), one rollout call per
        block of at most ``candidate_chunk`` candidates; only the first ``steps_left`` actions are rolled out and
        scored (the rest would never be executed)."""
        features, states, context_actions, goal = features[rows], states[rows], context_actions[rows], goal[rows]
        candidates = candidates[:, :, :steps_left]
        energies = candidates.new_empty(candidates.shape[:2])
        for e, k in self.blocks(*candidates.shape[:2]):
            rollout = self.world_model.rollout(features[e], states[e], context_actions[e], candidates[e, k])
            energies[e, k] = self.episode_energies(rollout, goal[e])
        return energies

    def plan(
        self, context_features: Tensor, goal_features: Tensor, context_states: Tensor,
        context_actions: Tensor | None = None, steps_left: int | None = None,
    ) -> Tensor:
        """One episode's `plan_batch`: context features (Tc, N, D), goal features (N, D), context states (Tc, S)
        and the actions taken between the context frames (Tc-1, A; None for a one-frame context) -> actions (H, A).
        """
        context_actions = None if context_actions is None else context_actions[None]
        return self.plan_batch(context_features[None], goal_features[None], context_states[None], context_actions,
                               steps_left)[0]

    def plan_batch(
        self, context_features: Tensor, goal_features: Tensor, context_states: Tensor,
        context_actions: Tensor | None = None, steps_left: int | None = None, episodes: Sequence[int] | None = None,
    ) -> Tensor:
        """B episodes' context features (B, Tc, N, D), goal features (B, N, D), context states (B, Tc, S) and the
        actions taken between the context frames (B, Tc-1, A; None for a one-frame context) -> actions (B, H, A).

        ``episodes``: which of the episodes `reset` seeded these B problems are (None: all of them, in order); the
        others keep their plans and samplers. ``steps_left``: actions the episodes have left; with fewer than
        ``horizon``, the plans are scored at the episodes' end (a "last step" energy then asks to be at the goal by
        the deadline, not later)."""
        if steps_left is not None and steps_left < 1:
            raise ValueError(f"steps_left must be >= 1, got {steps_left}")
        self.active = list(range(len(self.generators))) if episodes is None else list(episodes)
        if len(self.active) != len(context_features) or not set(self.active) <= set(range(len(self.generators))):
            raise ValueError(f"{len(context_features)} problems for episodes {self.active} of the "
                             f"{len(self.generators)} seeded by reset")
        device = context_features.device  # the bounds move there once, not in every projection
        self.low, self.high, self.centre = self.low.to(device), self.high.to(device), self.centre.to(device)
        if context_actions is None:
            context_actions = context_features.new_zeros(len(context_features), 0, self.action_dim)
        score = partial(self.candidate_energies, context_features, context_states, context_actions, goal_features,
                        steps_left)
        rows = to_device(torch.tensor(self.active), device)  # indexing with a host list would wait for the GPU
        if self.last_plan is None:
            self.last_plan = self.centre.expand(len(self.generators), -1, -1).clone()  # (episodes, H, A)
        actions = self._optimize(score, self.initial_mean(rows))  # (B, H, A)
        with torch.inference_mode():
            self.last_energies[self.active] = score(actions[:, None])[:, 0].cpu()
        self.last_plan[rows] = actions.detach()
        return actions

    def _optimize(self, score: ScoreFn, mean: Tensor) -> Tensor:
        raise NotImplementedError


def lowest(candidates: Tensor, energies: Tensor, num: int) -> tuple[Tensor, Tensor]:
    """Each episode's ``num`` lowest-energy candidates, lowest first, and their energies: (B, K, H, A), energies
    (B, K) -> (B, num, H, A), (B, num)."""
    top = energies.topk(num, dim=1, largest=False)  # sorted: the lowest first
    return candidates.take_along_dim(top.indices[:, :, None, None], dim=1), top.values


class CEMPlanner(Planner):
    """Cross-entropy method: sample around a Gaussian, refit it to the lowest-energy elites (DINO-WM, V-JEPA 2-AC).

    Each of ``iterations`` rounds samples ``num_samples`` sequences around each episode's mean (standard deviation
    ``init_std`` at first, at least ``min_std``), keeps its ``num_elites`` lowest-energy ones and refits its mean
    and standard deviation to them, keeping ``momentum`` of the previous ones. Two of iCEM's changes (Pinneri et
    al., 2020) are options: ``keep_elites`` ranks each round's elites again beside the next round's samples (a
    rare low-energy sequence is not lost to one unlucky round), and ``execute="best"`` returns the lowest-energy
    sequence found rather than the refitted mean (the mean of elites from two basins lies in neither).
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
        keep_elites: bool = CEMConfig.keep_elites,
        execute: str = CEMConfig.execute,
        **kwargs: Any,
    ):
        super().__init__(world_model, **kwargs)
        if not 2 <= num_elites <= num_samples:
            raise ValueError(f"need 2 <= num_elites ({num_elites}) <= num_samples ({num_samples})")
        if execute not in ("mean", "best"):
            raise ValueError(f"execute must be 'mean' or 'best', got {execute!r}")
        self.num_samples, self.num_elites, self.iterations = num_samples, num_elites, iterations
        self.init_std, self.min_std, self.momentum = init_std, min_std, momentum
        self.keep_elites, self.execute = keep_elites, execute

    @torch.inference_mode()
    def _optimize(self, score: ScoreFn, mean: Tensor) -> Tensor:
        std = torch.full_like(mean, self.init_std)  # (B, H, A)
        best, best_energy = mean, torch.full(mean.shape[:1], torch.inf, device=mean.device)  # (B, H, A), (B,)
        elites = elite_energies = None  # (B, E, H, A), (B, E) from the second round on
        for _ in range(self.iterations):
            noise = self.sample_normal(self.num_samples, mean)  # (B, K, H, A)
            candidates = self.project(mean[:, None] + std[:, None] * noise)
            energies = score(candidates)  # (B, K)
            if self.keep_elites and elites is not None:
                candidates, energies = torch.cat([elites, candidates], 1), torch.cat([elite_energies, energies], 1)
            elites, elite_energies = lowest(candidates, energies, self.num_elites)  # (B, E, H, A), (B, E)
            improved = elite_energies[:, 0] < best_energy
            best = torch.where(improved[:, None, None], elites[:, 0], best)
            best_energy = torch.where(improved, elite_energies[:, 0], best_energy)
            mean = self.momentum * mean + (1 - self.momentum) * elites.mean(1)
            std = (self.momentum * std + (1 - self.momentum) * elites.std(1)).clamp_min(self.min_std)
        return best if self.execute == "best" else self.project(mean)


class MPPIPlanner(Planner):
    """Model-predictive path integral: move the mean to the softmax(-energy / temperature)-weighted candidates.

    Each of ``iterations`` rounds samples ``num_samples`` sequences around each episode's mean (standard deviation
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
            candidates = self.project(mean[:, None] + self.noise_std * self.sample_normal(self.num_samples, mean))
            weights = torch.softmax(-score(candidates) / self.temperature, dim=1)  # (B, K)
            mean = self.project(torch.einsum("bk,bkha->bha", weights, candidates))
        return mean


class GradientPlanner(Planner):
    """Adam on the action sequences through the differentiable rollout, projected to the bounds after each step.

    Per episode, ``num_restarts`` sequences take ``iterations`` Adam steps of learning rate ``lr``: restart 0
    starts from `initial_mean()`, the others uniformly in the box; the lowest-energy one is returned.
    """

    def __init__(self, world_model: WorldModel, *, iterations: int = GradientConfig.iterations,
                 lr: float = GradientConfig.lr, num_restarts: int = GradientConfig.num_restarts, **kwargs: Any):
        super().__init__(world_model, **kwargs)
        self.iterations, self.lr, self.num_restarts = iterations, lr, num_restarts

    def plan_batch(
        self, context_features: Tensor, goal_features: Tensor, context_states: Tensor,
        context_actions: Tensor | None = None, steps_left: int | None = None, episodes: Sequence[int] | None = None,
    ) -> Tensor:
        # clones turn inference-mode tensors (from encode) into ones autograd may save for backward
        return super().plan_batch(context_features.clone(), goal_features.clone(), context_states.clone(),
                                  None if context_actions is None else context_actions.clone(), steps_left, episodes)

    @torch.enable_grad()
    def _optimize(self, score: ScoreFn, mean: Tensor) -> Tensor:
        starts = torch.cat([mean[:, None], self.sample_uniform(self.num_restarts - 1, mean)], dim=1)  # (B, R, H, A)
        parts = self.blocks(*starts.shape[:2])
        leaves = [starts[e, k].clone().requires_grad_() for e, k in parts]  # one graph per block bounds memory
        optimizer = torch.optim.Adam(leaves, lr=self.lr)
        for _ in range(self.iterations):
            for leaf, (e, _) in zip(leaves, parts):
                (leaf.grad,) = torch.autograd.grad(score(leaf, e).sum(), leaf)
            optimizer.step()
            with torch.no_grad():
                for leaf in leaves:
                    leaf.copy_(self.project(leaf))
        with torch.inference_mode():
            actions = starts.clone()
            for leaf, (e, k) in zip(leaves, parts):
                actions[e, k] = leaf.detach()
            return actions[torch.arange(len(actions), device=actions.device), score(actions).argmin(1)]


class RandomPlanner(Planner):
    """Baseline: one uniform random action sequence within the bounds per episode (nothing is searched: no warm
    start, no candidates to chunk)."""

    def __init__(self, world_model: WorldModel, **kwargs: Any):
        super().__init__(world_model, warm_start=False, candidate_chunk=None, **kwargs)

    def _optimize(self, score: ScoreFn, mean: Tensor) -> Tensor:
        return self.sample_uniform(1, mean)[:, 0]


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
