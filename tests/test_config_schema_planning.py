"""The planning commands' structured configs: every preset composes against its schema, overrides are type-checked,
and no default is repeated in code or in a preset."""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path

import pytest
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

import configs
from configs.schema.demo import check_demo
from configs.schema.env import env_config
from configs.schema.planner import PLANNER_CONFIGS
from configs.schema.reference import page
from planning.demo import plan_stage_config, stage_config
from planning.planners import PLANNERS, Planner
from tests.conftest import compose_config
from vjepa.runtime.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = Path(configs.__file__).parent
ENVS = sorted(p.stem for p in (CONFIGS / "env").glob("*.yaml"))
PRESETS = [env for env in ENVS if env != "gym"]  # the generic preset needs env.id
PRESET_PLANNERS = sorted(p.stem for p in (CONFIGS / "planner").glob("*.yaml"))


def test_every_planner_preset_has_a_schema_and_a_planner():
    assert PRESET_PLANNERS == sorted(PLANNER_CONFIGS) == sorted(PLANNERS)


@pytest.mark.parametrize("env", PRESETS)
@pytest.mark.parametrize("planner", PRESET_PLANNERS)
def test_every_plan_preset_composes_against_its_schema(env, planner):
    cfg = compose_config("plan", [f"env={env}", f"planner={planner}", "world_model=x.pt"])
    assert OmegaConf.get_type(cfg.planner) is PLANNER_CONFIGS[planner]
    assert env_config(cfg.env).name == env and cfg.run_dir == f"runs/plan/{env}_{planner}"


def test_the_generic_preset_takes_any_registered_env_id():
    cfg = compose_config("plan", ["env=gym", "env.id=MountainCarContinuous-v0", "env.success_threshold=0.1",
                                  "+env.kwargs.goal_velocity=0.1", "world_model=x.pt"])
    env = env_config(cfg.env)
    assert (env.name, env.id, env.kwargs, env.image_size) == ("gym", "MountainCarContinuous-v0", {"goal_velocity": 0.1},
                                                              None)
    with pytest.raises(ConfigError, match=r"must be set \(env.id\)"):
        env_config(compose_config("plan", ["env=gym"]).env)


@pytest.mark.parametrize("env", ["reacher", "wall", "pendulum"])
def test_the_demo_composes_with_every_env_and_its_stages_with_every_planner(env):
    cfg = compose_config("demo", [f"env={env}", "out=/tmp/unused"])
    assert check_demo(cfg).name == env
    collect = stage_config("collect", [], cfg.collect, {"out": "/tmp/unused"})
    assert collect.hold == cfg.train_ac.data.frame_step == 5  # actions held for the world model's step
    for planner in PRESET_PLANNERS:
        plan = plan_stage_config(cfg, planner, {"world_model": "x.pt"})
        assert OmegaConf.get_type(plan.planner) is PLANNER_CONFIGS[planner] and plan.env.name == env
    cem = plan_stage_config(cfg, "cem", {})
    assert (cem.planner.num_samples, cem.planner.num_elites, cem.planner.iterations) == (64, 8, 4)  # the demo's


def test_the_demos_env_replaces_the_plan_stages_default_and_takes_new_kwargs():
    """plan.yaml's default env (wall) leaves nothing in the demo's env; kwargs the preset does not list are added."""
    cfg = compose_config("demo", ["env=gym", "env.id=Reacher-v5", "env.success_threshold=0.02",
                                  "+env.kwargs.width=48", "+plan.env.kwargs.height=48", "+plan.env.max_steps=8"])
    plan = plan_stage_config(cfg, "cem", {})
    assert plan.env.id == "Reacher-v5" and plan.env.kwargs == {"width": 48, "height": 48}
    assert plan.env.max_steps == 8 and plan.env.success_threshold == 0.02 and plan.run_dir == "runs/plan/gym_cem"


@pytest.mark.parametrize("overrides", [
    ["planner=cem", "planner.temperature=0.5"],  # an MPPI key
    ["planner.num_samples=many"],
    ["env.max_steps=2.5"],
    ["env.colour=red"],
    ["episodes=all"],
])
def test_overrides_are_type_checked_and_unknown_keys_refused(overrides):
    with pytest.raises(ConfigCompositionException):
        compose_config("plan", overrides)


def test_each_planner_kind_takes_its_own_keys_and_env_kwargs_any():
    cfg = compose_config("plan", ["planner=mppi", "planner.temperature=0.5", "+env.kwargs.render_size=96"])
    assert cfg.planner.temperature == 0.5 and cfg.env.kwargs.render_size == 96


def test_presets_size_frames_with_image_size_and_pick_only_the_planner_kind():
    """(That env presets repeat no schema default: tests/test_config_schema.py, with every group's presets.)"""
    for env in ENVS:
        preset = OmegaConf.to_container(OmegaConf.load(CONFIGS / "env" / f"{env}.yaml"))
        assert "image_size" not in preset.get("kwargs", {}), env  # env.image_size: rendered or resized to it
    for planner in PRESET_PLANNERS:  # the kind only: its settings are the schema's
        assert set(OmegaConf.load(CONFIGS / "planner" / f"{planner}.yaml")) == {"defaults"}
    assert set(OmegaConf.load(CONFIGS / "plan.yaml")) == {"defaults"}


def test_the_planners_take_every_setting_from_their_config_with_its_default():
    """No constructor default can disagree with the schema: each takes the config's keys (bar the name, which picks
    the class), defaulting to the schema's values, beside what the environment and the energy give."""
    plumbing = {"world_model", "energy", "action_low", "action_high", "seed"}
    base = inspect.signature(Planner.__init__).parameters
    for name, cls in PLANNERS.items():
        own = {**base, **inspect.signature(cls.__init__).parameters}
        params = {k: p for k, p in own.items() if k != "self" and p.kind is not p.VAR_KEYWORD}
        schema = {f.name: f.default for f in dataclasses.fields(PLANNER_CONFIGS[name]) if f.name != "name"}
        fixed = {"warm_start", "candidate_chunk"} if name == "random" else set()  # nothing to search or chunk
        assert set(params) - plumbing == set(schema) | fixed, name
        assert {k: params[k].default for k in schema} == schema, name


def test_the_reference_page_documents_the_planning_commands():
    text = page()
    for command in ("plan", "demo", "collect", "state-probe", "landscape"):
        assert f"## `vjepa-{command}`" in text
    for row in ("| `env.goal_steps` | int | `25` |", "| `planner.horizon` | int | `5` |", "| `energy.metric` | str |",
                "| `planner.num_samples` | int | `100` | (cem, mppi) ",
                "| `planner.temperature` | float | `0.01` | (mppi) ",
                "| `planner.iterations` | int | `30` | (gradient) Adam steps per plan |"):
        assert row in text
