"""V-JEPA 2-AC fine-tuning: an action-conditioned predictor over a frozen encoder's features.

Read top to bottom: load the frozen encoder (a `vjepa-pretrain` checkpoint), open the episodes (own format or
LeRobot), encode every frame once into a feature cache on disk (`vjepa.data.feature_cache`, keyed by the encoder,
the image size, the precision and the camera), split episodes into training and held-out ones, compute
action/state statistics once (training episodes), build windows of ``num_frames`` steps over the cached features;
then each step: schedules -> teacher-forcing + rollout loss on normalised actions/states and normalised features
(`FeatureNorm`) -> backward -> clip -> AdamW; log, validate on the held-out episodes, checkpoint. One process or
many (torchrun, gloo on CPU); a resumed run reproduces the losses of an uninterrupted one (the batch order derives
from the step).

``recipe=end_to_end`` (LeWM / PLDM style) trains the encoder with the predictor instead: no feature cache, the
windows' frames decoded and encoded every step (`vjepa.train.end_to_end`: where the encoder starts;
`vjepa.train.objectives.EndToEndObjective`: the AC loss plus SIGReg or VICReg on its features), layer-normalised
features; with ``end_to_end.embedding=pooled`` (LeWM) a projector trained with them turns each frame's tokens into
one embedding, and the predictor works on a 1x1 token grid; the rest — split, statistics, predictor, loop,
validation, checkpoint — is the same.

The checkpoint (``run_dir/latest.pt``, a `vjepa.train.ac_checkpoint.ACCheckpoint`) is self-describing for
`vjepa.world_model.load_world_model` and `vjepa-eval-ac`: predictor weights and constructor kwargs, action and
feature statistics, the encoder checkpoint path, which encoder and its fingerprint (end_to_end: the trained
encoder's weights and model, and the projector's), the image size, the episode split, the optimiser, step, RNG and
the whole config.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as torch_dist
from omegaconf import DictConfig, OmegaConf
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from configs.schema import train_ac as schema
from configs.schema.train_ac import AC
from vjepa.data.ac_dataset import ActionStats, ClipWindows, episode_lowdim, open_episodes
from vjepa.data.feature_cache import FeatureCache, fingerprint, prepare_features
from vjepa.data.sampler import SeededSampler
from vjepa.models.ac_predictor import ActionConditionedPredictor
from vjepa.models.feature_norm import FeatureNorm
from vjepa.models.frame_embedding import PooledProjector
from vjepa.models.official import official_ac_weights
from vjepa.runtime.checkpoint import RESTART, differences, load_checkpoint, resume_checkpoint, rng_state, set_rng_state
from vjepa.runtime.device import autocast_context, resolve_precision
from vjepa.runtime.errors import ConfigError, RunDirError, UserError
from vjepa.runtime.run_dir import RunDir
from vjepa.runtime.threads import set_threads
from vjepa.train.ac_checkpoint import ACCheckpoint
from vjepa.train.distributed import DistInfo, all_reduce_mean
from vjepa.train.end_to_end import projector_config_from, trained_encoder
from vjepa.train.loop import Batches, StepTail, apply_schedules, run_training, trainer
from vjepa.train.objectives import ACObjective, EndToEndObjective

LEROBOT_KEYS = ("camera_key", "state_key", "action_key")
FEATURES = ("features", "actions", "states")  # a window's inputs to the objective: frozen recipe
FRAMES = ("frames", "actions", "states")  # end_to_end


# ----------------------------------------------------------------------------------------------- data
def open_dataset(data_cfg: Mapping[str, Any]) -> Any:
    """Episodes at ``data.path``: the project's format, or LeRobot (with ``data.camera_key`` etc. if given)."""
    path = Path(data_cfg["path"])
    kw = {}
    if not (path / "meta.json").is_file():  # LeRobot: pass the column / camera choices
        kw = {k: data_cfg[k] for k in LEROBOT_KEYS if k in data_cfg}
    return open_episodes(path, **kw)


