"""The encoder and mask predictor: shapes, the image (T = 1) path, position encodings, errors."""

import pytest
import torch

from vjepa.models import MaskPredictor, VisionTransformer, gather_tokens
from vjepa.models.pos_embed import RotaryEmbedding3D, apply_rotary, grid_coords, sincos_3d
from vjepa.models.vit import rope_coords


def tiny_encoder(pos_embed="rope", tubelet_size=2):
    return VisionTransformer(embed_dim=48, depth=2, num_heads=3, patch_size=8, tubelet_size=tubelet_size,
                             pos_embed=pos_embed)


@pytest.mark.parametrize("pos_embed", ["sincos", "rope"])
def test_encoder_encodes_all_tokens_or_a_context_subset(pos_embed, device):
    torch.manual_seed(0)
    encoder = tiny_encoder(pos_embed).to(device)
    clips = torch.randn(2, 3, 4, 32, 32, device=device)  # (B, C, T, H, W) -> grid (2, 4, 4)
    assert encoder.grid(clips) == (2, 4, 4)
    full = encoder(clips)
    assert full.shape == (2, 32, 48)
    context_idx = torch.tensor([[0, 3, 17, 30], [1, 2, 5, 31]], device=device)
    context = encoder(clips, context_idx)
    assert context.shape == (2, 4, 48)
    # Context tokens only attend to each other, so they differ from the same tokens seen in the full clip.
    assert not torch.allclose(context, gather_tokens(full, context_idx), atol=1e-4)


def test_an_image_is_a_one_frame_clip():
    torch.manual_seed(0)
    image = torch.randn(2, 3, 1, 32, 32)
    video_encoder = tiny_encoder(tubelet_size=2)
    assert video_encoder(image).shape == (2, 16, 48)  # the frame fills one tubelet
    # Same as a clip holding the frame twice.
    torch.testing.assert_close(video_encoder(image), video_encoder(image.expand(-1, -1, 2, -1, -1)))
    image_encoder = tiny_encoder(tubelet_size=1)
    assert image_encoder(image).shape == (2, 16, 48)


def test_predictor_returns_one_prediction_per_target():
    torch.manual_seed(0)
    encoder = tiny_encoder()
    predictor = MaskPredictor(embed_dim=48, predictor_dim=24, depth=2, num_heads=3, pos_embed="sincos")
    clips = torch.randn(2, 3, 4, 32, 32)
    context_idx = torch.arange(0, 20).expand(2, 20)
    target_idx = torch.arange(20, 32).expand(2, 12)
    pred = predictor(encoder(clips, context_idx), context_idx, target_idx, encoder.grid(clips))
    assert pred.shape == (2, 12, 48)
    context = encoder(clips, context_idx)
    # Tokens carry their positions, so the order of the targets does not matter ...
    flipped = predictor(context, context_idx, target_idx.flip(1), encoder.grid(clips))
    torch.testing.assert_close(flipped.flip(1), pred, atol=1e-5, rtol=1e-4)
    # ... but where they are does.
    elsewhere = predictor(context, context_idx, target_idx - 12, encoder.grid(clips))
    assert not torch.allclose(pred, elsewhere, atol=1e-3)


def test_bad_shapes_raise_clear_errors():
    encoder = tiny_encoder()
    with pytest.raises(ValueError, match=r"\(B, C, T, H, W\)"):
        encoder(torch.randn(3, 32, 32))
    with pytest.raises(ValueError, match="does not tile"):
        encoder(torch.randn(1, 3, 4, 30, 32))
    predictor = MaskPredictor(embed_dim=48, predictor_dim=24, depth=1, num_heads=3)
    with pytest.raises(ValueError, match="context_idx"):
        predictor(torch.randn(1, 5, 48), torch.arange(4)[None], torch.arange(4, 6)[None], (2, 4, 4))


def test_sincos_table_is_distinct_per_token_and_rope_preserves_norms():
    grid = (2, 3, 4)
    table = sincos_3d(grid, 48)
    assert table.shape == (24, 48)
    assert torch.cdist(table, table).add(torch.eye(24)).min() > 0.1
    rope = RotaryEmbedding3D(head_dim=16)
    cos, sin = rope(grid_coords(grid)[None])
    q = torch.randn(1, 2, 24, 16)
    rotated = apply_rotary(q, cos, sin)
    torch.testing.assert_close(rotated.norm(dim=-1), q.norm(dim=-1))
    # Relative positions: the score between two rotated vectors depends only on their offset.
    x = torch.randn(16)
    coords = torch.tensor([[[0, 0, 0], [1, 2, 3], [5, 5, 5], [6, 7, 8]]])
    c, s = rope(coords)
    r = apply_rotary(x.expand(1, 1, 4, 16), c, s)[0, 0]
    torch.testing.assert_close(r[0] @ r[1], r[2] @ r[3], rtol=1e-4, atol=1e-4)


def test_cached_position_tables_stay_real_when_first_built_under_a_meta_device():
    """FLOP counting builds models on the meta device; the cached tables must still serve real runs afterwards."""
    with torch.device("meta"):
        assert grid_coords((3, 5, 7)).device.type == "cpu"
        VisionTransformer(embed_dim=48, depth=1, num_heads=3, patch_size=8, pos_embed="rope")(
            torch.empty(1, 3, 6, 40, 56))
    encoder = VisionTransformer(embed_dim=48, depth=1, num_heads=3, patch_size=8, pos_embed="rope")
    assert encoder(torch.randn(1, 3, 6, 40, 56)).shape == (1, 3 * 5 * 7, 48)


def test_position_tables_are_cached_per_device():
    """Each device keeps its own copy of a table, built once: a forward on a GPU does not copy it over again."""
    meta = torch.device("meta")
    assert grid_coords((3, 5, 7), meta).device == meta and grid_coords((3, 5, 7)).device.type == "cpu"
    assert grid_coords((3, 5, 7), meta) is grid_coords((3, 5, 7), meta)
    assert sincos_3d((3, 5, 7), 48, meta) is sincos_3d((3, 5, 7), 48, meta)
    scaled = rope_coords((1, 4, 4), 7, meta)
    assert scaled is rope_coords((1, 4, 4), 7, meta) and scaled.device == meta
    torch.testing.assert_close(rope_coords((1, 4, 4), 7, torch.device("cpu"))[-1], torch.tensor([0.0, 6.0, 6.0]))
    with torch.inference_mode():  # first asked for while encoding: still a table training can save for backward
        table = grid_coords((2, 9, 5), meta)
    assert not table.is_inference()
