"""`vjepa-demo`: the whole loop on a CPU in one command (configs/demo.yaml).

    vjepa-demo                                   # runs/demo: collect -> pretrain -> train AC -> plan
    vjepa-demo out=/tmp/demo planners=[cem,mppi,gradient,random] plan.episodes=50
    vjepa-demo pretrain.steps=3000 train_ac.steps=4000 +pretrain.model.size=vit_small

1. **collect** exploration episodes in the env (``vjepa-collect``), with an mp4 per episode;
2. **pretrain** a V-JEPA encoder on those videos (``vjepa-pretrain data=video_folder``);
3. **train_ac**: an action-conditioned predictor on the frozen encoder's features (``vjepa-train-ac``), its k-step
   errors on the held-out episodes against the copy-last and zero-action baselines (``vjepa-eval-ac``), and, when
   ``plan.energy.probe_weight`` or ``state_weight`` is > 0, a linear state probe on its features (`planning.probe`);
4. **plan** to goal images with each planner in ``planners`` (``vjepa-plan``), ``random`` being the baseline;
   then an energy-landscape picture of one episode (`planning.visualize`).

The sections ``collect``, ``pretrain``, ``train_ac`` and ``plan`` of the config are merged into the stage's own
config (configs/collect.yaml, pretrain.yaml, train_ac.yaml, plan.yaml), so any of their keys can be set here (``+``
for keys the demo config does not list). Each stage skips itself when its output is complete (collect:
``meta.json``; training: ``latest.pt`` at its last step; plan: ``summary.json``) and training resumes from
``latest.pt``, so rerunning the command resumes an interrupted demo. Everything lands under ``out``;
``out/demo_summary.json`` ends it.
"""

from __future__ import annotations

import json
import time
from functools import partial
from pathlib import Path
from typing import Any

import hydra
import torch
from omegaconf import DictConfig, OmegaConf

from configs.schema.demo import check_demo
from configs.schema.landscape import LandscapeConfig
from planning.cli import format_summary, load_configured_world_model, make_energy, plan
from planning.stages import stage_config
from vjepa.runtime.errors import user_errors
from vjepa.runtime.run_dir import RunDir, write_text_atomic
from vjepa.runtime.threads import set_threads

RUNTIME_KEYS = ("device", "precision", "threads")


def runtime_settings(cfg: DictConfig) -> dict[str, Any]:
    """The demo's runtime keys every stage computes with (``device``, ``precision``, ``threads``), those set (not
    null): a stage's own section can still override them."""
    return {key: cfg[key] for key in RUNTIME_KEYS if cfg[key] is not None}


def _plan_settings(cfg: DictConfig, planner: str | None) -> dict[str, Any]:
    """The ``plan`` section plus ``planner_settings.<planner>`` (when a planner is named) merged into its
    ``planner`` key, with the demo's env config (the one the data was collected in) under the plan section's own
    ``env`` settings."""
    own = cfg.planner_settings[planner] if planner in cfg.planner_settings else {}
    merged = OmegaConf.merge({"env": cfg.env}, cfg.plan, {"planner": own})
    return OmegaConf.to_container(merged, resolve=True)


def _checkpoint_step(path: Path) -> int:
    if not path.is_file():
        return -1
    return int(torch.load(path, map_location="cpu", weights_only=False).get("step", -1))


def _log(message: str) -> None:
    print(f"[demo] {message}", flush=True)


def run_demo(cfg: DictConfig) -> dict[str, Any]:
    """Run (or resume) the demo's stages; returns its summary (also written to ``out/demo_summary.json``)."""
    with RunDir(cfg.out, "vjepa-demo", key="out") as run:  # one demo at a time; each stage claims its own folder
        return _run_demo(cfg, run)


