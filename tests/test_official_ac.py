"""V-JEPA 2-AC's released predictor in the toolkit's ActionConditionedPredictor. There is no reference package to
run, so the reference here is the official predictor's forward pass written out step by step from its published
code: embed, interleave [action, state, patches] per frame, block-causal attention with 3D RoPE in the release's
tiled-frequency form (action and state tokens rotated in time only), final norm and projection of the patches."""

import pytest
import torch
import torch.nn.functional as F

from planning.cli import world_model_blocks
from vjepa.inference import load_encoder
from vjepa.models import ActionConditionedPredictor, VisionTransformer
from vjepa.models.official import AC_RENAMES, load_official_ac_predictor
from vjepa.models.pose import apply_delta_pose
from vjepa.world_model import load_world_model, official_world_model

HEADS, GRID, STEPS = 2, (2, 3), 3  # heads of 24 channels: RoPE parts of 8 (4 frequencies)


def rotate(x: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """The release's rotation of one axis part x (..., N, P) by positions pos (N,): frequencies tiled, not paired."""
    half = x.shape[-1] // 2
    freq = pos[:, None] * (1.0 / 10000 ** (torch.arange(half) / half))  # (N, P/2)
    cos, sin = freq.cos().repeat(1, 2), freq.sin().repeat(1, 2)  # (N, P): f0..f_{P/2-1}, f0..f_{P/2-1}
    partner = torch.stack([-x[..., 1::2], x[..., 0::2]], dim=-1).flatten(-2)
    return x * cos + partner * sin


def reference_forward(w: dict, frames: torch.Tensor, actions: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
    """frames (B, T, N, D), actions (B, T, A), states (B, T, S) -> predicted frame tokens (B, T, N, D)."""
    lin = lambda x, name: F.linear(x, w[f"{name}.weight"], w[f"{name}.bias"])  # noqa: E731
    b, t, n, _ = frames.shape
    x = torch.cat([lin(actions, "action_encoder")[:, :, None], lin(states, "state_encoder")[:, :, None],
                   lin(frames, "predictor_embed")], dim=2).flatten(1, 2)  # (B, T*(2+N), P)
    block = 2 + n
    step = torch.arange(t).repeat_interleave(block)
    allowed = step[:, None] >= step[None, :]
    slot = torch.arange(t * block) % block  # 0 action, 1 state, 2.. patches
    patch = (slot - 2).clamp(min=0)
    pos_t, pos_h, pos_w = step.float(), (patch // GRID[1]).float(), (patch % GRID[1]).float()
    is_patch = slot >= 2
    head_dim = x.shape[-1] // HEADS
    part = 2 * ((head_dim // 3) // 2)

    def rope(q: torch.Tensor) -> torch.Tensor:  # q (B, heads, L, hd)
        d = rotate(q[..., :part], pos_t)
        h = torch.where(is_patch[:, None], rotate(q[..., part:2 * part], pos_h), q[..., part:2 * part])
        wd = torch.where(is_patch[:, None], rotate(q[..., 2 * part:3 * part], pos_w), q[..., 2 * part:3 * part])
        return torch.cat([d, h, wd, q[..., 3 * part:]], dim=-1)

    depth = 1 + max(int(k.split(".")[1]) for k in w if k.startswith("predictor_blocks."))
    for i in range(depth):
        p = f"predictor_blocks.{i}."
        y = F.layer_norm(x, x.shape[-1:], w[p + "norm1.weight"], w[p + "norm1.bias"], eps=1e-6)
        q, k, v = lin(y, p + "attn.qkv").unflatten(-1, (3, HEADS, -1)).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(rope(q), rope(k), v, attn_mask=allowed)
        x = x + lin(out.transpose(1, 2).flatten(2), p + "attn.proj")
        y = F.layer_norm(x, x.shape[-1:], w[p + "norm2.weight"], w[p + "norm2.bias"], eps=1e-6)
        x = x + lin(F.gelu(lin(y, p + "mlp.fc1")), p + "mlp.fc2")
    x = x.unflatten(1, (t, block))[:, :, 2:]
    x = F.layer_norm(x, x.shape[-1:], w["predictor_norm.weight"], w["predictor_norm.bias"], eps=1e-6)
    return lin(x, "predictor_proj")


def release_layout(predictor: ActionConditionedPredictor) -> dict[str, torch.Tensor]:
    """``predictor``'s weights under the release's names (no prefixes), as its ``.pt`` stores them; a state head,
    which the release does not have, is left out."""
    ours_to_theirs = {new: old for old, new in AC_RENAMES}
    weights = {}
    for name, value in predictor.state_dict().items():
        prefix = next((p for p in ours_to_theirs if name.startswith(p)), None)
        if prefix is not None:
            weights[ours_to_theirs[prefix] + name[len(prefix):]] = value
    return weights


def released_checkpoint(tmp_path) -> tuple[str, dict]:
    """A small predictor in the release's .pt layout (names, prefixes, the unused extrinsics encoder)."""
    torch.manual_seed(0)
    model = ActionConditionedPredictor(embed_dim=24, predictor_dim=48, depth=2, num_heads=HEADS, action_dim=7,
                                       state_dim=7, grid_hw=GRID, max_steps=8)
    with torch.no_grad():
        for block in model.blocks:
            block.attn.qkv.weight.normal_(0, 0.3)
    weights = release_layout(model)
    weights["extrinsics_encoder.weight"], weights["extrinsics_encoder.bias"] = torch.randn(48, 6), torch.zeros(48)
    path = tmp_path / "vjepa2-ac.pt"
    torch.save({"encoder": {}, "predictor": {f"module.backbone.{k}": v for k, v in weights.items()}}, path)
    return str(path), weights


def test_released_ac_predictor_computes_the_official_forward(tmp_path):
    path, weights = released_checkpoint(tmp_path)
    predictor = load_official_ac_predictor(path, num_heads=HEADS, grid_hw=GRID, max_steps=8)
    frames = F.layer_norm(torch.randn(2, STEPS, 6, 24), (24,))
    actions, states = torch.randn(2, STEPS, 7), torch.randn(2, STEPS, 7)
    with torch.no_grad():
        features, next_states = predictor(frames, actions, states)
        reference = F.layer_norm(reference_forward(weights, frames, actions, states), (24,))  # fed back normalised
    torch.testing.assert_close(features, reference, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(next_states, apply_delta_pose(states, actions))  # no state head: the planner's update

    paired = ActionConditionedPredictor(embed_dim=24, predictor_dim=48, depth=2, num_heads=HEADS, action_dim=7,
                                        state_dim=7, grid_hw=GRID, max_steps=8, state_update="delta_pose")
    paired.load_state_dict(predictor.state_dict())
    with torch.no_grad():  # the textbook pair rotation computes something else: the test sees the RoPE form
        assert (paired(frames, actions, states)[0] - features).abs().max() > 1e-2


def test_released_ac_predictor_rolls_candidate_actions_out(tmp_path):
    path, _ = released_checkpoint(tmp_path)
    predictor = load_official_ac_predictor(path, num_heads=HEADS, grid_hw=GRID, max_steps=8)
    context = F.layer_norm(torch.randn(1, 6, 24), (24,))
    state, actions = torch.randn(1, 7), torch.randn(5, 4, 7)  # 5 candidates x 4 steps
    features, states = predictor.rollout(context, state, actions, return_states=True)
    assert features.shape == (5, 4, 6, 24)
    pose = state.expand(5, 7)
    for step in range(4):  # the pose follows the actions, one planner update a step
        pose = apply_delta_pose(pose, actions[:, step])
        torch.testing.assert_close(states[:, step], pose)
    recomputed = predictor.rollout(context, state, actions, use_cache=False)
    torch.testing.assert_close(features, recomputed, rtol=1e-4, atol=1e-4)


def test_released_world_model_loads_behind_the_planners_interface(tmp_path):
    """A 2-AC-layout .pt (encoder + predictor, official names) -> `load_world_model`, as `vjepa-plan` calls it."""
    _, predictor_weights = released_checkpoint(tmp_path)  # a predictor for 24-d features
    encoder = VisionTransformer(embed_dim=24, depth=1, num_heads=2, patch_size=16, pos_embed="rope",
                                rope_style="vjepa2")
    torch.save({"encoder": {f"module.backbone.{k}": v for k, v in encoder.state_dict().items()},
                "predictor": {f"module.backbone.{k}": v for k, v in predictor_weights.items()}}, tmp_path / "ac.pt")
    with pytest.raises(ValueError, match="pass num_heads"):  # 24 wide: no official size, heads unknown
        load_world_model(tmp_path / "ac.pt")
    wm = official_world_model(tmp_path / "ac.pt", image_size=32, encoder_heads=2, predictor_heads=HEADS)
    assert (wm.action_dim, wm.state_dim, wm.image_size) == (7, 7, 32)
    assert world_model_blocks(official_world_model(tmp_path / "ac.pt", image_size=32, frame_step=4, encoder_heads=2,
                                                   predictor_heads=HEADS)) == (1, "repeat")  # a pose change a step
    frames = torch.randint(0, 256, (2, 48, 40, 3), dtype=torch.uint8)  # any size: centre square, resized
    z = wm.encode(frames)
    assert z.shape == (2, 4, 24)  # a 2 x 2 token grid of a 32-px frame
    torch.testing.assert_close(z, F.layer_norm(z, (24,)))  # layer-normalised, as the release's planner feeds them
    state, actions = torch.randn(7), torch.randn(3, 2, 7)
    rollout = wm.rollout(z[-1:], state[None], torch.zeros(0, 7), actions)
    assert rollout.features.shape == (3, 2, 4, 24)
    torch.testing.assert_close(rollout.states[:, 0], apply_delta_pose(state.expand(3, 7), actions[:, 0]))  # own units


def test_load_encoder_takes_the_2ac_checkpoint_whose_only_encoder_is_encoder(tmp_path):
    encoder = VisionTransformer(embed_dim=384, depth=1, num_heads=6, pos_embed="rope", rope_style="vjepa2")
    torch.save({"encoder": {f"module.backbone.{k}": v for k, v in encoder.state_dict().items()}, "predictor": {}},
               tmp_path / "ac.pt")
    loaded, config = load_encoder(tmp_path / "ac.pt")  # asks for the target encoder, takes the only one there
    assert loaded.num_heads == 6 and config["model"]["rope_style"] == "vjepa2"  # ViT-S width: 6 heads
    clips = torch.randn(1, 3, 2, 32, 32)
    torch.testing.assert_close(loaded(clips), encoder.eval()(clips))