class EpisodeSubset:
    """Episodes ``indices`` of a dataset, with its interface (``lowdim`` reads no frames)."""

    def __init__(self, episodes: Any, indices: Sequence[int]) -> None:
        self.episodes, self.indices = episodes, [int(i) for i in indices]
        self.root = getattr(episodes, "root", None)
        self.action_dim = getattr(episodes, "action_dim", None)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> Any:
        return self.episodes[self.indices[i]]

    def lowdim(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        return episode_lowdim(self.episodes, self.indices[i])


class WindowSubset(Dataset):
    """Windows ``indices`` of a `ClipWindows`; takes plain or `SeededSampler` (index, seed) keys."""

    def __init__(self, windows: ClipWindows, indices: Sequence[int] | np.ndarray) -> None:
        self.windows, self.indices = windows, np.asarray(indices, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        index = key[0] if isinstance(key, (tuple, list)) else key
        return self.windows[int(self.indices[int(index)])]


def split_episodes(num_episodes: int, val_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """(train, val) episode indices: a seeded random ``val_fraction`` of the episodes (at least one when the
    fraction is > 0 and there are two or more episodes) is held out."""
    if not 0.0 <= val_fraction < 1.0:
        raise ConfigError(f"must be in [0, 1), got {val_fraction}", "data.val_fraction")
    num_val = round(num_episodes * val_fraction)
    if val_fraction > 0 and num_episodes >= 2:
        num_val = min(max(num_val, 1), num_episodes - 1)
    order = np.random.default_rng([seed, 0x5EED]).permutation(num_episodes)
    return sorted(order[num_val:].tolist()), sorted(order[:num_val].tolist())


def windows_of(windows: ClipWindows, episodes: Sequence[int], max_windows: int | None = None) -> np.ndarray:
    """Indices of the windows that lie in ``episodes``; at most ``max_windows``, evenly spaced."""
    idx = np.flatnonzero(np.isin(windows.index_episode, np.asarray(episodes, dtype=np.int64)))
    if max_windows is not None and len(idx) > max_windows:
        idx = idx[np.linspace(0, len(idx) - 1, max_windows).round().astype(np.int64)]
    return idx


def spread_stride(cache: FeatureCache, episodes: Sequence[int], max_frames: int) -> int:
    """Every how many frames to keep so that ``episodes`` give about ``max_frames`` frames in all."""
    total = int(sum(cache.lengths[e] for e in episodes))
    return max(1, math.ceil(total / max(max_frames, 1)))


def training_frames(cache: FeatureCache, episodes: Sequence[int], max_frames: int) -> Iterator[Tensor]:
    """Cached features (T_e, N, D) of ``episodes``, about ``max_frames`` frames in all, evenly spread in time."""
    every = spread_stride(cache, episodes, max_frames)
    for e in episodes:
        yield torch.from_numpy(cache.get(e)[::every].astype(np.float32))


# ------------------------------------------------------------------------------------------- model
RELEASE_OPTIONS = ("rope_style", "state_update")  # the ac.* keys V-JEPA 2-AC's released weights set


def predictor_config_from(cfg: DictConfig, embed_dim: int, grid: int, stats: ActionStats) -> dict[str, Any]:
    """ActionConditionedPredictor kwargs: the ``ac`` size preset plus what the data and the encoder fix. The
    release-compatibility options (``rope_style``, ``state_update``) appear only when set off their defaults, so
    checkpoints from before them still resume."""
    ac = cfg.ac
    return {
        "embed_dim": int(embed_dim),
        "predictor_dim": int(ac.dim),
        "depth": int(ac.depth),
        "num_heads": int(ac.num_heads),
        "mlp_ratio": float(ac.mlp_ratio),
        "action_dim": len(stats.action_mean),
        "state_dim": len(stats.state_mean),
        "grid_hw": [int(grid), int(grid)],
        "max_steps": max(int(ac.max_steps), int(cfg.data.num_frames)),
        "pos_embed": str(ac.pos_embed),
        "state_embed": str(ac.state_embed),
        "condition_patches": bool(ac.condition_patches),
        "state_decoder": int(ac.state_decoder or 0),
        "norm_output": bool(schema.feature_norm_mode(cfg) == "layer" if ac.norm_output is None else ac.norm_output),
        **{key: str(ac[key]) for key in RELEASE_OPTIONS if ac[key] != getattr(AC, key)},
    }


def init_ac_predictor(predictor: ActionConditionedPredictor, checkpoint: str | Path) -> None:
    """Start ``predictor`` from ``init_predictor``: a vjepa-train-ac checkpoint's predictor, or V-JEPA 2-AC's
    released one (its ``.pt``), to fine-tune on your robot logs. The ``ac`` config must build the same network
    (for the release: ``ac.rope_style=vjepa2 ac.state_update=delta_pose``, and ``data.normalize=false``, as it
    takes actions and states in their own units)."""
    contents = load_checkpoint(checkpoint, map_location="cpu")
    if "config" in contents:  # a run of this toolkit's: it must be a vjepa-train-ac one
        weights = ACCheckpoint.from_contents(contents, checkpoint).predictor
    else:
        if predictor.rope_style != "vjepa2":
            raise ConfigError(f"{checkpoint} holds V-JEPA 2-AC's released weights, trained with its RoPE expansion",
                              "init_predictor", "set ac.rope_style=vjepa2")
        weights = official_ac_weights(contents.get("predictor", contents))
    try:
        predictor.load_state_dict(weights)
    except RuntimeError as error:
        raise ConfigError(f"{checkpoint} does not fit the predictor ac.* builds: {str(error).splitlines()[0]}",
                          "init_predictor", "set ac.* to the network it holds") from error


@torch.no_grad()
def validate(objective: nn.Module, loader: DataLoader, device: torch.device, precision: str,
             inputs: Sequence[str] = FEATURES, **kwargs: Any) -> dict[str, float]:
    """Mean losses over the held-out windows (window-weighted): ``objective(*batch[inputs], **kwargs)``."""
    was_training = objective.training
    objective.eval()
    sums: dict[str, float] = {}
    count = 0
    for batch in loader:
        with autocast_context(precision, device):
            loss, parts = objective(*(batch[k].to(device) for k in inputs), **kwargs)
        n = len(batch["actions"])
        for name, value in {"loss": loss, **parts}.items():
            sums[name] = sums.get(name, 0.0) + float(value) * n
        count += n
    objective.train(was_training)
    return {f"val_{name}": total / max(count, 1) for name, total in sums.items()}


# ------------------------------------------------------------------------------------------- loop
def train_ac(cfg: DictConfig) -> dict[str, Any]:
    """Run (or resume) action-conditioned predictor training as configured (``recipe``: frozen or end_to_end);
    returns a summary."""
    return run_training(cfg, "vjepa-train-ac", schema.check, _train_ac)


def _barrier(dist: DistInfo) -> None:
    if dist.enabled and torch_dist.is_initialized():
        torch_dist.barrier()


def _frozen_features(cfg: DictConfig, dist: DistInfo, episodes: Any, state: ACCheckpoint | None,
                     ckpt_path: Path | None) -> tuple[FeatureCache, dict[str, Any]]:
    """The frozen encoder's feature cache of ``episodes`` (built by the main process, read by all) and its
    description (`prepare_features`); a resumed run must see the same encoder."""
    prepare = dict(
        which=cfg.encoder_which, image_size=cfg.image_size, cache_dir=cfg.feature_cache, run_dir=Path(cfg.run_dir),
        batch_size=cfg.cache_batch_size, device=dist.device, precision=cfg.cache_precision,
    )
    encoder_path = Path(cfg.encoder)
    _, enc = prepare_features(encoder_path, episodes, cfg.data.path, build=dist.is_main, progress=dist.is_main,
                              **prepare)
    _barrier(dist)
    cache = FeatureCache(enc["cache_dir"])  # now complete on every rank
    if state is not None and state.fingerprint != enc["fingerprint"]:
        raise RunDirError(
            f"trained on features of another encoder (fingerprint {state.fingerprint[:12]}, now "
            f"{enc['fingerprint'][:12]} for {encoder_path})", str(ckpt_path), RESTART)
    grid = enc["image_size"] // enc["patch_size"]
    if cache.num_tokens != grid * grid:
        raise UserError(f"{cache.num_tokens} tokens per frame, expected {grid}x{grid}", str(cache.cache_dir),
                        "delete it or set feature_cache to another directory")
    return cache, enc


def _train_ac(cfg: DictConfig, dist: DistInfo, run: RunDir) -> dict[str, Any]:
    run_dir = Path(cfg.run_dir)
    device = dist.device
    set_threads(cfg.threads)
    data_cfg = cfg.data
    end_to_end = cfg.recipe == "end_to_end"
    ckpt_path, contents = resume_checkpoint(run_dir, cfg.resume)
    try:
        state = None if contents is None else ACCheckpoint.from_contents(contents, ckpt_path)
    except UserError as err:
        raise RunDirError(err.what, err.where, RESTART) from err
    if state is not None and (state.encoder is not None) != end_to_end:
        raise RunDirError(f"holds a run of the other recipe than recipe={cfg.recipe}", str(ckpt_path), RESTART)

    episodes = open_dataset(data_cfg)
    if len(episodes) == 0:
        raise ConfigError(f"no episodes in {data_cfg.path}", "data.path", "point it at a dataset with episodes")
    # the features: a frozen encoder's cache, or (end_to_end) the encoder trained here on decoded frames
    if end_to_end:
        cache, enc, trained = None, None, trained_encoder(cfg, state)
        embed_dim, image_size, patch_size = trained.encoder.embed_dim, trained.image_size, trained.patch_size
    else:
        cache, enc = _frozen_features(cfg, dist, episodes, state, ckpt_path)
        embed_dim, image_size, patch_size = cache.embed_dim, enc["image_size"], enc["patch_size"]
    grid = image_size // patch_size
    projector_config = projector_config_from(cfg, embed_dim, grid * grid) if end_to_end else None
    if state is not None and state.projector_config != projector_config:
        raise RunDirError(f"holds a run of end_to_end.embedding={state.embedding} (projector "
                          f"{state.projector_config}), not of {projector_config}", str(ckpt_path), RESTART)
    if projector_config is not None:  # one embedding per frame: the predictor's frames are 1x1 token grids
        embed_dim, grid = projector_config["dim"], 1

    # episode split and action/state statistics: once, then from the checkpoint
    if state is not None:
        train_eps, val_eps = list(state.split["train"]), list(state.split["val"])
        stats = state.action_stats
        if max(train_eps + val_eps) >= len(episodes):
            raise RunDirError(f"its episode split does not fit the {len(episodes)} episodes of {data_cfg.path}",
                              str(ckpt_path), RESTART)
    else:
        train_eps, val_eps = split_episodes(len(episodes), float(data_cfg.val_fraction), int(cfg.seed))
        stats = ActionStats.from_episodes(EpisodeSubset(episodes, train_eps), data_cfg.frame_step, data_cfg.action_agg)
        if not data_cfg.normalize:  # actions and states in their own units
            stats = stats.unnormalised()
    if state is not None:
        feature_norm = state.feature_norm
    else:
        feature_norm = FeatureNorm(grid * grid, embed_dim, schema.feature_norm_mode(cfg))
        if feature_norm.mode == "standardize":  # frozen only: statistics of fixed features
            feature_norm.fit(training_frames(cache, train_eps, int(cfg.feature_norm_frames)))

    windows = ClipWindows(episodes, data_cfg.num_frames, data_cfg.frame_step, data_cfg.action_agg,
                          features=cache, stride=data_cfg.stride, stats=stats)
    train_idx = windows_of(windows, train_eps)
    if len(train_idx) == 0:
        raise ConfigError(
            f"no training window of {data_cfg.num_frames} frames (frame_step {data_cfg.frame_step}) in the "
            f"{len(train_eps)} training episodes of {data_cfg.path}", "data.num_frames", "lower it")
    val_windows = ClipWindows(episodes, data_cfg.num_frames, data_cfg.frame_step, data_cfg.action_agg,
                              features=cache, stride=data_cfg.val_stride or data_cfg.num_frames, stats=stats)
    val_idx = windows_of(val_windows, val_eps, cfg.val_max_windows)
    val_loader = DataLoader(WindowSubset(val_windows, val_idx), batch_size=cfg.batch_size, num_workers=0)

    predictor_config = predictor_config_from(cfg, embed_dim, grid, stats)
    if state is not None and state.predictor_config != predictor_config:
        raise RunDirError(f"holds another predictor: {differences(state.predictor_config, predictor_config)}",
                          str(ckpt_path), RESTART)

    torch.manual_seed(cfg.seed)
    predictor = ActionConditionedPredictor(**predictor_config)
    if state is not None:
        predictor.load_state_dict(state.predictor)
    elif cfg.init_predictor:
        init_ac_predictor(predictor, cfg.init_predictor)
    objective: nn.Module = ACObjective(predictor, feature_norm, cfg.loss)
    inputs = FRAMES if end_to_end else FEATURES
    if end_to_end:  # the encoder (and the frame projector on its tokens) and the predictor, trained together
        projector = None if projector_config is None else PooledProjector(**projector_config)
        if state is not None and projector is not None:
            projector.load_state_dict(state.projector)
        objective = EndToEndObjective(trained.encoder, objective, image_size, cfg.end_to_end, projector)

    def step_kwargs(at: int) -> dict[str, Any]:
        """end_to_end: SIGReg's directions, drawn from the step (a resumed run draws the same)."""
        return {"generator": torch.Generator().manual_seed(cfg.seed * 1_000_003 + at)} if end_to_end else {}

    objective.to(device)
    weights, model, optimizer = trainer(objective, objective if end_to_end else predictor, cfg, dist, device,
                                        compiled=(objective,))
    sampler = SeededSampler(len(train_idx), seed=cfg.seed, rank=dist.rank, world_size=dist.world_size)
    batches = Batches(WindowSubset(windows, train_idx), sampler, cfg, None, device)

    step = 0
    if state is not None:
        optimizer.load_state_dict(state.optimizer)
        set_rng_state(state.rng)
        step = state.step
    run.claim(cfg)  # started: lock run_dir, remove stale temporaries, save the config
    if state is not None and dist.is_main:
        print(f"resumed from {ckpt_path} at step {step}")
    elif dist.is_main:
        source = (f"encoder trained with it on {image_size}px frames ({grid * grid} tokens x {embed_dim}, "
                  f"{cfg.end_to_end.embedding}), {cfg.end_to_end.regularizer}" if end_to_end else
                  f"features {cache.cache_dir} ({cache.num_tokens} tokens x {cache.embed_dim})")
        print(
            f"train_ac ({cfg.recipe}): {len(train_eps)} training / {len(val_eps)} held-out episodes, "
            f"{len(train_idx)} windows; {source}; predictor "
            f"{sum(p.numel() for p in predictor.parameters()) / 1e6:.2f}M parameters; precision "
            f"{resolve_precision(cfg.precision, device)} (precision={cfg.precision})"
        )

    def checkpoint() -> dict[str, Any]:
        common = dict(
            step=step, predictor=weights.state_dict(predictor), predictor_config=predictor_config,
            action_stats=stats, feature_norm=feature_norm, split={"train": train_eps, "val": val_eps},
            config=OmegaConf.to_container(cfg, resolve=True), optimizer=optimizer.state_dict(), rng=rng_state(),
        )
        if end_to_end:
            encoder = weights.state_dict(trained.encoder)
            return ACCheckpoint(
                **common, encoder_checkpoint=trained.start, fingerprint=fingerprint(encoder), image_size=image_size,
                encoder_which="encoder", encoder=encoder, encoder_config=trained.config,
                projector=None if projector is None else weights.state_dict(projector),
                projector_config=projector_config,
            ).to_contents()
        return ACCheckpoint(
            **common, encoder_checkpoint=enc["encoder_checkpoint"], fingerprint=enc["fingerprint"],
            image_size=image_size, encoder_which=enc["encoder_which"], feature_cache=str(cache.cache_dir),
        ).to_contents()

    tail = StepTail("train_ac", cfg, dist, device, step, "windows_per_s", cfg.batch_size * dist.world_size)
    val_history: list[dict[str, float]] = []
    data_iter = batches.from_batch(step)
    while step < tail.last_step:
        scheduled = apply_schedules(optimizer, step, cfg)
        t_data = time.perf_counter()
        batch = next(data_iter)
        tail.window.data_wait += time.perf_counter() - t_data
        with autocast_context(cfg.precision, device):
            loss, parts = model(*(batch[k].to(device, non_blocking=True) for k in inputs), **step_kwargs(step))
        loss.backward()
        weights.collect_grads()
        grad_norm = weights.step(optimizer, cfg.optim.grad_clip)
        weights.sync()
        step += 1
        tail.end_step(step, loss, lambda: {**{f"loss_{k}": all_reduce_mean(v).item() for k, v in parts.items()},
                                           "grad_norm": grad_norm.item(), **scheduled})
        if dist.is_main and len(val_idx) and (step % cfg.val_every == 0 or step == tail.last_step):
            val = validate(objective, val_loader, device, cfg.precision, inputs, **step_kwargs(0))
            tail.logger.log(step, val)
            val_history.append({"step": step, **val})
            tail.progress.write(f"step {step}: val_loss {val['val_loss']:.4f}")
        tail.checkpoint(checkpoint)
    frozen = {} if end_to_end else {"feature_cache": str(cache.cache_dir), "cache_build": enc["build"]}
    return {**tail.close(), "val": val_history, **frozen, "split": {"train": train_eps, "val": val_eps}}


__all__ = ["EpisodeSubset", "WindowSubset", "open_dataset", "split_episodes", "train_ac", "validate",
           "windows_of"]