def _run_demo(cfg: DictConfig, run: RunDir) -> dict[str, Any]:
    from envs.collect import collect
    from vjepa.train.pretrain import pretrain
    from vjepa.train.train_ac import train_ac

    set_threads(cfg.threads)
    stage = partial(stage_config, runtime=runtime_settings(cfg))
    out = Path(cfg.out)
    times: dict[str, float] = {}
    skipped: list[str] = []  # stages whose output existed: their times come from the run that made them
    start = time.perf_counter()

    # the env config (the demo's env group, configs/env/<name>.yaml) both collects the data and is planned in
    env_cfg = check_demo(cfg)
    data = out / "data"
    collect_cfg = stage_config("collect", [], cfg.collect, {  # no runtime keys: collecting computes nothing
        "env_id": env_cfg.id, "image_size": env_cfg.kwargs["image_size"], "out": str(data), "overwrite": True,
        "videos": True})
    run.claim(cfg)

    # 1. collect
    t0 = time.perf_counter()
    if (data / "meta.json").is_file():
        _log(f"collect: {data} exists, skipped")
        skipped.append("collect_s")
    else:
        c = collect_cfg
        _log(f"collect: {c.episodes} episodes x {c.length} frames of {c.env_id} ({c.policy}, actions held "
             f"{c.hold} steps) -> {data}")
        collect(collect_cfg)
    times["collect_s"] = time.perf_counter() - t0

    # 2. pretrain the encoder on the episodes' videos
    pre_dir = out / "pretrain"
    pre_cfg = stage("pretrain", ["data=video_folder"], cfg.pretrain, {
        "data.path": str(data / "videos"), "run_dir": str(pre_dir)})
    t0 = time.perf_counter()
    if _checkpoint_step(pre_dir / "latest.pt") >= pre_cfg.steps:
        _log(f"pretrain: {pre_dir / 'latest.pt'} complete, skipped")
        skipped.append("pretrain_s")
    else:
        _log(f"pretrain: {pre_cfg.model.size} encoder, {pre_cfg.steps} steps -> {pre_dir}")
        pretrain(pre_cfg)
    times["pretrain_s"] = time.perf_counter() - t0

    # 3. action-conditioned predictor on the frozen encoder
    ac_dir = out / "train_ac"
    ac_cfg = stage("train_ac", [], cfg.train_ac, {
        "encoder": str(pre_dir / "latest.pt"), "data.path": str(data), "run_dir": str(ac_dir)})
    t0 = time.perf_counter()
    if _checkpoint_step(ac_dir / "latest.pt") >= ac_cfg.steps:
        _log(f"train_ac: {ac_dir / 'latest.pt'} complete, skipped")
        skipped.append("train_ac_s")
    else:
        _log(f"train_ac: predictor {dict(ac_cfg.ac)}, {ac_cfg.steps} steps, frame_step {ac_cfg.data.frame_step} "
             f"-> {ac_dir}")
        train_ac(ac_cfg)
    times["train_ac_s"] = time.perf_counter() - t0

    # 3a. its k-step errors on the held-out episodes against the two baselines
    t0 = time.perf_counter()
    eval_path = ac_dir / "eval_ac.json"
    if eval_path.is_file():
        _log(f"eval_ac: {eval_path} exists, skipped")
        skipped.append("eval_ac_s")
    else:
        from vjepa.eval.eval_ac import evaluate_ac, format_table

        results_ac = evaluate_ac(stage("eval_ac", [], {}, {"checkpoint": str(ac_dir / "latest.pt")}))
        _log(f"eval_ac -> {eval_path}\n{format_table(results_ac)}")
    times["eval_ac_s"] = time.perf_counter() - t0

    # 3b. a linear state probe on the world model's features, for a long-range planning energy
    t0 = time.perf_counter()
    probe_path = ac_dir / "probe.pt"
    world_model = {"world_model": str(ac_dir / "latest.pt")}
    probe_cfg = stage("plan", [], _plan_settings(cfg, None), world_model)  # the features the planners see
    if probe_cfg.energy.probe_weight > 0 or probe_cfg.energy.state_weight > 0:
        if probe_path.is_file():
            _log(f"probe: {probe_path} exists, skipped")
            skipped.append("probe_s")
        else:
            from planning.probe import fit_probe

            model = load_configured_world_model(probe_cfg)
            probe, info = fit_probe(model, data, cfg.probe_frames)
            probe.save(probe_path, **info)
            _log(f"probe: fitted on {info['frames']} frames, held-out MAE per state dim "
                 f"{[round(v, 4) for v in info['val_mae']]} -> {probe_path}")
    times["probe_s"] = time.perf_counter() - t0

    # 4. plan with each planner
    results: dict[str, dict] = {}
    for name in cfg.planners:
        run_dir = out / "plan" / str(name)
        plan_cfg = stage("plan", [f"planner={name}"], _plan_settings(cfg, name), {
            "world_model": str(ac_dir / "latest.pt"), "run_dir": str(run_dir)})
        t0 = time.perf_counter()
        summary_path = run_dir / "summary.json"
        if summary_path.is_file():
            results[str(name)] = json.loads(summary_path.read_text())
            _log(f"plan {name}: {summary_path} exists, skipped")
            skipped.append(f"plan_{name}_s")
        else:
            results[str(name)] = plan(plan_cfg)
        times[f"plan_{name}_s"] = time.perf_counter() - t0

    if cfg.landscape and cfg.planners:
        t0 = time.perf_counter()
        picture = out / "plan" / "landscape.png"
        if picture.is_file():
            skipped.append("landscape_s")
        else:
            from planning.visualize import landscape_figure
            first = cfg.planners[0]
            plan_cfg = stage("plan", [f"planner={first}"], _plan_settings(cfg, first), world_model)
            model = load_configured_world_model(plan_cfg)
            energy, _ = make_energy(plan_cfg, ac_dir / "latest.pt")
            landscape_figure(model, plan_cfg.env, seed=plan_cfg.seed, horizon=plan_cfg.planner.horizon,
                             out=picture, grid=LandscapeConfig.grid, energy=energy)
            _log(f"energy landscape of episode 0 -> {picture}")
        times["landscape_s"] = time.perf_counter() - t0

    times["total_s"] = time.perf_counter() - start
    summary_path = out / "demo_summary.json"
    previous = json.loads(summary_path.read_text()).get("times", {}) if summary_path.is_file() else {}
    for key in skipped:
        times[key] = previous.get(key, 0.0)
    times["stages_s"] = sum(v for k, v in times.items() if k not in ("total_s", "stages_s"))
    summary = {"out": str(out), "env": env_cfg.id, "planners": results, "times": times, "skipped": skipped}
    if eval_path.is_file():  # the world model's held-out k-step errors, next to the planners' results
        evaluated = json.loads(eval_path.read_text())
        summary["world_model"] = {key: evaluated[key] for key in ("feature_l1", "state_l1")}
        f = evaluated["feature_l1"]
        errors = "; ".join(f"{name.replace('_', '-')} " + ", ".join(f"{v:.3f}" for v in f[name])
                           for name in ("predictor", "copy_last", "zero_action"))
        _log(f"world model, held-out feature L1 at k = 1..{len(f['predictor'])}: {errors} ({eval_path})")
    write_text_atomic(summary_path, json.dumps(summary, indent=2))
    _log("results (success = final position within the env's threshold of the goal):")
    for result in results.values():
        print("  " + format_summary(result))
    if results:
        plan_cfg = stage("plan", [], _plan_settings(cfg, str(cfg.planners[0])), {})
        energy = " ".join(f"energy.{k}={v}" for k, v in plan_cfg.energy.items())
        _log(f"plan again: vjepa-plan world_model={ac_dir / 'latest.pt'} planner=NAME env={cfg.env.name} "
             f"episodes={plan_cfg.episodes} seed={plan_cfg.seed} {energy} run_dir=DIR")
    _log(f"this run {times['total_s'] / 60:.1f} min; all stages {times['stages_s'] / 60:.1f} min: "
         + ", ".join(f"{k} {v:.0f}s" + (" (earlier)" if k in skipped else "") for k, v in times.items()
                     if k not in ("total_s", "stages_s")))
    return summary


@hydra.main(config_path="pkg://configs", config_name="demo", version_base="1.3")
@user_errors
def main(cfg: DictConfig) -> None:
    run_demo(cfg)


if __name__ == "__main__":
    main()
