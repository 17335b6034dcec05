"""`vjepa-plan` and `vjepa-demo` end to end on tiny settings, action blocks, and clear config errors."""
import csv
import json
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from configs.schema.env import env_config
from planning.cli import ActionBlockEnv, BlockWorldModel, format_summary, make_env, plan, world_model_blocks
from planning.demo import run_demo
from planning.interface import Rollout
from planning.planners import make_planner
from planning.probe import ProbeEnergy, StateProbe, fit_probe
from planning.probe import main as probe_main
from planning.stages import stage_config
from planning.visualize import action_landscape, landscape_figure
from planning.visualize import main as landscape_main
from tests.conftest import compose_config
from vjepa.data.episodes import EpisodeDataset
from vjepa.runtime.errors import ConfigError

TINY_DEMO = [
    "collect.episodes=6",
    "collect.length=12",
    "planners=[cem,random]",
    "+pretrain.model.size=vit_micro",
    "+pretrain.model.patch_size=8",
    "+pretrain.model.predictor={dim: 48, depth: 1, num_heads: 3}",
    "pretrain.steps=2",
    "pretrain.batch_size=2",
    "pretrain.num_workers=0",
    "pretrain.data.crop_size=32",
    "pretrain.data.frames_per_clip=4",
    "+pretrain.optim.warmup_steps=1",
    "+pretrain.log_every=1",
    "train_ac.steps=2",
    "train_ac.batch_size=4",
    "train_ac.data.num_frames=3",
    "train_ac.data.frame_step=2",
    "train_ac.loss.rollout_steps=1",
    "+train_ac.ac={dim: 32, depth: 1, num_heads: 2}",
    "+train_ac.optim.warmup_steps=1",
    "+train_ac.log_every=1",
    "plan.episodes=2",
    "plan.energy.state_weight=1.0",
    "probe_frames=40",
    "plan.save_videos=1",
    "+plan.env.max_steps=4",
    "+plan.planner.horizon=2",
]
TINY_PLANNERS = {
    "cem": ["planner.num_samples=8", "planner.num_elites=2", "planner.iterations=1"],
    "mppi": ["planner.num_samples=8", "planner.iterations=1"],
    "gradient": ["planner.iterations=1", "planner.num_restarts=2"],
    "random": [],
}


