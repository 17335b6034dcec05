"""Frozen-feature probe on generated moving-shape videos: do pretrained features encode the motion?

Generates labelled videos of one bouncing shape each (``max_shapes``), encodes the first clip of every probe video
with a frozen encoder (the EMA target encoder by default), fits a
ridge-regression probe on the flattened patch features of a training split, and reports on the held-out split:
accuracy of the main shape's direction of motion (8 classes, chance 12.5%; the compass direction of the predicted
velocity), R² of its velocity (vx, vy) and R² of its position in the first frame (x0, y0). The same probe, with
the same ridge-strength selection, is fitted on a randomly initialised encoder of the same architecture and on the
clips' raw pixels as baselines.

    vjepa-probe checkpoint=runs/pretrain/latest.pt
    vjepa-probe 'checkpoint=runs/pretrain/step_*.pt'     # a run's kept checkpoints: probe_curve.json / .png
"""

from __future__ import annotations

import csv
import glob
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from tqdm import tqdm

from configs.schema import probe as schema
from vjepa.data import VideoFolderDataset, VideoTransform
from vjepa.data.synthetic import direction_class, make_moving_shapes, moving_shapes_settings
from vjepa.eval import beside
from vjepa.inference import clip_batches, encode, load_encoder
from vjepa.models import VisionTransformer
from vjepa.models.blocks import reinitialized
from vjepa.models.factory import build_encoder
from vjepa.runtime.checkpoint import load_checkpoint
from vjepa.runtime.command import command
from vjepa.runtime.device import resolve_device
from vjepa.runtime.run_dir import write_text_atomic
from vjepa.runtime.threads import set_threads


def read_labels(folder: Path) -> dict[str, dict[str, str]]:
    with (folder / "labels.csv").open() as f:
        return {row["file"]: row for row in csv.DictReader(f)}


def batch_features(encoder: VisionTransformer, clips: torch.Tensor, per_block: bool = False,
                   precision: str = "fp32") -> dict[str, torch.Tensor]:
    """Flattened patch features of a batch of clips, computed in ``precision`` (fp32, bf16 or auto): {"output":
    (B, N * D)} and, with ``per_block``, from the same forward pass the layer-normalised output of the patch embedding
    and of every block, {"embed": (B, N * D), "block1": ..., ...} — which layer holds what the probe reads."""
    outputs: dict[str, torch.Tensor] = {}

    def keep(name: str):
        def hook(module, inputs, output):
            output = output[0] if isinstance(output, tuple) else output
            outputs[name] = F.layer_norm(output, output.shape[-1:]).flatten(1)
        return hook

    modules = {"embed": encoder.patch_embed, **{f"block{i + 1}": b for i, b in enumerate(encoder.blocks)}}
    handles = [module.register_forward_hook(keep(name)) for name, module in modules.items()] if per_block else []
    try:
        outputs["output"] = encode(encoder, clips.to(next(encoder.parameters()).device), precision=precision).flatten(1)
    finally:
        for handle in handles:
            handle.remove()
    return outputs


def probe_inputs(
    encoders: Mapping[str, VisionTransformer], dataset: VideoFolderDataset, per_block: bool = False,
    batch_size: int = 16, precision: str = "fp32",
) -> tuple[dict[str, dict[str, np.ndarray]], list[int]]:
    """Decode the first clip of every readable video once and compute what each probe reads: for every encoder its
    features ({"output": (num_videos, N * D)} plus, with ``per_block``, every layer's), and the clips' normalised
    pixels ({"raw_pixels": {"output": (num_videos, C * T * H * W)}}, the no-encoder baseline); with the indices
    of the videos they are of (`clip_batches`: an unreadable one is left out)."""
    chunks: dict[str, dict[str, list[np.ndarray]]] = {}
    kept: list[int] = []
    batches = tqdm(clip_batches(dataset, batch_size), desc="encode", leave=False,
                   total=math.ceil(len(dataset) / batch_size))
    for indices, clips in batches:
        kept += indices
        batch = {name: batch_features(encoder, clips, per_block, precision) for name, encoder in encoders.items()}
        batch["raw_pixels"] = {"output": clips.flatten(1)}
        for name, layers in batch.items():
            for layer, x in layers.items():
                chunks.setdefault(name, {}).setdefault(layer, []).append(x.float().cpu().numpy())
    inputs = {name: {layer: np.concatenate(x) for layer, x in layers.items()} for name, layers in chunks.items()}
    return inputs, kept


def ridge_predictions(
    x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, alphas: list[float]
) -> dict[float, np.ndarray]:
    """Closed-form ridge regression in the dual (samples ≪ features) on standardised features, for every ridge
    strength in ``alphas`` from one eigendecomposition of the training kernel: {alpha: predictions on x_test}."""
    mean, std = x_train.mean(0), x_train.std(0) + 1e-6
    a, b = (x_train - mean) / std, (x_test - mean) / std
    y_mean = y_train.mean(0)
    eigenvalues, eigenvectors = np.linalg.eigh(a @ a.T)
    projected = eigenvectors.T @ (y_train - y_mean)
    test_kernel = b @ a.T
    return {
        alpha: test_kernel @ (eigenvectors @ (projected / (eigenvalues + alpha * len(a))[:, None])) + y_mean
        for alpha in alphas
    }


