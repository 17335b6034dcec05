"""Attentive probe: V-JEPA's frozen evaluation. Classify labelled videos from a frozen encoder's patch features
with a small trained head — learnable query tokens cross-attend to the features, then a linear classifier — next
to the same training of a linear classifier on the mean-pooled features, the baseline attention has to beat.

    vjepa-attentive-probe checkpoint=runs/pretrain/latest.pt videos=/labelled/videos label_column=label

``videos`` holds the clips and a ``labels.csv`` (``file`` plus ``label_column``; integer or named classes). Every
video is encoded once — its first clip, or ``clips_per_video`` clips evenly spaced over it, each encoded apart and
their tokens pooled together — with a centre crop (features kept in memory as fp16: tokens x width x 2 bytes per
video), and, with ``train_views`` = V > 0, V more times with training augmentation (``augment``: random resized
crop, optional flip), the heads then training on a random one of a video's V views each epoch and scoring on the
centre crop, as V-JEPA's probe trains on augmented clips. A seeded ``val_fraction`` of the videos is held out, and
both heads are trained with AdamW and a cosine schedule, ``repeats`` times over new splits and initialisations
(mean and std reported: on a small labelled set the probe's own spread can exceed the difference between two
encoders). Writes ``attentive_probe.json`` (top-1 per head, chance, classes) and ``metrics.csv`` + TensorBoard
curves to ``output``. The checkpoint may be V-JEPA 2's released weights too.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange
from omegaconf import DictConfig
from torch import Tensor, nn
from tqdm import tqdm

from configs.schema import attentive_probe as schema
from vjepa.data import VideoFolderDataset, VideoTransform
from vjepa.eval import beside
from vjepa.inference import clip_batches, encode, load_encoder
from vjepa.models.blocks import MLP, attention, init_weights, reinitialized
from vjepa.models.pos_embed import Grid, sincos_3d
from vjepa.runtime.command import command
from vjepa.runtime.device import resolve_device
from vjepa.runtime.run_dir import RunDir, write_text_atomic
from vjepa.runtime.threads import set_threads
from vjepa.train.metrics import MetricsLogger


class AttentivePooler(nn.Module):
    """``num_queries`` learnable tokens cross-attend to features (B, N, D) -> (B, num_queries, D): a pre-norm
    cross-attention block (queries from the tokens, keys and values from the features) and an MLP, each residual.

    With ``grid`` (the features' (t, h, w) token grid) a fixed 3D sin-cos embedding of each token's position is
    added to the features first: a RoPE encoder's outputs carry no absolute position, and without it the pooler
    sees a bag of tokens that cannot tell an early frame from a late one."""

    def __init__(
        self, dim: int, num_heads: int, num_queries: int = 1, mlp_ratio: float = 4.0, grid: Grid | None = None
    ) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"width {dim} is not divisible by num_heads={num_heads}")
        self.num_heads = num_heads
        self.register_buffer("pos", sincos_3d(tuple(grid), dim) if grid is not None else None, persistent=False)
        self.queries = nn.Parameter(torch.zeros(1, num_queries, dim))
        self.norm_q, self.norm_kv, self.norm_mlp = (nn.LayerNorm(dim, eps=1e-6) for _ in range(3))
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.proj = nn.Linear(dim, dim)
        self.mlp = MLP(dim, round(dim * mlp_ratio))
        self.apply(init_weights)
        nn.init.trunc_normal_(self.queries, std=0.02)

    def forward(self, features: Tensor) -> Tensor:
        b, h = features.shape[0], self.num_heads
        if self.pos is not None:
            if features.shape[1] != len(self.pos):
                raise ValueError(f"features of {features.shape[1]} tokens, the pooler's grid has {len(self.pos)}")
            features = features + self.pos
        x = self.queries.expand(b, -1, -1)
        q = self.q(self.norm_q(x)).unflatten(-1, (h, -1)).transpose(1, 2)  # (B, h, Q, d)
        k, v = self.kv(self.norm_kv(features)).unflatten(-1, (2, h, -1)).permute(2, 0, 3, 1, 4)  # each (B, h, N, d)
        x = x + self.proj(attention(q, k, v).transpose(1, 2).flatten(2))
        return x + self.mlp(self.norm_mlp(x))


class AttentiveClassifier(nn.Module):
    """Features (B, N, D) -> class logits (B, num_classes): an `AttentivePooler`, its queries averaged, a linear
    layer."""

    def __init__(
        self, dim: int, num_classes: int, num_heads: int, num_queries: int = 1, grid: Grid | None = None
    ) -> None:
        super().__init__()
        self.pooler = AttentivePooler(dim, num_heads, num_queries, grid=grid)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, features: Tensor) -> Tensor:
        return self.head(self.pooler(features).mean(1))


class MeanPoolClassifier(nn.Module):
    """The baseline: features (B, N, D) -> mean over tokens -> LayerNorm -> linear logits."""

    def __init__(self, dim: int, num_classes: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, features: Tensor) -> Tensor:
        return self.head(self.norm(features.mean(1)))


def read_class_labels(csv_path: Path, column: str) -> dict[str, str]:
    """{file name: class} from a CSV with a ``file`` column and ``column``; names the file and column at fault."""
    if not csv_path.is_file():
        raise FileNotFoundError(f"no labels file {csv_path} (a CSV with columns 'file' and the label column)")
    with csv_path.open() as f:
        rows = list(csv.DictReader(f))
    if not rows or "file" not in rows[0] or column not in rows[0]:
        found = list(rows[0]) if rows else []
        raise KeyError(f"{csv_path} needs columns 'file' and '{column}' (label_column), has {found}")
    return {row["file"]: row[column] for row in rows}


def encode_labelled(
    encoders: dict[str, nn.Module], dataset: VideoFolderDataset, labels: dict[str, str], batch_size: int,
    device: torch.device, seed: int | None = None, precision: str = "fp32",
) -> tuple[dict[str, Tensor], list[str]]:
    """Each encoder's patch features (num_videos, N, D) in fp16 of every readable video (decoded once for all
    encoders; computed in ``precision``), and the class of each. With the dataset's ``segments`` = S, each video's S
    clips are encoded apart and their tokens concatenated in time order (N = S x tokens per clip). An unreadable
    video is left out; a video without a label is an error naming it. ``seed`` draws the random choices of a
    training transform."""
    features: dict[str, list[Tensor]] = {name: [] for name in encoders}
    classes = []
    batches = math.ceil(len(dataset) / batch_size)
    for indices, clips in tqdm(clip_batches(dataset, batch_size, seed), desc="encode", total=batches):
        for i in indices:
            if dataset.paths[i].name not in labels:
                raise KeyError(f"video {dataset.paths[i]} has no row in the labels file")
            classes.append(labels[dataset.paths[i].name])
        segments = rearrange(clips.to(device), "b c (s t) h w -> (b s) c t h w", s=dataset.segments)
        for name, encoder in encoders.items():
            tokens = rearrange(encode(encoder, segments, precision=precision), "(b s) n d -> b (s n) d",
                               s=dataset.segments)
            features[name].append(tokens.to("cpu", torch.float16))
    if not classes:
        raise ValueError(f"no readable videos in {dataset.root}")
    return {name: torch.cat(chunks) for name, chunks in features.items()}, classes


def class_order(classes: list[str]) -> list[str]:
    """Distinct class names, integers in numeric order first, then the rest alphabetically."""
    return sorted(set(classes), key=lambda c: (0, int(c), "") if c.lstrip("-").isdigit() else (1, 0, c))


def train_head(
    head: nn.Module, features: Tensor, targets: Tensor, train_idx: Tensor, val_idx: Tensor, hp: DictConfig,
    seed: int, logger: MetricsLogger, name: str, device: torch.device, views: Tensor | None = None,
) -> dict[str, float]:
    """AdamW with a warm-up + cosine schedule (``hp``: lr, weight_decay, epochs, batch_size) on cross-entropy over
    ``train_idx``; loss and top-1 on both splits (of ``features``) after the last epoch. With ``views`` (V,
    num_videos, N, D), each training sample is a random one of its V views, drawn afresh every epoch."""
    head.to(device)
    optimizer = torch.optim.AdamW(head.parameters(), lr=hp.lr, weight_decay=hp.weight_decay)
    steps_per_epoch = math.ceil(len(train_idx) / hp.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=hp.lr, total_steps=hp.epochs * steps_per_epoch,
                                                   pct_start=0.1, anneal_strategy="cos")
    generator = torch.Generator().manual_seed(seed)
    progress = tqdm(range(hp.epochs), desc=name)
    for epoch in progress:
        head.train()
        total = torch.zeros((), device=device)  # summed on the device: one read-back an epoch
        for batch in train_idx[torch.randperm(len(train_idx), generator=generator)].split(hp.batch_size):
            if views is None:
                x = features[batch]
            else:  # a random view of each sample
                x = views[torch.randint(len(views), batch.shape, generator=generator), batch]
            loss = F.cross_entropy(head(x.to(device, torch.float32)), targets[batch].to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.detach() * len(batch)
        train_loss = total.item() / len(train_idx)
        scores = {"train_top1": top1(head, features, targets, train_idx, device),
                  "val_top1": top1(head, features, targets, val_idx, device)}
        logger.log(epoch + 1, {f"{name}/train_loss": train_loss, **{f"{name}/{k}": v for k, v in scores.items()}})
        progress.set_postfix(loss=f"{train_loss:.3f}", val=f"{scores['val_top1']:.3f}")
    return {"train_loss": train_loss, **scores}


@torch.no_grad()
def top1(head: nn.Module, features: Tensor, targets: Tensor, idx: Tensor, device: torch.device) -> float:
    if len(idx) == 0:
        return float("nan")
    head.eval()
    correct = sum(int((head(features[b].to(device, torch.float32)).argmax(-1).cpu() == targets[b]).sum())
                  for b in idx.split(256))
    return correct / len(idx)


def run_attentive_probe(cfg: DictConfig) -> dict[str, Any]:
    """Probe as configured into ``output`` (one probe at a time there); returns the summary (also written)."""
    schema.check(cfg)
    out = Path(cfg.output) if cfg.output else beside(cfg.checkpoint, "attentive_probe")
    with RunDir(out, "vjepa-attentive-probe", key="output") as run:
        return _run_attentive_probe(cfg, out, run)


def _run_attentive_probe(cfg: DictConfig, out: Path, run: RunDir) -> dict[str, Any]:
    torch.manual_seed(cfg.seed)
    set_threads(cfg.threads)
    device = resolve_device(cfg.device)
    encoder, train_cfg = load_encoder(cfg.checkpoint, which=cfg.which, device=device)
    data_cfg = train_cfg["data"]
    videos = Path(cfg.videos)
    labels = read_class_labels(Path(cfg.labels) if cfg.labels else videos / "labels.csv", cfg.label_column)
    size = cfg.size or data_cfg["crop_size"]
    dataset = VideoFolderDataset(
        videos, frames_per_clip=cfg.frames_per_clip or data_cfg["frames_per_clip"],
        frame_step=cfg.frame_step or data_cfg["frame_step"], transform=VideoTransform(size=size, train=False),
        random_start=False, segments=cfg.clips_per_video,
    )
    encoders = {"pretrained": encoder}
    if cfg.random_baseline:  # the same architecture, freshly initialised: what pretraining has to beat
        encoders["random_init"] = reinitialized(encoder)
    run.claim()
    logger = MetricsLogger(out, start_step=0)  # a probe starts afresh: an earlier one's curves are dropped
    all_features, classes = encode_labelled(encoders, dataset, labels, cfg.batch_size, device,
                                            precision=cfg.precision)
    all_views: dict[str, Tensor | None] = dict.fromkeys(encoders)  # (V, num_videos, N, D) per encoder, or None
    if cfg.train_views:
        aug = cfg.augment
        augmented = VideoFolderDataset(
            videos, frames_per_clip=dataset.frames_per_clip, frame_step=dataset.frame_step, random_start=False,
            segments=cfg.clips_per_video, transform=VideoTransform(
                size=size, train=True, scale=tuple(aug.scale), ratio=tuple(aug.ratio), hflip_prob=aug.hflip),
        )
        views = [encode_labelled(encoders, augmented, labels, cfg.batch_size, device, cfg.seed + view, cfg.precision)[0]
                 for view in range(cfg.train_views)]  # the same videos in order: a view's failures are the centre's
        all_views = {which: torch.stack([view[which] for view in views]) for which in encoders}
    t, h, w = encoder.grid(torch.empty(1, 3, dataset.frames_per_clip, size, size, device="meta"))  # one clip's
    grid = (cfg.clips_per_video * t, h, w)  # the clips' tokens one after the other in time
    names = class_order(classes)
    targets = torch.tensor([names.index(c) for c in classes])
    n_val = int(round(len(targets) * cfg.val_fraction))
    counts = np.bincount(targets.numpy(), minlength=len(names))
    summary: dict[str, Any] = {
        "checkpoint": str(cfg.checkpoint), "videos": str(videos), "label_column": cfg.label_column, "classes": names,
        "num_train": len(targets) - n_val, "num_val": n_val, "grid": list(grid), "repeats": cfg.repeats,
        "train_views": cfg.train_views,
        "chance_top1": float(counts.max() / counts.sum()),
    }
    runs: dict[str, dict[str, list[dict[str, float]]]] = {which: {} for which in all_features}
    for repeat in range(cfg.repeats):  # a new split and new heads each time: the probe's own spread
        seed = cfg.seed + repeat
        order = torch.randperm(len(targets), generator=torch.Generator().manual_seed(seed))
        val_idx, train_idx = order[:n_val], order[n_val:]
        for which, features in all_features.items():
            torch.manual_seed(seed)
            dim = features.shape[-1]
            heads = {
                "attentive": AttentiveClassifier(dim, len(names), cfg.probe.num_heads or encoder.num_heads,
                                                 cfg.probe.num_queries, grid=grid if cfg.probe.pos_embed else None),
                "mean_linear": MeanPoolClassifier(dim, len(names)),
            }
            for name, head in heads.items():
                result = train_head(head, features, targets, train_idx, val_idx, cfg.probe, seed, logger,
                                    f"{which}/{name}/run{repeat}", device, all_views[which])
                runs[which].setdefault(name, []).append(result)
    logger.close()
    for which, by_head in runs.items():
        summary[which] = {name: {**{k: float(np.mean([r[k] for r in results])) for k in results[0]},
                                 "val_top1_std": float(np.std([r["val_top1"] for r in results])), "runs": results}
                          for name, results in by_head.items()}
    write_text_atomic(out / "attentive_probe.json", json.dumps(summary, indent=2))
    for which in encoders:
        parts = [f"{name} {summary[which][name]['val_top1']:.3f} ± {summary[which][name]['val_top1_std']:.3f}"
                 for name in ("attentive", "mean_linear")]
        print(f"{which}: val top-1 (mean ± std over {cfg.repeats} splits) " + ", ".join(parts))
    print(f"(majority class {summary['chance_top1']:.3f}); wrote {out / 'attentive_probe.json'}")
    return summary


@command("attentive_probe")
def main(cfg: DictConfig) -> None:
    run_attentive_probe(cfg)


if __name__ == "__main__":
    main()