TINY_CEM = [f"++planner_settings.cem.{o.split('.', 1)[1]}" for o in TINY_PLANNERS["cem"]]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The tiny demo, run once: its output folder and summary."""
    out = tmp_path_factory.mktemp("demo")
    cfg = compose_config("demo", [f"out={out}", *TINY_DEMO, *TINY_CEM, "threads=1"])
    return out, run_demo(cfg)


def test_demo_runs_every_stage_and_writes_its_outputs(demo):
    out, summary = demo
    assert (out / "data" / "meta.json").is_file() and len(list((out / "data" / "videos").glob("*.mp4"))) == 6
    assert (out / "pretrain" / "latest.pt").is_file() and (out / "train_ac" / "latest.pt").is_file()
    for name in ("cem", "random"):
        run = out / "plan" / name
        rows = list(csv.DictReader(open(run / "results.csv")))
        assert len(rows) == 2 and {"success", "goal_distance", "time_per_action_s"} <= set(rows[0])
        assert json.loads((run / "summary.json").read_text())["episodes"] == 2
        assert (run / "episode_000.mp4").is_file() and not (run / "episode_001.mp4").exists()
        assert summary["planners"][name]["action_block"] == 2  # the AC model's frame_step
    assert (out / "plan" / "landscape.png").is_file() and (out / "train_ac" / "probe.pt").is_file()
    eval_ac = json.loads((out / "train_ac" / "eval_ac.json").read_text())  # k-step errors vs both baselines
    assert set(eval_ac["feature_l1"]) == {"predictor", "copy_last", "zero_action"}
    assert summary["world_model"]["feature_l1"] == eval_ac["feature_l1"]
    assert "predicted-state distance" in summary["planners"]["cem"]["energy"]
    assert json.loads((out / "demo_summary.json").read_text())["planners"].keys() == {"cem", "random"}


@pytest.mark.parametrize("env_id, observed", [("Pendulum-v1", 3), ("MountainCarContinuous-v0", 2)])
def test_the_generic_preset_runs_the_demo_end_to_end_on_a_stock_env(tmp_path, capsys, env_id, observed):
    """`vjepa-demo env=gym env.id=...`: collected from rendered frames and observation vectors, planned with a world
    model of 1-D actions, its energy landscape a curve; the command it prints to plan again plans in the same env."""
    cfg = compose_config("demo", [f"out={tmp_path}", "env=gym", f"env.id={env_id}", "env.success_threshold=0.5",
                                  *TINY_DEMO, *TINY_CEM, "threads=1"])
    summary = run_demo(cfg)
    data = EpisodeDataset(tmp_path / "data")
    assert (data.meta["image_size"], data.action_dim, data.state_dim) == ([32, 32], 1, observed)
    assert data.meta["policy"] == "random_repeat" and summary["env"] == env_id
    for name in ("cem", "random"):
        result = summary["planners"][name]
        assert result["env"] == env_id and result["episodes"] == 2 and result["env_steps_per_episode"] == 4
    assert (tmp_path / "plan" / "landscape.png").is_file() and (tmp_path / "train_ac" / "probe.pt").is_file()
    written = json.loads((tmp_path / "demo_summary.json").read_text())
    assert "failed" not in written and set(written["times"]) >= {"collect_s", "pretrain_s", "plan_cem_s"}
    again = capsys.readouterr().out.split("[demo] plan again: vjepa-plan ")[1].splitlines()[0]
    cfg = compose_config("plan", [*again.replace("NAME", "random").replace("DIR", str(tmp_path / "again")).split(),
                                  "episodes=1", "env.max_steps=5", "save_videos=0"])
    assert (cfg.env.id, cfg.env.success_threshold) == (env_id, 0.5) and plan(cfg)["env"] == env_id


def test_a_failed_demo_keeps_its_finished_stages_times_and_names_the_stage(tmp_path, monkeypatch):
    def out_of_memory(cfg):
        raise MemoryError("out of memory")

    monkeypatch.setattr("vjepa.train.pretrain.pretrain", out_of_memory)
    with pytest.raises(MemoryError):
        run_demo(compose_config("demo", [f"out={tmp_path}", *TINY_DEMO, "collect.episodes=2"]))
    written = json.loads((tmp_path / "demo_summary.json").read_text())
    assert written["failed"] == "pretrain" and list(written["times"]) == ["collect_s", "pretrain_s", "total_s",
                                                                           "stages_s"]
    assert written["times"]["collect_s"] > 0 and written["skipped"] == []


def test_the_demo_checks_its_env_before_any_stage(tmp_path):
    cfg = compose_config("demo", [f"out={tmp_path / 'demo'}", "env=gym", "env.id=Pendulum-v1"])
    with pytest.raises(ConfigError, match=r"Pendulum-v1 has no success threshold of its own \(env.success_threshold"):
        run_demo(cfg)
    assert not (tmp_path / "demo" / "data").exists()


@pytest.mark.parametrize("overrides,state_weight", [
    ([], 0.0), (["env=reacher"], 0.0), (["env=pusht", "plan.energy.state_weight=0.5"], 0.5)])
def test_demo_plans_from_the_goal_images_features_alone_unless_told_otherwise(overrides, state_weight):
    cfg = compose_config("demo", overrides)
    assert OmegaConf.select(cfg, "plan.energy.state_weight") == state_weight


def test_demo_rerun_skips_finished_stages(demo, capsys):
    out, _ = demo
    cfg = compose_config("demo", [f"out={out}", *TINY_DEMO, "landscape=false"])
    run_demo(cfg)
    printed = capsys.readouterr().out
    for stage in ("collect", "pretrain", "train_ac", "eval_ac", "probe", "plan cem", "plan random"):
        assert f"[demo] {stage}:" in printed and "skipped" in printed.split(f"[demo] {stage}:")[1].splitlines()[0]


@pytest.mark.parametrize("name", ["mppi", "gradient"])
def test_plan_runs_each_planner(demo, tmp_path, name):
    out, _ = demo
    cfg = compose_config("plan", [
        f"planner={name}", f"world_model={out / 'train_ac' / 'latest.pt'}", f"run_dir={tmp_path}", "episodes=3",
        "batch_episodes=2",
        "env.max_steps=2", "planner.horizon=2", "save_videos=0", *TINY_PLANNERS[name],
        "energy.state_weight=1", "energy.probe_weight=0.5", "energy.steps=all",
    ])
    summary = plan(cfg)
    assert summary["planner"] == name and 0.0 <= summary["success_rate"] <= 1.0
    assert summary["batch_episodes"] == 2 and "mean_steps_to_success" in summary
    assert "0.5 x probe(predicted features) distance + 1 x predicted-state distance" in summary["energy"]
    assert (tmp_path / "results.csv").is_file() and (tmp_path / "hydra" / "config.yaml").is_file()


def test_plan_reads_context_frames_of_history(demo, tmp_path, monkeypatch, capsys):
    """context_frames=3: each plan after the first steps reads the last 3 observations and the 2 actions between."""
    out, _ = demo
    seen = []

    def recording_planner(*args, **kwargs):
        planner = make_planner(*args, **kwargs)
        plan_batch = planner.plan_batch

        def plan_and_record(context_features, goal, context_states, context_actions, **kw):
            seen.append((context_features.shape[1], context_states.shape[1], context_actions.shape[1]))
            return plan_batch(context_features, goal, context_states, context_actions, **kw)

        planner.plan_batch = plan_and_record
        return planner

    monkeypatch.setattr("planning.cli.make_planner", recording_planner)
    cfg = compose_config("plan", [
        "planner=cem", f"world_model={out / 'train_ac' / 'latest.pt'}", f"run_dir={tmp_path}", "episodes=1",
        "env.max_steps=8", "planner.horizon=2", "save_videos=0", "context_frames=3", *TINY_PLANNERS["cem"],
    ])
    assert plan(cfg)["context_frames"] == 3
    assert seen == [(1, 1, 0), (2, 2, 1), (3, 3, 2), (3, 3, 2)]  # 4 actions of 2 env steps
    assert "3 context frame(s)" in capsys.readouterr().out


def test_plan_refuses_a_context_the_predictor_cannot_hold(demo, tmp_path):
    """The tiny predictor takes 64 steps: 64 context frames and a horizon of 2 need 65, refused before the run."""
    out, _ = demo
    cfg = compose_config("plan", [f"world_model={out / 'train_ac' / 'latest.pt'}", f"run_dir={tmp_path / 'run'}",
                                  "context_frames=64", "planner.horizon=2"])
    with pytest.raises(ConfigError, match="65 predictor steps") as caught:
        plan(cfg)
    assert caught.value.where == "context_frames" and not (tmp_path / "run").exists()


@pytest.mark.parametrize("oracle", ["simulator", "state"])
def test_plan_with_an_oracle_reports_a_ceiling(demo, tmp_path, capsys, oracle):
    """oracle=...: the env's simulator in place of the predictor, episodes one at a time, marked in the summary."""
    out, _ = demo
    cfg = compose_config("plan", [f"world_model={out / 'train_ac' / 'latest.pt'}", f"run_dir={tmp_path}",
                                  "episodes=2", "env.max_steps=4", "planner.horizon=2", "save_videos=0",
                                  f"oracle={oracle}", *TINY_PLANNERS["cem"]])
    summary = plan(cfg)
    assert summary["oracle"] == oracle and summary["batch_episodes"] == 1
    assert summary["energy"].startswith(f"oracle={oracle}: ")
    assert f"cem (oracle={oracle}: a ceiling, not a result) on vjepa/Wall-v0" in capsys.readouterr().out