def r2_score(y: np.ndarray, pred: np.ndarray) -> float:
    return float(1.0 - ((y - pred) ** 2).sum() / ((y - y.mean(0)) ** 2).sum())


def direction_accuracy(velocity: np.ndarray, predicted: np.ndarray) -> float:
    """Share of samples whose predicted velocity points in the same of 8 compass directions as the true one."""
    return float(np.mean([direction_class(v) == direction_class(p) for v, p in zip(velocity, predicted)]))


def probe_scores(features: np.ndarray, labels: list[dict[str, str]], train_fraction: float = 0.7) -> dict[str, float]:
    """Direction accuracy, velocity R² and position R² on the held-out split, each with its ridge strength
    picked on a validation part of the training split."""
    targets = np.array([[float(row[key]) for key in ("vx", "vy", "x0", "y0")] for row in labels])
    n_train = int(len(labels) * train_fraction)
    fit, val = slice(0, int(n_train * 0.8)), slice(int(n_train * 0.8), n_train)
    train, test = slice(0, n_train), slice(n_train, None)
    tasks = {  # direction: the compass class of the predicted velocity against the label's (direction_class)
        "direction_accuracy": (slice(0, 2), direction_accuracy),
        "velocity_r2": (slice(0, 2), r2_score),
        "position_r2": (slice(2, 4), r2_score),
    }
    alphas = [1e-2, 1e-1, 1.0, 10.0, 100.0, 1000.0]
    on_val = ridge_predictions(features[fit], targets[fit], features[val], alphas)
    on_test = ridge_predictions(features[train], targets[train], features[test], alphas)
    results = {}
    for name, (columns, score) in tasks.items():
        alpha = max(alphas, key=lambda a: score(targets[val, columns], on_val[a][:, columns]))
        results[name] = score(targets[test, columns], on_test[alpha][:, columns])
        results[name.rsplit("_", 1)[0] + "_ridge_alpha"] = alpha
    return results


def random_twin(encoder: VisionTransformer, model_cfg: Mapping[str, Any]) -> VisionTransformer:
    """The same architecture, randomly initialised (eval mode), on ``encoder``'s device: built from the checkpoint's
    model config, or, for released weights of no preset size, re-initialised from a copy of ``encoder``."""
    if model_cfg.get("size") is not None:
        return build_encoder(model_cfg).to(next(encoder.parameters()).device).eval()
    return reinitialized(encoder).requires_grad_(False).eval()


def probe_videos(cfg: DictConfig, data_cfg: Mapping[str, Any]) -> tuple[VideoFolderDataset, dict[str, dict]]:
    """The labelled probe videos at ``cfg.videos`` (generated on first use, at the pretraining clip's length and
    size) as a dataset of first clips, and their labels by file name."""
    folder = Path(cfg.videos)
    settings = moving_shapes_settings(num_videos=cfg.num_videos, num_frames=data_cfg["frames_per_clip"] *
                                      data_cfg["frame_step"], size=data_cfg["crop_size"], fps=8, seed=cfg.seed,
                                      max_shapes=cfg.max_shapes)
    recorded = folder / "generator.json"
    if not recorded.is_file():
        if folder.exists() and any(folder.iterdir()):
            raise FileExistsError(f"videos={folder} is not empty and has no generator.json: the probe generates its "
                                  "own labelled videos; point videos= at a new folder")
        make_moving_shapes(folder, **settings)
    elif (found := json.loads(recorded.read_text())) != settings:
        raise ValueError(f"videos={folder} holds probe videos made with {found}, these settings ask for {settings}; "
                         "point videos= at a new folder (or delete that one)")
    dataset = VideoFolderDataset(
        folder, frames_per_clip=data_cfg["frames_per_clip"], frame_step=data_cfg["frame_step"],
        transform=VideoTransform(size=data_cfg["crop_size"], train=False), random_start=False,
    )
    return dataset, read_labels(folder)


def run_probe(cfg: DictConfig) -> dict[str, Any]:
    torch.manual_seed(cfg.seed)
    encoder, train_cfg = load_encoder(cfg.checkpoint, which=cfg.encoder, device=resolve_device(cfg.device))
    dataset, by_file = probe_videos(cfg, train_cfg["data"])
    random_encoder = random_twin(encoder, train_cfg["model"])
    inputs, kept = probe_inputs({"pretrained": encoder, "random_init": random_encoder}, dataset,
                                cfg.per_block, precision=cfg.precision)
    labels = [by_file[dataset.paths[i].name] for i in kept]
    results: dict[str, Any] = {name: probe_scores(layers["output"], labels) for name, layers in inputs.items()}
    results |= {"num_videos": len(kept), "checkpoint": str(cfg.checkpoint)}
    per_block = {name: {layer: probe_scores(x, labels) for layer, x in layers.items() if layer != "output"}
                 for name, layers in inputs.items() if name != "raw_pixels" and len(layers) > 1}
    if per_block:
        results["per_block"] = per_block
    return results


