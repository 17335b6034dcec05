"""V-JEPA 2.1's released encoders load into the toolkit's VisionTransformer and compute what the release computes.

No package runs V-JEPA 2.1, so its encoder's forward pass (facebookresearch/vjepa2, app/vjepa_2_1: conv tubelet
embedding, a video / image vector added to every token, a one-frame patch embedding for images, RoPE on channel
pairs with spatial positions rescaled onto a 16 x 16 grid, pre-norm blocks, the last of ``norms_block`` as output
norm) is written out below, from the weights alone, as the reference."""

import pytest
import torch
import torch.nn.functional as F

from vjepa.inference import load_encoder
from vjepa.models.factory import build_encoder
from vjepa.models.official import load_official_encoder
from vjepa.train.pretrain import pretrain

WIDTH, DEPTH, HEADS, PATCH, TUBELET = 192, 6, 3, 16, 2  # ViT-Ti (our vit_tiny); heads of 64 channels: RoPE parts of 20
PRETRAINED_GRID = 16  # V-JEPA 2.1 hard-codes 256 px / 16 px patches as the grid its positions are rescaled onto


def release_21_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """A random encoder state dict in V-JEPA 2.1's layout and names, large enough weights that attention (hence
    RoPE), both modality vectors and the choice among the four norms all show in the output."""
    g = torch.Generator().manual_seed(seed)

    def randn(*shape, std=0.3):
        return torch.randn(*shape, generator=g) * std

    state = {
        "patch_embed.proj.weight": randn(WIDTH, 3, TUBELET, PATCH, PATCH, std=0.05),
        "patch_embed.proj.bias": randn(WIDTH),
        "patch_embed_img.proj.weight": randn(WIDTH, 3, 1, PATCH, PATCH, std=0.05),
        "patch_embed_img.proj.bias": randn(WIDTH),
        "video_mod_embed": randn(1, 1, WIDTH, std=1.0), "img_mod_embed": randn(1, 1, WIDTH, std=1.0),
    }
    for i in range(DEPTH):
        b = f"blocks.{i}."
        state |= {b + "norm1.weight": 1 + randn(WIDTH, std=0.1), b + "norm1.bias": randn(WIDTH, std=0.1),
                  b + "attn.qkv.weight": randn(3 * WIDTH, WIDTH), b + "attn.qkv.bias": randn(3 * WIDTH, std=0.1),
                  b + "attn.proj.weight": randn(WIDTH, WIDTH, std=0.1), b + "attn.proj.bias": randn(WIDTH, std=0.1),
                  b + "norm2.weight": 1 + randn(WIDTH, std=0.1), b + "norm2.bias": randn(WIDTH, std=0.1),
                  b + "mlp.fc1.weight": randn(4 * WIDTH, WIDTH, std=0.1), b + "mlp.fc1.bias": randn(4 * WIDTH),
                  b + "mlp.fc2.weight": randn(WIDTH, 4 * WIDTH, std=0.05), b + "mlp.fc2.bias": randn(WIDTH)}
    for level in range(4):  # deep self-supervision's norms; the last one normalises the output
        state |= {f"norms_block.{level}.weight": 1 + randn(WIDTH), f"norms_block.{level}.bias": randn(WIDTH)}
    return state