def test_plan_console_script(demo, tmp_path):
    out, _ = demo
    result = subprocess.run(
        [sys.executable, "-m", "planning.cli", f"world_model={out / 'train_ac' / 'latest.pt'}", "planner=random",
         f"run_dir={tmp_path}", "episodes=1", "env.max_steps=2", "save_videos=0"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "random on vjepa/Wall-v0: success" in result.stdout
    assert json.loads((tmp_path / "summary.json").read_text())["episodes"] == 1


def test_action_dimension_mismatch_is_a_clear_error(demo, tmp_path):
    out, _ = demo
    cfg = compose_config("plan", [
        "env=pendulum", f"world_model={out / 'train_ac' / 'latest.pt'}", f"run_dir={tmp_path}", "episodes=1",
    ])
    with pytest.raises(ValueError, match=r"action dimension mismatch: env Pendulum-v1 takes 1-D actions .* 2-D"):
        plan(cfg)


def test_probe_energy_needs_a_probe(demo, tmp_path):
    out, _ = demo
    cfg = compose_config("plan", [f"world_model={out / 'train_ac' / 'latest.pt'}", f"run_dir={tmp_path}",
                                  "energy.probe_weight=1", f"probe={tmp_path / 'none.pt'}"])
    fit = r"need a state probe: .*none.pt not found \(probe\) — fit one with vjepa-state-probe"
    with pytest.raises(FileNotFoundError, match=fit):
        plan(cfg)
    cfg = compose_config("plan", [f"world_model={out / 'train_ac' / 'latest.pt'}", "+energy.colour=1"])
    with pytest.raises(ConfigError, match=r"unknown key \(energy.colour\) — drop it; energy takes metric, "):
        plan(cfg)


def test_state_probe_fits_a_linear_map_and_its_energy_reads_predicted_states(tmp_path):
    torch.manual_seed(0)
    features = torch.randn(400, 3, 4)
    states = features.flatten(1) @ torch.randn(12, 2) + 0.5
    probe = StateProbe.fit(features, states, ridge=1e-6)
    torch.testing.assert_close(probe(features), states, atol=1e-3, rtol=1e-3)
    probe = StateProbe.load(probe.save(tmp_path / "p.pt"))
    torch.testing.assert_close(probe(features[:5]), states[:5], atol=1e-3, rtol=1e-3)
    with pytest.raises(ValueError, match="N\\*D = 12"):
        probe(torch.zeros(2, 2, 4))

    goal = features[0]
    rollout = Rollout(features[1:4, None], states[1:4, None] + 1.0)  # 3 candidates, 1 step, states off by 1 each way
    energy = ProbeEnergy(probe, weight=0.0, state_weight=2.0)(rollout, goal)
    feature_only = ProbeEnergy(probe, weight=0.0)(rollout, goal)
    expected = 2.0 * (states[1:4] + 1.0 - probe(goal)).norm(dim=-1)
    torch.testing.assert_close(energy - feature_only, expected, atol=1e-3, rtol=1e-3)
    on_images = ProbeEnergy(probe, weight=0.0, state_weight=2.0).for_images()  # images: the probe reads the state
    torch.testing.assert_close(on_images(Rollout(rollout.features), goal) - feature_only,
                               2.0 * (probe(features[1:4]) - probe(goal)).norm(dim=-1))
    with pytest.raises(ValueError, match="needs predicted states; this world model predicts none"):
        ProbeEnergy(probe, state_weight=1.0)(Rollout(rollout.features), goal)


def test_the_state_probe_shows_a_bar_while_it_reads_and_encodes(demo, capsys):
    out, _ = demo
    from vjepa.world_model import load_world_model

    _, info = fit_probe(load_world_model(out / "train_ac" / "latest.pt"), out / "data", max_frames=40)
    err = capsys.readouterr().err
    assert "state probe: reading episodes" in err and "episode/s" in err
    assert "state probe: encoding frames: 100%" in err and f"{info['frames']}/{info['frames']}" in err


def test_state_probe_and_landscape_commands(demo, tmp_path, monkeypatch, capsys):
    out, _ = demo
    world_model = f"world_model={out / 'train_ac' / 'latest.pt'}"
    monkeypatch.setattr(sys, "argv", ["vjepa-state-probe", world_model, f"dataset={out / 'data'}", "max_frames=20",
                                      f"out={tmp_path / 'probe.pt'}", "threads=1"])
    probe_main()
    assert StateProbe.load(tmp_path / "probe.pt").num_features > 0
    monkeypatch.setattr(sys, "argv", ["vjepa-landscape", world_model, f"out={tmp_path / 'landscape.png'}", "grid=3",
                                      "horizon=2", f"probe={tmp_path / 'probe.pt'}",
                                      "energy.state_weight=1", "threads=1"])
    landscape_main()
    assert (tmp_path / "landscape.png").is_file() and "wrote" in capsys.readouterr().out
    monkeypatch.setattr(sys, "argv", ["vjepa-landscape", world_model, "grid=0"])
    with pytest.raises(SystemExit) as done:
        landscape_main()
    assert done.value.code == 2 and "(grid) — " in capsys.readouterr().err


class HeldActionModel:
    """Features: the summed held actions (the energy to a zero goal is |horizon x action|)."""

    action_dim, state_dim, frame_step, action_agg, image_size = 1, 3, 1, "sum", 16

    def encode(self, frames):
        return torch.zeros(len(frames), 1, 1)

    def rollout(self, features, states, context_actions, actions):
        return Rollout(actions.cumsum(1)[..., None])


def test_action_landscape_of_a_1d_action_space_is_a_curve(tmp_path):
    env = {"name": "pendulum", "id": "Pendulum-v1", "success_threshold": 0.5}
    act = action_landscape(HeldActionModel(), env, seed=0, horizon=3, grid=5)
    np.testing.assert_allclose(act["action_x"], [-2, -1, 0, 1, 2])
    np.testing.assert_allclose(act["energy"], [6, 3, 0, 3, 6])
    assert act["true_distance"].shape == (5,) and np.isnan(act["true_distance"]).all()  # no settable state
    assert act["frame"].shape == (16, 16, 3)  # the world model's image size
    assert landscape_figure(HeldActionModel(), env, 0, 3, tmp_path / "curve.png", grid=5).is_file()


class Drift3D(gym.Env):
    """A point in R^3 moved by its 3-D action; observed as that vector, drawn as a grey frame."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}
    action_space = gym.spaces.Box(-1, 1, (3,), np.float32)
    observation_space = gym.spaces.Box(-np.inf, np.inf, (3,), np.float32)

    def __init__(self, render_mode: str | None = None):
        self.render_mode = render_mode

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.pos = self.np_random.uniform(-1, 1, 3).astype(np.float32)
        return self.pos.copy(), {}

    def step(self, action):
        self.pos = self.pos + np.asarray(action, np.float32)
        return self.pos.copy(), 0.0, False, False, {}

    def render(self):
        return np.full((16, 16, 3), 128, np.uint8)


class HeldActionModel3D(HeldActionModel):
    action_dim = 3

    def encode(self, frames):
        return torch.zeros(len(frames), 3, 1)


def test_action_landscape_of_more_action_dims_is_a_slice_through_the_first_two(tmp_path):
    gym.register("tests/Drift3D-v0", entry_point="tests.test_plan_cli:Drift3D")
    env = {"name": "drift", "id": "tests/Drift3D-v0", "success_threshold": 0.5}
    model = HeldActionModel3D()
    act = action_landscape(model, env, seed=0, horizon=3, grid=3)
    assert act["energy"].shape == (3, 3) and act["held_dims"] == 1
    np.testing.assert_allclose(act["energy"], [[2, 1, 2], [1, 0, 1], [2, 1, 2]])  # mean |3 a| over a_x, a_y, 0
    assert landscape_figure(model, env, 0, 3, tmp_path / "slice.png", grid=3).is_file()


def test_missing_world_model_is_a_clear_error(tmp_path):
    cfg = compose_config("plan", [f"run_dir={tmp_path}"])
    with pytest.raises(ConfigError, match=r"must be set \(world_model\) — world_model=runs/train_ac/latest.pt"):
        plan(cfg)
    cfg = compose_config("plan", [f"run_dir={tmp_path}", f"world_model={tmp_path / 'nope.pt'}"])
    with pytest.raises(ConfigError, match=r"no such file: .*nope.pt \(world_model\)"):
        plan(cfg)
    assert not tmp_path.joinpath("hydra").exists()


def test_batch_episodes_is_a_checked_key(tmp_path):
    (tmp_path / "wm.pt").touch()
    cfg = compose_config("plan", [f"run_dir={tmp_path / 'run'}", f"world_model={tmp_path / 'wm.pt'}"])
    assert cfg.batch_episodes == 25  # the schema's default
    cfg.batch_episodes = 0
    with pytest.raises(ConfigError, match=r"must be an integer >= 1, got 0 \(batch_episodes\)"):
        plan(cfg)


def test_the_printed_summary_gives_steps_to_success_beside_success():
    summary = {"planner": "cem", "env": "vjepa/Wall-v0", "episodes": 4, "success_rate": 0.5,
               "mean_steps_to_success": 6.5, "steps_to_success_quartiles": [4.0, 5.0, 6.5, 8.0, 9.0],
               "mean_goal_distance": 0.1, "mean_plan_time_per_action_s": 0.2, "action_block": 5, "wall_time_s": 10}
    assert "success 50% of 4 episodes in 6.5 actions on average (min, quartiles, max 4, 5, 6.5, 8, 9)" in \
        format_summary(summary)
    never = {**summary, "success_rate": 0.0, "mean_steps_to_success": None, "steps_to_success_quartiles": None}
    assert "success 0% of 4 episodes, mean final distance" in format_summary(never)


GOOD = {"name": "wall", "id": "vjepa/Wall-v0", "image_size": 32, "goal_steps": 5, "max_steps": 10,
        "replan_every": 1, "success_threshold": None}


@pytest.mark.parametrize("change, message", [
    ({"id": "vjepa/Nope-v0"}, r"'vjepa/Nope-v0' is not a registered gymnasium env \(env.id\) — choose one of"),
    ({"id": None}, r"\(env.id\)"),
    ({"max_steps": 0}, r"must be an integer >= 1, got 0 \(env.max_steps\)"),
    ({"goal_steps": 2.5}, r"could not be converted to Integer \(env.goal_steps\)"),
    ({"success_threshold": -1}, r"must be a number > 0 or null, got -1.0 \(env.success_threshold\)"),
    ({"colour": "red"}, r"\(env.colour\) — env takes name, id, kwargs"),
])
def test_env_config_errors_are_clear(change, message):
    with pytest.raises(ConfigError, match=message):
        env_config({**GOOD, **change})


def test_env_kwargs_and_threshold_errors_are_clear():
    with pytest.raises(ConfigError, match=r"\{'size': 3\} are not accepted by vjepa/Wall-v0.* \(env.kwargs\)"):
        make_env({**GOOD, "kwargs": {"size": 3}})
    with pytest.raises(ConfigError, match=r"Pendulum-v1 has no success threshold of its own \(env.success_threshold"):
        make_env({**GOOD, "id": "Pendulum-v1", "success_threshold": None})
    cfg = OmegaConf.create({**GOOD, "id": "???"})
    with pytest.raises(ConfigError, match=r"must be set \(env.id\)"):
        env_config(cfg)


def test_demo_refuses_a_plan_context_the_predictor_cannot_hold_before_collecting(tmp_path):
    cfg = compose_config("demo", [f"out={tmp_path / 'demo'}", *TINY_DEMO, "+train_ac.ac.max_steps=4",
                                  "plan.context_frames=4"])  # 4 frames + horizon 2 - 1 = 5 steps
    with pytest.raises(ConfigError, match="5 predictor steps, the predictor takes 4") as caught:
        run_demo(cfg)
    assert caught.value.where == "plan.context_frames" and not (tmp_path / "demo" / "data").exists()


def test_demo_settings_with_unknown_keys_are_errors():
    with pytest.raises(ValueError, match="train_ac settings .* do not fit configs/train_ac.yaml"):
        stage_config("train_ac", [], {"stepz": 3}, {})


def test_action_blocks_repeat_and_stack():
    env = make_env(GOOD, block=3, mode="repeat")
    obs, _ = env.reset(seed=0)
    start = obs["proprio"].copy()
    obs, *_ = env.step(np.array([1.0, 0.0], np.float32))
    assert env.action_space.shape == (2,) and env.metadata["render_fps"] == pytest.approx(10 / 3)
    moved = obs["proprio"][0] - start[0]
    assert moved == pytest.approx(3 * 0.05, abs=1e-6) or moved < 3 * 0.05  # a wall may stop it
    stacked = ActionBlockEnv(make_env(GOOD), 2, "stack")
    assert stacked.action_space.shape == (4,)
    obs, _ = stacked.reset(seed=0)
    start = obs["proprio"].copy()
    obs, *_ = stacked.step(np.array([0.0, 0.0, 0.0, 0.0], np.float32))
    np.testing.assert_allclose(obs["proprio"], start)

    class Model:  # predicts the actions it is given, context actions first
        action_dim, state_dim, frame_step, action_agg, image_size = 2, 2, 3, "sum", 32

        def rollout(self, features, states, context_actions, actions):
            return Rollout(torch.cat([context_actions[None].expand(len(actions), -1, -1), actions], 1))

    assert world_model_blocks(Model()) == (3, "repeat")
    wm = BlockWorldModel(Model(), 3)
    assert torch.equal(wm.rollout(None, None, torch.ones(1, 2), torch.ones(1, 2, 2)).features,
                       torch.full((1, 3, 2), 3.0))  # held actions: the model sees their sum, context ones too
    assert world_model_blocks(wm) == (1, "repeat") and (wm.action_dim, wm.state_dim, wm.image_size) == (2, 2, 32)
