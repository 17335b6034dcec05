"""`vjepa-demo`: the whole loop on a CPU in one command (configs/demo.yaml).

    vjepa-demo                                   # runs/demo: collect -> pretrain -> train AC -> plan
    vjepa-demo out=/tmp/demo planners=[cem,mppi,gradient,random] plan.episodes=50
    vjepa-demo pretrain.steps=3000 train_ac.steps=4000 +pretrain.model.size=vit_small
    vjepa-demo env=gym env.id=Pendulum-v1 env.success_threshold=0.5 out=runs/demo_pendulum   # any gymnasium env

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
``latest.pt``, so rerunning the command resumes an interrupted demo. The env group (``env=<preset>``, keys over it)
both collects the data and is planned in: the plan stage takes it whole, in place of plan.yaml's default env.
Everything lands under ``out``; ``out/demo_summary.json`` holds the stages' times and the planners' results,
rewritten after every stage and when one fails (naming it).
"""

from __future__ import annotations

import json
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from configs.schema.demo import check_demo
from configs.schema.env import EnvConfig
from configs.schema.keys import typed
from configs.schema.landscape import LandscapeConfig
from configs.schema.plan import check_context_fits
from planning.cli import format_summary, load_configured_world_model, make_energy, make_env, plan
from planning.demo_summary import TOTALS, DemoSummary
from planning.stages import stage_config
from vjepa.runtime.command import command
from vjepa.runtime.run_dir import RunDir
from vjepa.runtime.threads import set_threads

RUNTIME_KEYS = ("device", "precision", "threads")


def runtime_settings(cfg: DictConfig) -> dict[str, Any]:
    """The demo's runtime keys every stage computes with (``device``, ``precision``, ``threads``), those set (not
    null): a stage's own section can still override them."""
    return {key: cfg[key] for key in RUNTIME_KEYS if cfg[key] is not None}