def run_probe_curve(cfg: DictConfig, checkpoints: list[Path]) -> dict[str, Any]:
    """The probe of every checkpoint of a run (``keep_every``'s step_XXXXXXX.pt), in training-step order, beside the
    random-init and raw-pixel baselines computed once: how the features learn the motion along the run. Each
    checkpoint is read once."""
    torch.manual_seed(cfg.seed)
    probed, baselines = [], None
    for path in tqdm(sorted(checkpoints), desc="checkpoints"):
        state = load_checkpoint(path, map_location="cpu")
        encoder, run_cfg = load_encoder(path, which=cfg.encoder, device=resolve_device(cfg.device), contents=state)
        if baselines is None:  # the first checkpoint sets the probe videos and the baselines' architecture
            first, train_cfg = path, run_cfg
            dataset, by_file = probe_videos(cfg, train_cfg["data"])
            inputs, kept = probe_inputs({"random_init": random_twin(encoder, train_cfg["model"])}, dataset,
                                        precision=cfg.precision)
            labels = [by_file[dataset.paths[i].name] for i in kept]
            baselines = {name: probe_scores(layers["output"], labels) for name, layers in inputs.items()}
        elif run_cfg["data"] != train_cfg["data"]:
            raise ValueError(f"{path} was trained on clips of {run_cfg['data']}, {first} on {train_cfg['data']}: "
                             "a curve needs one kind of probe video")
        features, _ = probe_inputs({"pretrained": encoder}, dataset, precision=cfg.precision)
        probed.append((state["step"], str(path), probe_scores(features["pretrained"]["output"], labels)))
    probed.sort(key=lambda entry: entry[0])
    steps, paths, scores = (list(column) for column in zip(*probed))
    return {**baselines, "steps": steps, "checkpoints": paths, "pretrained": scores, "num_videos": len(kept)}


def save_probe_curve(results: Mapping[str, Any], path: Path) -> Path:
    """A picture of the probe along a run: each readout against the training step, the baselines as lines."""
    from matplotlib.figure import Figure

    readouts = {"direction_accuracy": "direction accuracy", "velocity_r2": "velocity R²", "position_r2": "position R²"}
    figure = Figure(figsize=(4 * len(readouts), 3.2), layout="constrained")
    for ax, (key, title) in zip(figure.subplots(1, len(readouts)), readouts.items()):
        ax.plot(results["steps"], [r[key] for r in results["pretrained"]], "o-", label="pretrained")
        for name, style in (("random_init", "--"), ("raw_pixels", ":")):
            ax.axhline(results[name][key], color="grey", linestyle=style, label=name.replace("_", " "))
        ax.set(title=title, xlabel="training step")
    figure.axes[0].legend(fontsize=8)
    figure.savefig(path, dpi=100)
    return path


@command("probe")
def main(cfg: DictConfig) -> None:
    probe_and_write(cfg)


def probe_and_write(cfg: DictConfig) -> None:
    """`vjepa-probe`: one checkpoint's probe printed and written as JSON, or, for a checkpoint pattern, the curve of
    a run's kept checkpoints as JSON and a picture."""
    schema.check(cfg)
    set_threads(cfg.threads)
    if any(c in str(cfg.checkpoint) for c in "*?["):  # a pattern: every kept checkpoint of a run
        checkpoints = [Path(p) for p in glob.glob(str(cfg.checkpoint))]
        if not checkpoints:
            raise FileNotFoundError(f"checkpoint={cfg.checkpoint} matches no file")
        curve = run_probe_curve(cfg, checkpoints)
        out = Path(cfg.output) if cfg.output else checkpoints[0].parent / "probe_curve.json"
        write_text_atomic(out, json.dumps(curve, indent=2))
        print(f"wrote {out} and {save_probe_curve(curve, out.with_suffix('.png'))}")
        return
    results = run_probe(cfg)
    print(f"{'encoder':<22} {'direction acc':>14} {'velocity R²':>12} {'position R²':>12}")
    rows = [(name, results[name]) for name in ("pretrained", "random_init", "raw_pixels")]
    for name, layers in results.get("per_block", {}).items():
        rows += [(f"{name} {layer}", r) for layer, r in layers.items()]
    for name, r in rows:
        print(f"{name:<22} {r['direction_accuracy']:>14.3f} {r['velocity_r2']:>12.3f} {r['position_r2']:>12.3f}")
    out = Path(cfg.output) if cfg.output else beside(cfg.checkpoint, "probe", ".json")
    write_text_atomic(out, json.dumps(results, indent=2))  # beside a checkpoint: no directory of its own to claim
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
