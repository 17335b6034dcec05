"""Evaluate an action-conditioned predictor on held-out episodes: k-step feature errors against two baselines.

On windows of ``context + K`` steps from the episodes the checkpoint held out (the same split as training), the
predictor rolls out K steps autoregressively from ``context`` ground-truth steps with the true actions, and its
L1 error to the true features (in the predictor's feature space, `FeatureNorm`) is reported for every k = 1..K, next to:

- **copy-last**: predict that nothing changes (the last context frame's features), and
- **zero-action**: the same predictor with every action zeroed in normalised units (= the mean action), which
  shows how much of its accuracy comes from the actions.

A teacher-forced row (next-step prediction from the true history, averaged over every position of the window,
as in the training loss) and the L1 error of the predicted proprioceptive state (env units; predictor, copy-last
and zero-action) come with it.

With ``oracle=true``, a diagnostic column too: **state-oracle**, the features of the training frame whose
proprioceptive state is nearest to the target's *true* state. It is not an agent (it reads the answer's state);
it says how much of the features the state determines. Far below the predictor, the features are a function of
the state that the predictor has not learnt, which ``ac.state_decoder`` is for.

``eval_ac.png`` beside the JSON maps the errors over the token grid (a row per predictor / baseline, a column per
k): where in the frame each one is wrong (``end_to_end.embedding=pooled``: one cell, the frame's embedding).

    vjepa-eval-ac checkpoint=runs/train_ac/latest.pt [horizon=4] [split=val]
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from configs.schema import eval_ac as schema
from configs.schema import merged
from configs.schema.train_ac import TrainAC
from vjepa.data.ac_dataset import ActionStats, ClipWindows, episode_lowdim
from vjepa.data.feature_cache import FeatureCache, prepare_features
from vjepa.eval import beside
from vjepa.runtime.command import command
from vjepa.runtime.device import autocast_context, resolve_device
from vjepa.runtime.run_dir import write_text_atomic
from vjepa.runtime.threads import set_threads
from vjepa.train.ac_checkpoint import ACCheckpoint
from vjepa.train.train_ac import WindowSubset, open_dataset, spread_stride, windows_of

BASELINES = ("predictor", "copy_last", "zero_action")


def _l1(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-sample, per-step L1: (B, K, ...) -> (B, K)."""
    return (pred - target).abs().flatten(2).mean(-1)


