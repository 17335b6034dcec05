"""The action-conditioned predictor: shapes, block-causality, KV-cached rollouts equal to full recompute,
learning a small action-driven dynamics, and input validation."""

import pytest
import torch
import torch.nn.functional as F

from vjepa.models import ActionConditionedPredictor
from vjepa.models.ac_predictor import FourierEmbed, ac_loss, rollout_loss, teacher_forcing_loss


def tiny_model(pos_embed: str = "rope", state_embed: str = "linear", **kwargs) -> ActionConditionedPredictor:
    torch.manual_seed(0)
    return ActionConditionedPredictor(
        embed_dim=24, predictor_dim=32, depth=2, num_heads=2, action_dim=3, state_dim=2, grid_hw=(2, 3),
        pos_embed=pos_embed, state_embed=state_embed, **kwargs,
    ).eval()


def random_episodes(model: ActionConditionedPredictor, batch: int = 2, steps: int = 5, seed: int = 1):
    """features (B,T,N,D), actions (B,T,A), states (B,T,S)."""
    g = torch.Generator().manual_seed(seed)
    features = torch.randn(batch, steps, model.tokens_per_frame, model.embed_dim, generator=g)
    actions = torch.randn(batch, steps, model.action_dim, generator=g)
    states = torch.randn(batch, steps, model.state_dim, generator=g)
    return F.layer_norm(features, (model.embed_dim,)), actions, states


@pytest.mark.parametrize("pos_embed", ["rope", "learned"])
def test_forward_and_rollout_shapes(pos_embed):
    model = tiny_model(pos_embed)
    features, actions, states = random_episodes(model, batch=2, steps=5)
    pred_features, pred_states = model(features, actions, states)
    assert pred_features.shape == (2, 5, 6, 24) and pred_states.shape == (2, 5, 2)
    # one context frame, K = 7 candidates of H = 3 actions each
    out = model.rollout(features[0, :1], states[0, :1], torch.randn(7, 3, 3))
    assert out.shape == (7, 3, 6, 24)


@pytest.mark.parametrize(
    "pos_embed,condition_patches,state_decoder", [("rope", False, 0), ("learned", False, 0), ("learned", True, 16)]
)
@pytest.mark.parametrize("changed", ["features", "actions", "states"])
def test_block_causal(pos_embed, condition_patches, state_decoder, changed):
    model = tiny_model(pos_embed, condition_patches=condition_patches, state_decoder=state_decoder)
    inputs = dict(zip(["features", "actions", "states"], random_episodes(model)))
    before = torch.cat([p.flatten(2) for p in model(**inputs)], dim=2)  # (B, T, N*D + S) per step

    future = {**inputs, changed: inputs[changed].clone()}
    future[changed][:, 2] += 1.0  # step 2 changes: predictions from steps 0, 1 must not
    after = torch.cat([p.flatten(2) for p in model(**future)], dim=2)
    torch.testing.assert_close(after[:, :2], before[:, :2], atol=1e-6, rtol=0)
    assert (after[:, 2:] - before[:, 2:]).abs().amax(dim=(0, 2)).min() > 1e-3

    past = {**inputs, changed: inputs[changed].clone()}
    past[changed][:, 0] += 1.0  # step 0 changes: every prediction does
    after = torch.cat([p.flatten(2) for p in model(**past)], dim=2)
    assert (after - before).abs().amax(dim=(0, 2)).min() > 1e-3


