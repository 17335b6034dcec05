"""V-JEPA / I-JEPA pretraining loop: one process or many (torchrun), resumable, logged.

Read top to bottom: build the data (clips + per-sample masks), the models (encoder, predictor, EMA target
encoder), the optimiser; resume if a checkpoint exists; then each step: schedules -> forward in latent space ->
backward -> clip -> AdamW -> EMA; log, diagnose, checkpoint. Losses stay on the device until a log or checkpoint
step reads them back (one host sync, which also checks that they are finite), so that steps can queue up.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import Dataset

from configs.schema import pretrain as schema
from vjepa.data import ImageFolderDataset, SeededSampler, VideoFolderDataset, VideoTransform
from vjepa.data.synthetic import make_moving_shapes, make_shape_images
from vjepa.data.video_dataset import SkippedFiles
from vjepa.inference import load_encoder, load_predictor
from vjepa.masks import MaskCollator, masker_from_config, token_grid
from vjepa.masks.visualize import save_mask_figure
from vjepa.models.factory import build_encoder, build_predictor, level_blocks
from vjepa.models.official import is_hugging_face
from vjepa.runtime.checkpoint import RESTART, differences, load_checkpoint, resume_checkpoint, rng_state, set_rng_state
from vjepa.runtime.device import autocast_context, resolve_precision
from vjepa.runtime.errors import RunDirError
from vjepa.runtime.run_dir import RunDir
from vjepa.runtime.threads import set_threads
from vjepa.train.diagnostics import embedding_diagnostics
from vjepa.train.distributed import DistInfo
from vjepa.train.jepa import JEPA
from vjepa.train.loop import Batches, StepTail, apply_schedules, run_training, trainer
from vjepa.train.precision import MasterWeights, Weights
from vjepa.train.schedules import warmed_up


# ----------------------------------------------------------------------------------------------- data
def resolve_data_path(data_cfg: DictConfig) -> Path:
    """``data.path``, or the generated synthetic folder (made on first use) when ``data.path`` is null."""
    if data_cfg.path is not None:
        return Path(data_cfg.path)
    gen = data_cfg.generate
    out = Path(gen.dir)
    if not (out / "labels.csv").exists() and not any(out.glob("*.png")):
        # generated into a folder of this process's own, then moved into place: processes starting together
        # (DDP ranks) never read a half-written folder; the last to finish drops its copy
        out.parent.mkdir(parents=True, exist_ok=True)
        private = out.with_name(f".{out.name}.{os.getpid()}.partial")
        if data_cfg.kind == "image":
            make_shape_images(private, num_images=gen.num_images, size=gen.size, seed=gen.seed)
        else:
            make_moving_shapes(private, num_videos=gen.num_videos, num_frames=gen.num_frames, size=gen.size,
                               seed=gen.seed)
        try:
            private.rename(out)
        except OSError:  # another process put its (identical) folder there first
            shutil.rmtree(private, ignore_errors=True)
    return out


def build_dataset(data_cfg: DictConfig) -> Dataset:
    """The dataset of one stream (``data`` or ``images``; its ``kind`` checked at start-up)."""
    transform = VideoTransform(size=data_cfg.crop_size, train=True, scale=tuple(data_cfg.crop_scale),
                               ratio=tuple(data_cfg.crop_ratio), hflip_prob=data_cfg.hflip)
    path = resolve_data_path(data_cfg)
    if data_cfg.kind == "image":
        return ImageFolderDataset(path, transform=transform)
    return VideoFolderDataset(path, frames_per_clip=data_cfg.frames_per_clip, frame_step=data_cfg.frame_step,
                              transform=transform, backend=data_cfg.decoder, short_video=data_cfg.short_video)


@dataclass
class Stream:
    """One source of training batches: the videos (``data``), or the images trained beside them (``images``:
    V-JEPA 2.1's joint image + video pretraining), each with its own masks on its own token grid and a weight in
    the step's loss (the weighted mean of the streams' losses)."""

    name: str
    batches: Batches
    grid: tuple[int, int, int]
    weight: float = 1.0


def data_stream(name: str, data_cfg: DictConfig, cfg: DictConfig, dist: DistInfo, device: torch.device,
                batch_size: int, seed: int, weight: float = 1.0) -> Stream:
    """Dataset, seeded sampler (this rank's share), mask collator and loader of one stream."""
    dataset = build_dataset(data_cfg)
    grid = token_grid(data_cfg, cfg.model)
    masker = masker_from_config(cfg.mask, grid)
    sampler = SeededSampler(len(dataset), seed=seed, rank=dist.rank, world_size=dist.world_size)
    loader_cfg = OmegaConf.create({"batch_size": batch_size, "num_workers": cfg.num_workers})
    return Stream(name, Batches(dataset, sampler, loader_cfg, MaskCollator(masker, seed=seed), device), grid, weight)


def data_streams(cfg: DictConfig, dist: DistInfo, device: torch.device) -> list[Stream]:
    """The video stream (``data``), plus the image stream when ``images`` is set."""
    streams = [data_stream("video", cfg.data, cfg, dist, device, cfg.batch_size, cfg.seed)]
    images = cfg.images
    if images is not None:
        streams.append(data_stream("image", images, cfg, dist, device, images.batch_size or cfg.batch_size,
                                   cfg.seed + 1, float(images.weight)))
    return streams


# ------------------------------------------------------------------------------------- checkpoints
def checkpoint_state(jepa: JEPA, weights: Weights, optimizer, step: int, cfg: DictConfig,
                     skipped: SkippedFiles) -> dict[str, Any]:
    return {
        "step": step,
        "encoder": weights.state_dict(jepa.encoder),
        "predictor": weights.state_dict(jepa.predictor),
        "target_encoder": weights.state_dict(jepa.target_encoder) if jepa.target_encoder is not None else None,
        "optimizer": optimizer.state_dict(),
        "rng": rng_state(),
        "skipped": skipped.state_dict(),  # the unreadable files met so far: a resumed run counts each once
        "config": OmegaConf.to_container(cfg, resolve=True),
    }


def check_fits(key: str, checkpoint: str | Path, theirs: dict[str, Any], ours: dict[str, Any]) -> None:
    """Raise, naming every difference, unless pretrained weights (``theirs``) fit the configured network."""
    if theirs != ours:
        differ = ", ".join(f"{k} {theirs[k]} (config: {ours[k]})" for k in ours if theirs[k] != ours[k])
        raise ValueError(f"{key}={checkpoint} does not fit the configured network: {differ}; set the model config "
                         "(model.size, patch_size, tubelet_size, pos_embed, rope_style, rope_grid, image_patch_embed, "
                         "modality_embed, levels, level_norms, predictor.*) to match")


def init_from_pretrained(jepa: JEPA, cfg: DictConfig) -> list[str]:
    """Start from pretrained weights: ``init_encoder`` sets the encoder and its EMA teacher (a vjepa-pretrain
    checkpoint's EMA encoder or V-JEPA 2's / 2.1's released one, see `vjepa.inference.load_encoder`),
    ``init_predictor`` the mask predictor. The model config must build the same networks, RoPE style included.
    Returns what was set."""
    done = []
    contents = None  # encoder and predictor from one .pt (a release ships both): the file is read once
    shared = cfg.init_encoder
    if shared and cfg.init_predictor == shared and not is_hugging_face(Path(shared)):
        contents = load_checkpoint(shared, map_location="cpu")
    if cfg.init_encoder:
        pretrained, _ = load_encoder(cfg.init_encoder, contents=contents)
        theirs, weights, unused = pretrained.architecture(), pretrained.state_dict(), ""
        if theirs["level_norms"] and not jepa.encoder.level_norms:  # V-JEPA 2.1's, continued without deep levels
            unused = f" (its {theirs['level_norms']} level norms unused: model.level_norms is off)"
            theirs["level_norms"] = 0
            weights = {k: v for k, v in weights.items() if not k.startswith("level_norms.")}
        check_fits("init_encoder", cfg.init_encoder, theirs, jepa.encoder.architecture())
        jepa.encoder.load_state_dict(weights)
        if jepa.target_encoder is not None:
            jepa.target_encoder.load_state_dict(weights)
        done.append(f"encoder from {cfg.init_encoder}{unused}")
    if cfg.init_predictor:  # released weights do not show their head count: the config's is taken
        pretrained = load_predictor(cfg.init_predictor, num_heads=cfg.model.predictor.num_heads, contents=contents)
        check_fits("init_predictor", cfg.init_predictor, pretrained.architecture(), jepa.predictor.architecture())
        jepa.predictor.load_state_dict(pretrained.state_dict())
        done.append(f"predictor from {cfg.init_predictor}")
    return done


def restore_weights(jepa: JEPA, state: dict[str, Any], path: Path, cfg: DictConfig) -> None:
    """Load a resumed run's weights; a checkpoint of another network is refused, naming the model keys that
    differ."""
    try:
        jepa.encoder.load_state_dict(state["encoder"])
        jepa.predictor.load_state_dict(state["predictor"])
        if jepa.target_encoder is not None:
            jepa.target_encoder.load_state_dict(state["target_encoder"])
    except (RuntimeError, KeyError) as err:
        theirs, ours = state.get("config", {}).get("model") or {}, OmegaConf.to_container(cfg.model, resolve=True)
        what = "holds another network: " + (differences(theirs, ours, "model") or str(err).splitlines()[0])
        raise RunDirError(what, str(path), RESTART) from err


# ------------------------------------------------------------------------------------------- loop
def pretrain(cfg: DictConfig) -> dict[str, Any]:
    """Run (or resume) pretraining as configured; returns a summary with the first and last losses."""
    return run_training(cfg, "vjepa-pretrain", schema.check, _pretrain)


def _pretrain(cfg: DictConfig, dist: DistInfo, run: RunDir) -> dict[str, Any]:
    run_dir = Path(cfg.run_dir)
    device = dist.device
    threads = set_threads(cfg.threads)
    torch.manual_seed(cfg.seed)

    streams = data_streams(cfg, dist, device)
    total_weight = sum(stream.weight for stream in streams)

    encoder = build_encoder(cfg.model)
    predictor = build_predictor(cfg.model, encoder.embed_dim)
    jepa = JEPA(
        encoder, predictor, objective=cfg.objective, loss=cfg.loss,
        sigreg_weight=cfg.sigreg.weight, sigreg_directions=cfg.sigreg.directions,
        level_blocks=level_blocks(cfg.model, len(encoder.blocks)),
    )
    ckpt, state = resume_checkpoint(run_dir, cfg.resume, map_location=device)
    if state is not None:  # a resumed run has its own weights
        restore_weights(jepa, state, ckpt, cfg)
    else:
        for line in init_from_pretrained(jepa, cfg):
            if dist.is_main:
                print(f"initialised the {line}")
    jepa.to(device)
    weights, model, optimizer = trainer(jepa, jepa, cfg, dist, device,
                                        compiled=(jepa.encoder, jepa.target_encoder, jepa.predictor))

    step = 0
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
        set_rng_state(state["rng"])
        step = state["step"]
    run.claim(cfg)  # started: lock run_dir, remove stale temporaries, save the config
    if state is not None and dist.is_main:
        print(f"resumed from {ckpt} at step {step}")

    if dist.is_main:
        kind = ", bf16 weights with fp32 masters" if isinstance(weights, MasterWeights) else ""
        print(f"pretrain: precision {resolve_precision(cfg.precision, device)}{kind} (precision={cfg.precision}); "
              f"{threads} CPU thread{'s' if threads > 1 else ''} (threads={cfg.threads})")
    clips_per_step = cfg.batch_size * cfg.grad_accum * dist.world_size
    tail = StepTail("pretrain", cfg, dist, device, step, "clips_per_s", clips_per_step)
    skipped = SkippedFiles(announce=dist.is_main)  # distinct files the streams skipped, each named once
    if state is not None and "skipped" in state:  # checkpoints from before it was kept: counted from here
        skipped.load_state_dict(state["skipped"])
    iterators = [stream.batches.from_batch(step * cfg.grad_accum) for stream in streams]
    while step < tail.last_step:
        scheduled = apply_schedules(optimizer, step, cfg)
        if cfg.context_loss.weight:
            jepa.context_weight = scheduled["context_weight"] = warmed_up(
                step, cfg.context_loss.warmup, cfg.context_loss.weight)
        for micro in range(cfg.grad_accum):
            stream_losses, stream_parts = {}, {}
            for k, (stream, batches) in enumerate(zip(streams, iterators)):
                t_data = time.perf_counter()
                batch = next(batches)
                tail.window.data_wait += time.perf_counter() - t_data
                clips = batch["clips"].to(device, non_blocking=True)
                masks = [(c.to(device, non_blocking=True), t.to(device, non_blocking=True)) for c, t in batch["masks"]]
                skipped.add(batch)
                if step == 0 and micro == 0 and cfg.mask_figure and dist.is_main:
                    tubelet = cfg.model.tubelet_size if clips.shape[2] > 1 else 1
                    save_mask_figure(batch["clips"][0], [(c[0].cpu(), t[0].cpu()) for c, t in masks], stream.grid,
                                     cfg.model.patch_size, tubelet,
                                     run_dir / ("masks.png" if k == 0 else f"masks_{stream.name}.png"))
                sync = contextlib.nullcontext()  # gradients are all-reduced once, after the step's last backward
                if model is not jepa and (micro < cfg.grad_accum - 1 or k < len(streams) - 1):  # DDP
                    sync = model.no_sync()
                with sync:
                    with autocast_context(cfg.precision, device):
                        generator = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step + 7919 * k)
                        loss, parts = model(clips, masks, generator)
                    (loss * stream.weight / (total_weight * cfg.grad_accum)).backward()
                weights.collect_grads()
                stream_losses[stream.name], stream_parts[stream.name] = loss.detach(), parts
            loss = sum(stream.weight * stream_losses[stream.name] for stream in streams) / total_weight
            parts = stream_parts["video"]
            if len(streams) > 1:
                parts = parts | {f"loss_{name}": value for name, value in stream_losses.items()}
        grad_norm = weights.step(optimizer, cfg.optim.grad_clip)
        if jepa.target_encoder is not None:
            weights.ema_update(jepa.target_encoder, jepa.encoder, scheduled["ema_momentum"])
        weights.sync()
        step += 1
        tail.end_step(step, loss, lambda: {"grad_norm": grad_norm.item(), **skipped.counts(), **scheduled,
                                           **{k: v.item() for k, v in parts.items() if k.startswith("loss_")}})
        if step % cfg.diag_every == 0 or step == cfg.steps:
            tail.logger.log(step, embedding_diagnostics(parts["targets"]))
        tail.checkpoint(lambda: checkpoint_state(jepa, weights, optimizer, step, cfg, skipped))
    return {**tail.close(), **skipped.counts()}