def rotate(x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """V-JEPA 2.1's rotation of one axis' channels x (B, heads, N, P) by token positions (N,): channel pairs
    (2i, 2i+1) turn by position x 10000^(-2i/P)."""
    part = x.shape[-1]
    omega = 1.0 / 10000 ** (torch.arange(part // 2, dtype=x.dtype) / (part / 2))
    angles = positions[:, None] * omega  # (N, P/2)
    sin, cos = angles.sin().repeat_interleave(2, dim=-1), angles.cos().repeat_interleave(2, dim=-1)
    x1, x2 = x.unflatten(-1, (-1, 2)).unbind(-1)
    return x * cos + torch.stack((-x2, x1), dim=-1).flatten(-2) * sin


def reference_21(state: dict[str, torch.Tensor], clips: torch.Tensor) -> torch.Tensor:
    """V-JEPA 2.1's encoder forward on clips (B, C, T, H, W) -> (B, N, D); an image is T = 1."""
    image = clips.shape[2] == 1
    embed = "patch_embed_img.proj." if image else "patch_embed.proj."
    kernel = state[embed + "weight"]
    x = F.conv3d(clips, kernel, state[embed + "bias"], stride=kernel.shape[2:]).flatten(2).transpose(1, 2)
    x = x + state["img_mod_embed" if image else "video_mod_embed"]
    t_n, h_n, w_n = clips.shape[2] // kernel.shape[2], clips.shape[3] // PATCH, clips.shape[4] // PATCH
    ids = torch.arange(t_n * h_n * w_n)
    frame, row, col = ids // (h_n * w_n), (ids % (h_n * w_n)) // w_n, ids % w_n
    positions = (frame.float(), row * (PRETRAINED_GRID - 1) / (h_n - 1), col * (PRETRAINED_GRID - 1) / (w_n - 1))
    part = 2 * ((WIDTH // HEADS // 3) // 2)

    def layer_norm(y, name):
        return F.layer_norm(y, (WIDTH,), state[name + ".weight"], state[name + ".bias"], eps=1e-6)

    for i in range(DEPTH):
        b = f"blocks.{i}."
        qkv = F.linear(layer_norm(x, b + "norm1"), state[b + "attn.qkv.weight"], state[b + "attn.qkv.bias"])
        q, k, v = qkv.unflatten(-1, (3, HEADS, -1)).permute(2, 0, 3, 1, 4)
        q, k = (torch.cat([rotate(y[..., a * part:(a + 1) * part], pos) for a, pos in enumerate(positions)]
                          + [y[..., 3 * part:]], dim=-1) for y in (q, k))
        out = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).flatten(2)
        x = x + F.linear(out, state[b + "attn.proj.weight"], state[b + "attn.proj.bias"])
        hidden = F.gelu(F.linear(layer_norm(x, b + "norm2"), state[b + "mlp.fc1.weight"], state[b + "mlp.fc1.bias"]))
        x = x + F.linear(hidden, state[b + "mlp.fc2.weight"], state[b + "mlp.fc2.bias"])
    return layer_norm(x, "norms_block.3")


@pytest.fixture(scope="module")
def release_21_pt(tmp_path_factory):
    """A .pt as V-JEPA 2.1 saves one: the EMA encoder under ``ema_encoder``, DDP/backbone prefixes, an online
    encoder beside it (different weights) and a predictor."""
    state = release_21_state()
    online = {f"module.backbone.{k}": v for k, v in release_21_state(seed=1).items()}
    path = tmp_path_factory.mktemp("vjepa21") / "vjepa2_1_micro.pt"
    torch.save({"ema_encoder": {f"module.backbone.{k}": v for k, v in state.items()}, "encoder": online,
                "predictor": {"module.predictor_embed.weight": torch.zeros(48, WIDTH)}, "epoch": 10}, path)
    return state, path


def test_a_released_21_encoder_gives_the_release_features_on_videos_and_images(release_21_pt):
    state, path = release_21_pt
    encoder, config = load_official_encoder(path)
    model = config["model"]
    assert (model["rope_style"], model["rope_grid"], model["image_patch_embed"], model["modality_embed"]) == (
        "pairs", PRETRAINED_GRID, True, True)
    assert config["data"]["crop_size"] == 384 and model["size"] == "vit_tiny"
    videos = torch.randn(2, 3, 4, 64, 48)  # a (2, 4, 3) grid: positions rescaled by 15/3 and 15/2
    images = torch.randn(2, 3, 1, 48, 64)
    with torch.no_grad():
        for clips in (videos, images):
            torch.testing.assert_close(encoder(clips), reference_21(state, clips), rtol=2e-3, atol=2e-3)
            # in fp64 what is left is our RoPE frequency table, kept in fp32 (~1e-6 here)
            double = {k: v.double() for k, v in state.items()}
            torch.testing.assert_close(encoder.double()(clips.double()), reference_21(double, clips.double()),
                                       rtol=1e-4, atol=1e-4)
            encoder.float()

        # each V-JEPA 2.1 option changes the features: the comparison above sees all of them
        encoder.pos.rope_grid = None
        assert (encoder(videos) - reference_21(state, videos)).abs().max() > 0.05
        encoder.pos.rope_grid = PRETRAINED_GRID
        encoder.pos.rotary.style = "vjepa2"
        assert (encoder(videos) - reference_21(state, videos)).abs().max() > 0.05


def test_load_encoder_reads_the_ema_encoder_and_its_config_rebuilds_it(release_21_pt):
    state, path = release_21_pt
    encoder, config = load_encoder(path)  # what vjepa-extract / the probes / vjepa-train-ac encoder=... call
    clips = torch.randn(1, 3, 2, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(encoder(clips), reference_21(state, clips), rtol=2e-3, atol=2e-3)
    online, _ = load_official_encoder(path, which="encoder")
    with torch.no_grad():
        assert (online(clips) - encoder(clips)).abs().max() > 0.05  # ema_encoder, not the online one, by default
    rebuilt = build_encoder(config["model"])  # a toolkit run started from these weights rebuilds the same model
    assert rebuilt.architecture() == encoder.architecture()
    rebuilt.load_state_dict(encoder.state_dict())


def test_rope_grid_rescales_only_the_spatial_positions():
    """At the grid it names, rope_grid changes nothing; elsewhere h and w span 0..G-1 and t stays as it is."""
    plain = build_encoder({"size": "vit_micro", "patch_size": 16, "tubelet_size": 2, "pos_embed": "rope"})
    rescaled = build_encoder({"size": "vit_micro", "patch_size": 16, "tubelet_size": 2, "pos_embed": "rope",
                              "rope_grid": 4})
    idx = torch.arange(2 * 4 * 4)[None]
    torch.testing.assert_close(rescaled.pos.rope((2, 4, 4), idx), plain.pos.rope((2, 4, 4), idx))
    cos, _ = rescaled.pos.rope((3, 2, 7), torch.arange(3 * 2 * 7)[None])
    expected, _ = plain.pos.rotary(torch.tensor([[[2.0, 3.0, 3.0]]]))  # the last token: t 2, h 1 -> 3, w 6 -> 3
    torch.testing.assert_close(cos[:, :, -1:], expected)
    with pytest.raises(ValueError, match="rope_grid needs pos_embed='rope'"):
        build_encoder({"size": "vit_micro", "patch_size": 16, "tubelet_size": 2, "rope_grid": 4})


def test_pretraining_continues_from_a_released_21_encoder(release_21_pt, tiny_pretrain_config):
    """init_encoder takes the 2.1 .pt once the model config builds its network; a config that does not is told
    which keys differ."""
    _, path = release_21_pt
    size = ["model.size=vit_tiny", "model.patch_size=16", "data.generate.size=64", "data.crop_size=64", "steps=1"]
    with pytest.raises(ValueError, match="rope_grid 16 \\(config: None\\)"):
        pretrain(tiny_pretrain_config(f"init_encoder={path}", *size))
    cfg = tiny_pretrain_config(f"init_encoder={path}", *size, "model.rope_grid=16", "model.image_patch_embed=true",
                               "model.modality_embed=true")
    pretrain(cfg)
    encoder, _ = load_encoder(f"{cfg.run_dir}/latest.pt")
    assert encoder.architecture()["rope_grid"] == PRETRAINED_GRID and encoder.modality_embed is not None
