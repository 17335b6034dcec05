"""The planners' world-model contract (`planning.interface.WorldModel`) held by every world model the toolkit has:
the toy, a trained-format `JEPAWorldModel` (tiny encoder + tiny AC predictor) and V-JEPA 2-AC's released-weights
world model (a tiny random checkpoint in the release's layout) — declared attributes, `Rollout` shapes, contexts of
more than one frame with the actions between them, and whole MPC episodes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from configs.schema.planner import CEMConfig
from planning import LinearToyWorldModel, Rollout, WorldModel, goal_energy, make_planner, run_episode
from tests.test_official_ac import HEADS, released_checkpoint
from tests.test_planning import PointEnv
from vjepa.data.ac_dataset import ActionStats
from vjepa.models import ActionConditionedPredictor, VisionTransformer
from vjepa.world_model import JEPAWorldModel, official_world_model


def toy(tmp_path) -> LinearToyWorldModel:
    return LinearToyWorldModel()


def jepa(tmp_path) -> JEPAWorldModel:
    """A randomly initialised encoder (32-px frames, 2 x 2 tokens of 24 channels) and AC predictor, 2-D actions and
    states normalised by made-up statistics, two env steps per model step."""
    torch.manual_seed(0)
    encoder = VisionTransformer(embed_dim=24, depth=1, num_heads=2, patch_size=16, pos_embed="rope")
    predictor = ActionConditionedPredictor(embed_dim=24, predictor_dim=32, depth=1, num_heads=2, action_dim=2,
                                           state_dim=2, grid_hw=(2, 2), max_steps=8)
    stats = ActionStats(np.full(2, 0.1), np.full(2, 0.5), np.zeros(2), np.full(2, 0.4), frame_step=2)
    return JEPAWorldModel(encoder, predictor, stats, image_size=32)


def released(tmp_path) -> JEPAWorldModel:
    """V-JEPA 2-AC's world model from a .pt in the release's layout (encoder + predictor, official names)."""
    _, predictor_weights = released_checkpoint(tmp_path)  # 7-D actions and poses, 24-d features on a 2 x 3 grid
    encoder = VisionTransformer(embed_dim=24, depth=1, num_heads=2, patch_size=16, pos_embed="rope",
                                rope_style="vjepa2")
    torch.save({"encoder": {f"module.backbone.{k}": v for k, v in encoder.state_dict().items()},
                "predictor": {f"module.backbone.{k}": v for k, v in predictor_weights.items()}}, tmp_path / "ac.pt")
    return official_world_model(tmp_path / "ac.pt", image_size=32, encoder_heads=2, predictor_heads=HEADS)


MODELS = {"toy": toy, "jepa": jepa, "released": released}


@pytest.fixture(params=list(MODELS))
def model(request, tmp_path) -> WorldModel:
    return MODELS[request.param](tmp_path)


def test_declares_what_planners_read(model):
    assert isinstance(model, WorldModel)
    assert all(isinstance(getattr(model, name), int) and getattr(model, name) >= 1
               for name in ("action_dim", "state_dim", "frame_step", "image_size"))
    assert model.action_agg in ("sum", "stack", "pose_delta")


@pytest.mark.parametrize("context", [1, 3])
def test_rolls_candidates_out_from_a_context_of_frames_states_and_actions(model, context):
    g = torch.Generator().manual_seed(0)
    frames = torch.randint(0, 256, (context + 1, model.image_size, model.image_size, 3), generator=g,
                           dtype=torch.uint8)
    features = model.encode(frames)  # (Tc + 1, N, D): the context and a goal
    a, s = model.action_dim, model.state_dim
    states, between = torch.rand(context, s, generator=g), torch.rand(context - 1, a, generator=g) - 0.5
    actions = torch.rand(5, 4, a, generator=g) - 0.5  # 5 candidates, 4 steps
    rollout = model.rollout(features[:context], states, between, actions)
    assert isinstance(rollout, Rollout)
    assert rollout.features.shape == (5, 4, *features.shape[1:]) and rollout.features.dtype == torch.float32
    assert rollout.states is not None and rollout.states.shape == (5, 4, s)
    # candidates are independent: one alone predicts what it predicted among the others
    alone = model.rollout(features[:context], states, between, actions[2:3])
    torch.testing.assert_close(alone.features, rollout.features[2:3], atol=1e-4, rtol=1e-4)
    if context > 1 and not isinstance(model, LinearToyWorldModel):  # the toy's next position ignores the past
        other = model.rollout(features[:context], states, between + 1.0, actions)
        assert not torch.allclose(other.features, rollout.features)  # the context's actions reach the predictor


def test_rolls_out_several_episodes_contexts_in_one_call(model):
    """Contexts of B = 3 episodes, each with its own 4 candidates: one call predicts what each episode's own call
    predicts."""
    g = torch.Generator().manual_seed(1)
    frames = torch.randint(0, 256, (6, model.image_size, model.image_size, 3), generator=g, dtype=torch.uint8)
    features = model.encode(frames).unflatten(0, (3, 2))  # (B, Tc, N, D)
    a, s = model.action_dim, model.state_dim
    states, between = torch.rand(3, 2, s, generator=g), torch.rand(3, 1, a, generator=g) - 0.5
    actions = torch.rand(3, 4, 2, a, generator=g) - 0.5  # (B, K, H, A)
    rollout = model.rollout(features, states, between, actions)
    assert rollout.features.shape == (3, 4, 2, *features.shape[2:]) and rollout.states.shape == (3, 4, 2, s)
    for i in range(3):
        alone = model.rollout(features[i], states[i], between[i], actions[i])
        torch.testing.assert_close(alone.features, rollout.features[i], atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(alone.states, rollout.states[i], atol=1e-4, rtol=1e-4)


def test_runs_mpc_episodes_with_a_context_of_two_frames(model):
    contexts, rollout = set(), model.rollout

    def recorded(features, states, context_actions, actions):
        contexts.add((features.shape[-3], states.shape[-2], context_actions.shape[-2]))  # lengths, any episodes
        return rollout(features, states, context_actions, actions)

    model.rollout = recorded
    env = PointEnv(size=model.image_size, action_dim=model.action_dim, state_dim=model.state_dim)
    settings = CEMConfig(horizon=2, num_samples=8, num_elites=2, iterations=2)
    planner = make_planner(settings, model, goal_energy, action_low=-1.0, action_high=1.0, seed=0)
    result = run_episode(env, model, planner, max_steps=4, replan_every=1, context_frames=2, seed=0)
    assert result.steps == 4 and result.actions.shape == (4, model.action_dim)
    assert contexts == {(1, 1, 0), (2, 2, 1)}  # one frame at the start, then two and the action between them