def plan_stage_config(cfg: DictConfig, planner: str | None, fixed: dict[str, Any]) -> DictConfig:
    """configs/plan.yaml (``planner=<planner>`` when one is named) with the demo's runtime keys, the ``plan`` section
    and ``planner_settings.<planner>`` (in its ``planner`` key) merged over it and the ``fixed`` values (paths). Its
    env is the demo's (the one the data was collected in) with the ``plan`` section's env keys over it, in place of
    plan.yaml's default env rather than merged onto it (its kwargs stay the demo env's)."""
    own = cfg.planner_settings[planner] if planner in cfg.planner_settings else {}
    settings = OmegaConf.to_container(OmegaConf.merge(OmegaConf.to_container(cfg.plan, resolve=True),
                                                      {"planner": own}), resolve=True)
    env = OmegaConf.merge(OmegaConf.to_container(cfg.env, resolve=True), settings.pop("env", {}))
    groups = [f"planner={planner}"] if planner else []
    return stage_config("plan", groups, settings, {**fixed, "env": typed(EnvConfig, env, "plan.env")},
                        runtime_settings(cfg))


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

    # the env config (the demo's env group, configs/env/<name>.yaml) both collects the data and is planned in; its
    # frames are collected at env.image_size, null: the size the encoder is pretrained at
    env_cfg = check_demo(cfg)
    make_env(env_cfg).close()  # its faults (kwargs it does not take, no success threshold) before any stage
    data, pre_dir = out / "data", out / "pretrain"
    pre_cfg = stage("pretrain", ["data=video_folder"], cfg.pretrain, {
        "data.path": str(data / "videos"), "run_dir": str(pre_dir)})
    collected_env = replace(env_cfg, image_size=env_cfg.image_size or pre_cfg.data.crop_size)
    collect_cfg = stage_config("collect", [], cfg.collect, {  # no runtime keys: collecting computes nothing
        "env": typed(EnvConfig, collected_env, "env"), "out": str(data), "overwrite": True, "videos": True})
    ac_dir = out / "train_ac"
    ac_cfg = stage("train_ac", [], cfg.train_ac, {
        "encoder": str(pre_dir / "latest.pt"), "data.path": str(data), "run_dir": str(ac_dir)})
    for name in cfg.planners:  # a plan the predictor cannot roll out fails now, not after the training
        planned = plan_stage_config(cfg, str(name), {})
        check_context_fits(planned.context_frames, planned.planner.horizon, ac_cfg.ac.max_steps, "plan.context_frames")
    run.claim(cfg)
    summary = DemoSummary(out / "demo_summary.json", out=str(out), env=env_cfg.id)

    # 1. collect
    with summary.stage("collect_s"):
        if (data / "meta.json").is_file():
            _log(f"collect: {data} exists, skipped")
            summary.skip("collect_s")
        else:
            c = collect_cfg
            _log(f"collect: {c.episodes} episodes x {c.length} frames of {c.env.id} at {collected_env.image_size} px "
                 f"({c.policy or 'default'} policy, actions held {c.hold} steps) -> {data}")
            collect(collect_cfg)

    # 2. pretrain the encoder on the episodes' videos
    with summary.stage("pretrain_s"):
        if _checkpoint_step(pre_dir / "latest.pt") >= pre_cfg.steps:
            _log(f"pretrain: {pre_dir / 'latest.pt'} complete, skipped")
            summary.skip("pretrain_s")
        else:
            _log(f"pretrain: {pre_cfg.model.size} encoder, {pre_cfg.steps} steps -> {pre_dir}")
            pretrain(pre_cfg)

    # 3. action-conditioned predictor on the frozen encoder
    with summary.stage("train_ac_s"):
        if _checkpoint_step(ac_dir / "latest.pt") >= ac_cfg.steps:
            _log(f"train_ac: {ac_dir / 'latest.pt'} complete, skipped")
            summary.skip("train_ac_s")
        else:
            _log(f"train_ac: predictor {dict(ac_cfg.ac)}, {ac_cfg.steps} steps, frame_step {ac_cfg.data.frame_step} "
                 f"-> {ac_dir}")
            train_ac(ac_cfg)

    # 3a. its k-step errors on the held-out episodes against the two baselines
    eval_path = ac_dir / "eval_ac.json"
    with summary.stage("eval_ac_s"):
        if eval_path.is_file():
            _log(f"eval_ac: {eval_path} exists, skipped")
            summary.skip("eval_ac_s")
        else:
            from vjepa.eval.eval_ac import evaluate_ac, format_table

            results_ac = evaluate_ac(stage("eval_ac", [], {}, {"checkpoint": str(ac_dir / "latest.pt")}))
            _log(f"eval_ac -> {eval_path}\n{format_table(results_ac)}")
    evaluated = json.loads(eval_path.read_text())  # the world model's held-out k-step errors, beside the planners'
    summary.data["world_model"] = {key: evaluated[key] for key in ("feature_l1", "state_l1")}

    # 3b. a linear state probe on the world model's features, for a long-range planning energy
    probe_path = ac_dir / "probe.pt"
    world_model = {"world_model": str(ac_dir / "latest.pt")}
    probe_cfg = plan_stage_config(cfg, None, world_model)  # the features the planners see
    if probe_cfg.energy.probe_weight > 0 or probe_cfg.energy.state_weight > 0:
        with summary.stage("probe_s"):
            if probe_path.is_file():
                _log(f"probe: {probe_path} exists, skipped")
                summary.skip("probe_s")
            else:
                from planning.probe import fit_probe

                model = load_configured_world_model(probe_cfg)
                probe, info = fit_probe(model, data, cfg.probe_frames)
                probe.save(probe_path, **info)
                _log(f"probe: fitted on {info['frames']} frames, held-out MAE per state dim "
                     f"{[round(v, 4) for v in info['val_mae']]} -> {probe_path}")

    # 4. plan with each planner
    results = summary.data["planners"]
    for name in cfg.planners:
        run_dir = out / "plan" / str(name)
        plan_cfg = plan_stage_config(cfg, str(name), {**world_model, "run_dir": str(run_dir)})
        summary_path = run_dir / "summary.json"
        with summary.stage(f"plan_{name}_s"):
            if summary_path.is_file():
                results[str(name)] = json.loads(summary_path.read_text())
                _log(f"plan {name}: {summary_path} exists, skipped")
                summary.skip(f"plan_{name}_s")
            else:
                results[str(name)] = plan(plan_cfg)

    if cfg.landscape and cfg.planners:
        picture = out / "plan" / "landscape.png"
        with summary.stage("landscape_s"):
            if picture.is_file():
                summary.skip("landscape_s")
            else:
                from planning.visualize import landscape_figure

                plan_cfg = plan_stage_config(cfg, str(cfg.planners[0]), world_model)
                model = load_configured_world_model(plan_cfg)
                energy, _ = make_energy(plan_cfg, ac_dir / "latest.pt")
                landscape_figure(model, plan_cfg.env, seed=plan_cfg.seed, horizon=plan_cfg.planner.horizon,
                                 out=picture, grid=LandscapeConfig.grid, energy=energy)
                _log(f"energy landscape of episode 0 -> {picture}")

    f = evaluated["feature_l1"]
    errors = "; ".join(f"{name.replace('_', '-')} " + ", ".join(f"{v:.3f}" for v in f[name])
                       for name in ("predictor", "copy_last", "zero_action"))
    _log(f"world model, held-out feature L1 at k = 1..{len(f['predictor'])}: {errors} ({eval_path})")
    _log("results (success = the env's success flag after the last action; at some step = as stable-worldmodel "
         "counts, its episodes ending at the goal):")
    for result in results.values():
        print("  " + format_summary(result))
    if results:
        plan_cfg = plan_stage_config(cfg, str(cfg.planners[0]), {})
        energy = " ".join(f"energy.{k}={v}" for k, v in plan_cfg.energy.items())
        env = plan_cfg.env
        env_keys = " ".join([f"env={env.name} env.id={env.id}"]
                            + [f"env.{k}={env[k]}" for k in ("image_size", "success_threshold") if env[k] is not None]
                            + [f"++env.kwargs.{k}={v}" for k, v in env.kwargs.items()])
        _log(f"plan again: vjepa-plan world_model={ac_dir / 'latest.pt'} planner=NAME {env_keys} "
             f"episodes={plan_cfg.episodes} seed={plan_cfg.seed} {energy} run_dir=DIR")
    times, skipped = summary.data["times"], summary.data["skipped"]
    _log(f"this run {times['total_s'] / 60:.1f} min; all stages {times['stages_s'] / 60:.1f} min: "
         + ", ".join(f"{k} {v:.0f}s" + (" (earlier)" if k in skipped else "") for k, v in times.items()
                     if k not in TOTALS))
    return summary.data


@command("demo")
def main(cfg: DictConfig) -> None:
    run_demo(cfg)


if __name__ == "__main__":
    main()