@pytest.mark.parametrize(
    "pos_embed,state_embed,condition_patches,state_decoder",
    [("rope", "linear", False, 0), ("learned", "linear", False, 0), ("rope", "fourier", False, 0),
     ("learned", "fourier", True, 16)],
)
@pytest.mark.parametrize("context", [1, 3])
def test_kv_cached_rollout_equals_full_recompute(
    pos_embed, state_embed, condition_patches, state_decoder, context, device
):
    model = tiny_model(pos_embed, state_embed, condition_patches=condition_patches, state_decoder=state_decoder)
    model.to(device)
    features, actions, states = (x.to(device) for x in random_episodes(model, batch=1, steps=context))
    candidates = torch.randn(5, 4, model.action_dim, device=device)
    args = (features[0], states[0], candidates, actions[0, : context - 1])
    with torch.no_grad():
        cached, cached_states = model.rollout(*args, return_states=True)
        recomputed, recomputed_states = model.rollout(*args, use_cache=False, return_states=True)
    torch.testing.assert_close(cached, recomputed, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(cached_states, recomputed_states, atol=1e-5, rtol=1e-5)
    assert cached_states.shape == (5, 4, model.state_dim)
    assert (cached[0] - cached[1]).abs().max() > 1e-3  # candidates differ


def test_rollout_of_k_candidates_equals_k_single_rollouts():
    model = tiny_model()
    features, actions, states = random_episodes(model, batch=1, steps=2)
    candidates = torch.randn(4, 3, model.action_dim)
    with torch.no_grad():
        batched = model.rollout(features[0], states[0], candidates, actions[0, :1])
        single = torch.cat([model.rollout(features[0], states[0], c[None], actions[0, :1]) for c in candidates])
    torch.testing.assert_close(batched, single, atol=1e-5, rtol=1e-5)


def test_unroll_of_a_batch_equals_rollouts_of_each_episode():
    model = tiny_model()
    features, actions, states = random_episodes(model, batch=3, steps=6)
    with torch.no_grad():
        pred, pred_states = model.unroll(features[:, :2], actions, states[:, :2])  # 2 context steps, 5 predicted
        # episode by episode: context_actions a[:1], then candidate (K = 1) actions a[1:]
        episodes = zip(features, actions, states)
        each = torch.cat([model.rollout(f[:2], s[:2], a[None, 1:], a[:1]) for f, a, s in episodes])
        first, first_states = model(features[:, :2], actions[:, :2], states[:, :2])
    assert pred.shape == (3, 5, 6, 24) and pred_states.shape == (3, 5, 2)
    torch.testing.assert_close(pred, each, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(pred[:, 0], first[:, -1], atol=1e-5, rtol=1e-5)  # step 1 = teacher forcing
    torch.testing.assert_close(pred_states[:, 0], first_states[:, -1], atol=1e-5, rtol=1e-5)


def test_rollout_is_differentiable_with_grad_and_inference_mode_without():
    model = tiny_model()
    features, _, states = random_episodes(model, batch=1, steps=1)
    actions = torch.zeros(2, 3, model.action_dim, requires_grad=True)
    model.rollout(features[0], states[0], actions).square().sum().backward()
    assert actions.grad.abs().sum() > 0
    with torch.no_grad():
        assert torch.is_inference(model.rollout(features[0], states[0], actions))


def synthetic_dynamics(batch: int, steps: int, mix: torch.Tensor, gen: torch.Generator):
    """A point moves by its actions, pos[t+1] = pos[t] + action[t]; its state is the position and each patch
    feature a fixed random affine function of it, layer-normalised like encoder features."""
    start = torch.rand(batch, 1, 2, generator=gen) * 2 - 1
    actions = torch.randn(batch, steps, 2, generator=gen) * 0.4
    pos = start + torch.cumsum(actions, dim=1) - actions
    features = F.layer_norm(torch.einsum("btc,cnd->btnd", pos, mix[:2]) + mix[2], (mix.shape[-1],))
    return features, actions, pos


def test_learns_action_conditioned_dynamics():
    torch.manual_seed(0)
    model = ActionConditionedPredictor(
        embed_dim=16, predictor_dim=32, depth=2, num_heads=2, action_dim=2, state_dim=2, grid_hw=(2, 2)
    )
    gen = torch.Generator().manual_seed(0)
    mix = torch.randn(3, 4, 16, generator=gen)  # (position x, position y, bias) -> 4 patches x 16 channels
    held_out = synthetic_dynamics(64, 4, mix, gen)

    def evaluate(actions_scale: float = 1.0) -> float:
        features, actions, states = held_out
        with torch.no_grad():
            return ac_loss(model, features, actions * actions_scale, states)[0].item()

    initial = evaluate()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(100):
        total, parts = ac_loss(model, *synthetic_dynamics(32, 4, mix, gen), context=1, steps=3)
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
    model.eval()
    trained = evaluate()
    assert set(parts) == {"teacher_forcing", "rollout", "state", "rollout_state"}
    assert trained < 0.5 * initial, (initial, trained)
    assert evaluate(actions_scale=0.0) > 1.5 * trained  # the predictor uses the actions


def sharp_scene(batch: int, steps: int, bumps: torch.Tensor, gen: torch.Generator):
    """A point moves by its actions in [-1, 1]^2; each patch feature is a narrow bump of the position around the
    patch's centre times a fixed random vector: the frame is a sharp function of the state, as when a small agent
    crosses a patch."""
    centres, vectors = bumps[:, :2], bumps[:, 2:]  # (N, 2), (N, D)
    start = torch.rand(batch, 1, 2, generator=gen) * 2 - 1
    actions = torch.randn(batch, steps, 2, generator=gen) * 0.3
    pos = (start + torch.cumsum(actions, dim=1) - actions).clamp(-1, 1)
    weight = torch.exp(-(pos[:, :, None] - centres).square().sum(-1) / 0.2)  # (B, T, N)
    return weight[..., None] * vectors, actions, pos


def test_state_decoder_learns_a_frame_that_is_a_sharp_function_of_the_state():
    gen = torch.Generator().manual_seed(0)
    grid = torch.linspace(-0.75, 0.75, 3)
    bumps = torch.cat([torch.cartesian_prod(grid, grid), 2 * torch.randn(9, 16, generator=gen)], dim=1)
    held_out = sharp_scene(128, 3, bumps, gen)

    def train(state_decoder: int) -> float:
        torch.manual_seed(0)
        model = ActionConditionedPredictor(
            embed_dim=16, predictor_dim=32, depth=2, num_heads=2, action_dim=2, state_dim=2, grid_hw=(3, 3),
            norm_output=False, state_embed="fourier", state_decoder=state_decoder,
        )
        optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
        data = torch.Generator().manual_seed(1)
        for _ in range(150):
            total, _ = ac_loss(model, *sharp_scene(32, 3, bumps, data), steps=2, state_weight=10.0,
                               detach_feedback=True)
            optimizer.zero_grad()
            total.backward()
            optimizer.step()
        with torch.no_grad():
            return teacher_forcing_loss(model.eval(), *held_out)[0].item()

    without, with_decoder = train(0), train(64)
    predict_zero = held_out[0][:, 1:].abs().mean().item()
    assert with_decoder < 0.5 * min(without, predict_zero), (predict_zero, without, with_decoder)


def test_detach_feedback_cuts_the_gradient_through_fed_back_features_only():
    model = tiny_model().train()
    features, actions, states = random_episodes(model, batch=2, steps=3)
    for detach in (False, True):
        head_outputs = []  # the feature head's output at step 1, then step 2
        hook = model.feature_head.register_forward_hook(lambda module, inputs, out: head_outputs.append(out))
        pred, _ = model.unroll(features[:, :1], actions, states[:, :1], detach_feedback=detach)
        hook.remove()
        step_2 = (pred[:, 1] * torch.randn_like(pred[:, 1])).sum()
        (grad,) = torch.autograd.grad(step_2, head_outputs[0])
        assert (grad.abs().sum() == 0) == detach  # step 2 reads step 1's prediction, with or without its gradient
    with torch.no_grad():  # same values either way
        torch.testing.assert_close(model.unroll(features[:, :1], actions, states[:, :1], detach_feedback=True),
                                   model.unroll(features[:, :1], actions, states[:, :1]))


def test_fourier_state_embedding_separates_nearby_states():
    """Octave sin/cos features: two states 0.05 apart (normalised units) map to clearly different features, a
    step a linear embedding cannot take; the embedding stays a function of the state alone."""
    embed = FourierEmbed(in_dim=2, out_dim=8, octaves=6)
    x = torch.tensor([[0.50, 0.0], [0.55, 0.0]])
    angles = x[..., None] * embed.freqs
    features = torch.cat([x, angles.flatten(-2).sin(), angles.flatten(-2).cos()], dim=-1)
    torch.testing.assert_close(embed(x), embed.proj(features))
    assert (features[0] - features[1]).abs().max() > 0.5  # the top octave, 8 pi, moves 0.4 pi over 0.05
    with pytest.raises(ValueError, match="state_embed must be 'linear' or 'fourier'"):
        tiny_model(state_embed="mlp")


def test_losses_combine_with_weights():
    model = tiny_model()
    features, actions, states = random_episodes(model, batch=2, steps=4)
    tf, state = teacher_forcing_loss(model, features, actions, states)
    tf_l2, _ = teacher_forcing_loss(model, features, actions, states, loss="l2")
    ro, ro_state = rollout_loss(model, features, actions, states, context=2, steps=2)
    weights = dict(teacher_forcing_weight=0.5, rollout_weight=2.0, state_weight=3.0)
    total, parts = ac_loss(model, features, actions, states, context=2, steps=2, **weights)
    torch.testing.assert_close(total, 0.5 * tf + 2.0 * ro + 3.0 * (state + ro_state))
    torch.testing.assert_close(parts["rollout"], ro.detach())
    torch.testing.assert_close(parts["rollout_state"], ro_state.detach())
    # one rolled-out step from a two-step context is the teacher-forced prediction of step 2
    _, one_state = rollout_loss(model, features[:, :3], actions[:, :3], states[:, :3], context=2, steps=1)
    _, pred_states = model(features[:, :2], actions[:, :2], states[:, :2])
    torch.testing.assert_close(one_state, F.l1_loss(pred_states[:, -1:], states[:, 2:3]))
    assert tf_l2 != tf and total.requires_grad


def test_bad_inputs_raise_value_errors_naming_expected_and_got():
    model = tiny_model()
    features, actions, states = random_episodes(model, batch=2, steps=5)
    with pytest.raises(ValueError, match=r"actions: expected shape \(B, T, A\) = \(2, 5, 3\), got \(2, 5, 4\)"):
        model(features, torch.randn(2, 5, 4), states)
    with pytest.raises(ValueError, match=r"features: expected shape \(B, T, N, D\) = \(2, 5, 6, 24\), got"):
        model(torch.randn(2, 5, 6, 32), actions, states)
    with pytest.raises(ValueError, match=r"states: expected shape \(B, T, S\) = \(2, 5, 2\), got \(2, 4, 2\)"):
        model(features, actions, states[:, :4])
    with pytest.raises(ValueError, match=r"actions: expected shape \(K, H, A\) = \(K, H, 3\), got \(4, 7\)"):
        model.rollout(features[0, :1], states[0, :1], torch.randn(4, 7))
    with pytest.raises(ValueError, match=r"context_actions: expected shape \(Tc-1, A\) = \(1, 3\), got None"):
        model.rollout(features[0, :2], states[0, :2], torch.randn(4, 2, 3))
    with pytest.raises(ValueError, match="max_steps=64"):
        model.rollout(features[0, :1], states[0, :1], torch.randn(4, 65, 3))
    with pytest.raises(ValueError, match="T >= 2"):
        teacher_forcing_loss(model, features[:, :1], actions[:, :1], states[:, :1])
    with pytest.raises(ValueError, match="context \\+ steps <= T"):
        rollout_loss(model, features, actions, states, context=3, steps=3)