def _token_l1(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-step, per-token L1 summed over the batch: (B, K, N, D) -> (K, N)."""
    return (pred - target).abs().mean(-1).sum(0)


class StateOracle:
    """Features of the training frame nearest in (normalised) proprioceptive state: ``(B, K, S) -> (B, K, N, D)``.
    A bank of at most ``max_frames`` frames, evenly spread in time over ``episodes``; ``feature_space`` maps the
    cached encoder features into the predictor's."""

    def __init__(self, episodes: Any, cache: FeatureCache, train_eps: list[int], stats: ActionStats,
                 feature_space: nn.Module, max_frames: int, device: torch.device) -> None:
        every = spread_stride(cache, train_eps, max_frames)
        states, features = [], []
        for e in train_eps:
            states.append(torch.from_numpy(episode_lowdim(episodes, e)[1][::every]))
            features.append(torch.from_numpy(cache.get(e)[::every].astype(np.float32)))
        self.states = stats.normalize_states(torch.cat(states)).to(device)  # (M, S)
        self.features = feature_space(torch.cat(features).to(device))  # (M, N, D)

    def __call__(self, states: torch.Tensor) -> torch.Tensor:
        nearest = torch.cdist(states.flatten(0, 1), self.states).argmin(-1)
        return self.features[nearest].unflatten(0, states.shape[:2])


@torch.inference_mode()
def evaluate_ac(cfg: DictConfig) -> dict[str, Any]:
    """Compute the table (see module docstring); returns it as a dict (also written as JSON)."""
    schema.check(cfg)
    state = ACCheckpoint.load(cfg.checkpoint)
    set_threads(cfg.threads)
    device = resolve_device(cfg.device)
    train_cfg = merged(TrainAC, state.config)  # a run from before a key existed: the schema's default
    predictor = state.build_predictor().to(device).eval()
    stats = state.action_stats
    projector = state.build_projector()  # end_to_end.embedding=pooled: the tokens pooled into one embedding
    # the cached encoder features (..., N, D) -> the predictor's feature space
    feature_space = nn.Sequential(nn.Identity() if projector is None else projector, state.feature_norm)
    feature_space.to(device).eval()

    data_cfg = OmegaConf.to_container(train_cfg.data)
    if cfg.data_path:
        data_cfg["path"] = cfg.data_path
    episodes = open_dataset(data_cfg)
    cache, enc = prepare_features(
        cfg.encoder or state.encoder_file(cfg.checkpoint), episodes, data_cfg["path"],
        which=state.encoder_which, image_size=state.image_size,
        cache_dir=cfg.feature_cache or state.feature_cache, run_dir=Path(cfg.checkpoint).parent,
        device=device, precision=train_cfg.cache_precision, progress=True,  # the training features
    )
    if enc["fingerprint"] != state.fingerprint:
        warnings.warn(
            f"the encoder {enc['encoder_checkpoint']} differs from the one the predictor was trained on "
            f"(fingerprint {enc['fingerprint'][:12]} != {state.fingerprint[:12]}); errors are not "
            "comparable",
            stacklevel=2,
        )

    eval_eps = list(range(len(episodes))) if cfg.split == "all" else list(state.split[cfg.split])
    if not eval_eps:
        raise ValueError(f"{cfg.checkpoint}: no {cfg.split} episodes (was data.val_fraction 0?); try split=all")
    context, horizon = cfg.context or train_cfg.loss.context, cfg.horizon
    length = context + horizon
    windows = ClipWindows(episodes, length, data_cfg["frame_step"], data_cfg["action_agg"], features=cache,
                          stride=cfg.stride or length, stats=stats)
    idx = windows_of(windows, eval_eps, cfg.max_windows)
    if len(idx) == 0:
        raise ValueError(f"no window of {length} steps in the {len(eval_eps)} {cfg.split} episodes; lower horizon")

    oracle = None
    if cfg.oracle:
        oracle = StateOracle(episodes, cache, list(state.split["train"]), stats, feature_space,
                             cfg.oracle_frames, device)
    names = BASELINES + (("state_oracle",) if oracle else ())
    sums = {name: torch.zeros(horizon, dtype=torch.float64) for name in names}
    token_sums = {name: torch.zeros(horizon, predictor.tokens_per_frame, dtype=torch.float64) for name in names}
    tf_sums = {name: 0.0 for name in BASELINES}
    state_sums = {name: torch.zeros(horizon, dtype=torch.float64) for name in BASELINES}
    count = 0
    loader = DataLoader(WindowSubset(windows, idx), batch_size=cfg.batch_size, num_workers=0)
    for batch in tqdm(loader, desc="eval_ac", leave=False):
        feats = feature_space(batch["features"].to(device))
        actions, states = batch["actions"].to(device), batch["states"].to(device)
        target = feats[:, context:]
        ctx_actions = actions[:, : length - 1]
        with autocast_context(cfg.precision, device):
            pred, pred_states = predictor.unroll(feats[:, :context], ctx_actions, states[:, :context])
            zero, zero_states = predictor.unroll(feats[:, :context], torch.zeros_like(ctx_actions), states[:, :context])
            # teacher forcing over every position of the window
            tf_pred, _ = predictor(feats[:, :-1], actions[:, :-1], states[:, :-1])
            tf_zero, _ = predictor(feats[:, :-1], torch.zeros_like(actions[:, :-1]), states[:, :-1])
        copy = feats[:, context - 1 : context].expand_as(target)
        outputs = {"predictor": pred, "copy_last": copy, "zero_action": zero}
        if oracle:
            outputs["state_oracle"] = oracle(states[:, context:])
        for name, value in outputs.items():
            sums[name] += _l1(value, target).sum(0).double().cpu()
            token_sums[name] += _token_l1(value, target).double().cpu()
        for name, value in (("predictor", tf_pred), ("copy_last", feats[:, :-1]), ("zero_action", tf_zero)):
            tf_sums[name] += float(_l1(value, feats[:, 1:]).mean(1).sum())
        # proprioceptive state, env units
        true_states = stats.denormalize_states(states[:, context:])
        last_state = stats.denormalize_states(states[:, context - 1 : context]).expand_as(true_states)
        predicted = {"predictor": stats.denormalize_states(pred_states), "copy_last": last_state,
                     "zero_action": stats.denormalize_states(zero_states)}
        for name, value in predicted.items():
            state_sums[name] += _l1(value, true_states).sum(0).double().cpu()
        count += len(feats)

    results: dict[str, Any] = {
        "checkpoint": str(cfg.checkpoint),
        "step": state.step,
        "split": cfg.split,
        "num_episodes": len(eval_eps),
        "num_windows": count,
        "context": context,
        "horizon": horizon,
        "frame_step": int(data_cfg["frame_step"]),
        "feature_norm": state.feature_norm.mode,
        "feature_l1": {name: (s / count).tolist() for name, s in sums.items()},
        "token_l1": {name: (s / count).tolist() for name, s in token_sums.items()},  # (K, N) per name
        "grid_hw": list(predictor.grid_hw),
        "teacher_forced_l1": {name: s / count for name, s in tf_sums.items()},
        "state_l1": {name: (s / count).tolist() for name, s in state_sums.items()},
    }
    output = Path(cfg.output) if cfg.output else beside(cfg.checkpoint, "eval_ac", ".json")
    write_text_atomic(output, json.dumps(results, indent=1))  # beside a checkpoint: no directory of its own to claim
    results["output"] = str(output)
    if cfg.figure:
        results["figure"] = str(error_map_figure(results, output.with_suffix(".png")))
    return results


def error_map_figure(results: dict[str, Any], path: str | Path) -> Path:
    """PNG of the mean feature L1 of every token of the frame grid: a row per predictor / baseline, a column per
    predicted step k, one colour scale for all."""
    from matplotlib.figure import Figure

    names = list(results["token_l1"])
    maps = np.asarray([results["token_l1"][name] for name in names])  # (names, K, N)
    maps = maps.reshape(*maps.shape[:2], *results["grid_hw"])
    figure = Figure(figsize=(1.9 * maps.shape[1] + 1.2, 1.9 * len(names) + 0.5), layout="constrained")
    axes = figure.subplots(len(names), maps.shape[1], squeeze=False)
    for row, name, name_maps in zip(axes, names, maps):
        row[0].set_ylabel(name.replace("_", "-"), fontsize=9)
        for k, (ax, grid) in enumerate(zip(row, name_maps)):
            image = ax.imshow(grid, vmin=0, vmax=float(maps.max()), cmap="magma")
            ax.set_title(f"k={k + 1}: {results['feature_l1'][name][k]:.3f}", fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
    figure.colorbar(image, ax=axes, shrink=0.8, label="feature L1 per token")
    figure.suptitle(f"{results['split']} split, {results['num_windows']} windows", fontsize=9)
    path = Path(path)
    figure.savefig(path, dpi=110)
    return path


def format_table(results: dict[str, Any]) -> str:
    """Markdown table of the k-step feature L1 errors (and state L1) against the baselines (and the state oracle,
    when evaluated)."""
    f, s, tf = results["feature_l1"], results["state_l1"], results["teacher_forced_l1"]
    feature_cols = [name for name in (*BASELINES, "state_oracle") if name in f]
    header = [name.replace("_", "-") for name in feature_cols] + ["predictor / copy-last"]
    header += [f"state L1 {name.replace('_', '-')}" for name in BASELINES]
    lines = [
        f"{results['split']} split: {results['num_episodes']} episodes, {results['num_windows']} windows; "
        f"{results['context']} context step(s); feature L1 in the predictor's feature space "
        f"({results['feature_norm']}; lower is better)",
        "",
        "| step | " + " | ".join(header) + " |",
        "|---" * (len(header) + 1) + "|",
    ]
    teacher = [f"{tf[name]:.4f}" if name in tf else "" for name in feature_cols]
    ratio = tf["predictor"] / max(tf["copy_last"], 1e-12)
    lines.append("| teacher-forced | " + " | ".join([*teacher, f"{ratio:.2f}", *[""] * len(BASELINES)]) + " |")
    for k in range(results["horizon"]):
        row = [f"{f[name][k]:.4f}" for name in feature_cols]
        row.append(f"{f['predictor'][k] / max(f['copy_last'][k], 1e-12):.2f}")
        row += [f"{s[name][k]:.4f}" for name in BASELINES]
        lines.append(f"| k={k + 1} | " + " | ".join(row) + " |")
    return "\n".join(lines)


@command("eval_ac")
def main(cfg: DictConfig) -> None:
    results = evaluate_ac(cfg)
    print(format_table(results))
    print(f"wrote {results['output']}" + (f" and {results['figure']}" if "figure" in results else ""))


if __name__ == "__main__":
    main()
