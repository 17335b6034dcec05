"""V-JEPA 2.1's released encoders and mask predictors load into the toolkit's VisionTransformer and MaskPredictor
and compute what the release computes.

No package runs V-JEPA 2.1, so its forward passes (facebookresearch/vjepa2, app/vjepa_2_1) are written out below,
from the weights alone, as the reference. Encoder: conv tubelet embedding, a video / image vector added to every
token, a one-frame patch embedding for images, RoPE on channel pairs with spatial positions rescaled onto a 16 x 16
grid, pre-norm blocks, the last of ``norms_block`` as output norm (the others on the earlier levels its deep
self-supervision reads). Predictor: the four levels fused by an MLP, mask tokens, tokens sorted by position, a
modality vector, the same blocks, separate projections of the target and context outputs."""

import pytest
import torch
import torch.nn.functional as F

from vjepa.cli.inspect_weights import main as inspect_main
from vjepa.cli.inspect_weights import pretrain_overrides
from vjepa.inference import load_encoder, load_predictor
from vjepa.models.factory import build_encoder, build_predictor
from vjepa.models.official import encoder_from_state_dict, load_official_encoder, load_official_predictor
from vjepa.train.pretrain import pretrain

WIDTH, DEPTH, HEADS, PATCH, TUBELET = 192, 6, 3, 16, 2  # ViT-Ti (our vit_tiny); heads of 64 channels: RoPE parts of 20
PRETRAINED_GRID = 16  # V-JEPA 2.1 hard-codes 256 px / 16 px patches as the grid its positions are rescaled onto
LEVELS = (2, 3, 4, 6)  # where deep self-supervision reads a 6-block encoder (2.1 itself has no 6-block model)
PRED_WIDTH, PRED_DEPTH, PRED_HEADS, MASK_TOKENS = 192, 2, 12, 3  # 12 heads: what the loader assumes for predictors


def randn_from(g: torch.Generator):
    def randn(*shape, std=0.3):
        return torch.randn(*shape, generator=g) * std
    return randn


def block_state(prefix: str, width: int, randn) -> dict[str, torch.Tensor]:
    """One pre-norm transformer block's weights under ``prefix``, large enough that attention (hence RoPE) shows."""
    return {prefix + "norm1.weight": 1 + randn(width, std=0.1), prefix + "norm1.bias": randn(width, std=0.1),
            prefix + "attn.qkv.weight": randn(3 * width, width), prefix + "attn.qkv.bias": randn(3 * width, std=0.1),
            prefix + "attn.proj.weight": randn(width, width, std=0.1), prefix + "attn.proj.bias": randn(width, std=0.1),
            prefix + "norm2.weight": 1 + randn(width, std=0.1), prefix + "norm2.bias": randn(width, std=0.1),
            prefix + "mlp.fc1.weight": randn(4 * width, width, std=0.1), prefix + "mlp.fc1.bias": randn(4 * width),
            prefix + "mlp.fc2.weight": randn(width, 4 * width, std=0.05), prefix + "mlp.fc2.bias": randn(width)}


def release_21_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """A random encoder state dict in V-JEPA 2.1's layout and names, large enough weights that attention (hence
    RoPE), both modality vectors and the choice among the four norms all show in the output."""
    randn = randn_from(torch.Generator().manual_seed(seed))
    state = {
        "patch_embed.proj.weight": randn(WIDTH, 3, TUBELET, PATCH, PATCH, std=0.05),
        "patch_embed.proj.bias": randn(WIDTH),
        "patch_embed_img.proj.weight": randn(WIDTH, 3, 1, PATCH, PATCH, std=0.05),
        "patch_embed_img.proj.bias": randn(WIDTH),
        "video_mod_embed": randn(1, 1, WIDTH, std=1.0), "img_mod_embed": randn(1, 1, WIDTH, std=1.0),
    }
    for i in range(DEPTH):
        state |= block_state(f"blocks.{i}.", WIDTH, randn)
    for level in range(4):  # deep self-supervision's norms; the last one normalises the output
        state |= {f"norms_block.{level}.weight": 1 + randn(WIDTH), f"norms_block.{level}.bias": randn(WIDTH)}
    return state


def release_21_predictor_state(seed: int = 2) -> dict[str, torch.Tensor]:
    """A random V-JEPA 2.1 predictor state dict: 4 levels of the encoder fused by predictor_embed (4D -> D -> P),
    mask tokens, modality vectors, a projection for the targets and one for the context tokens."""
    randn = randn_from(torch.Generator().manual_seed(seed))
    state = {"predictor_embed.0.weight": randn(WIDTH, 4 * WIDTH, std=0.1), "predictor_embed.0.bias": randn(WIDTH),
             "predictor_embed.2.weight": randn(PRED_WIDTH, WIDTH, std=0.1), "predictor_embed.2.bias": randn(PRED_WIDTH),
             "video_mod_embed": randn(1, 1, PRED_WIDTH, std=1.0), "img_mod_embed": randn(1, 1, PRED_WIDTH, std=1.0),
             "predictor_norm.weight": 1 + randn(PRED_WIDTH), "predictor_norm.bias": randn(PRED_WIDTH),
             "predictor_proj.weight": randn(4 * WIDTH, PRED_WIDTH), "predictor_proj.bias": randn(4 * WIDTH),
             "predictor_proj_context.weight": randn(4 * WIDTH, PRED_WIDTH),
             "predictor_proj_context.bias": randn(4 * WIDTH)}
    state |= {f"mask_tokens.{i}": randn(1, 1, PRED_WIDTH, std=1.0) for i in range(MASK_TOKENS)}
    for i in range(PRED_DEPTH):
        state |= block_state(f"predictor_blocks.{i}.", PRED_WIDTH, randn)
    return state


def rotate(x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """V-JEPA 2.1's rotation of one axis' channels x (B, heads, N, P) by token positions (N,) or (B, 1, N):
    channel pairs (2i, 2i+1) turn by position x 10000^(-2i/P)."""
    part = x.shape[-1]
    omega = 1.0 / 10000 ** (torch.arange(part // 2, dtype=x.dtype) / (part / 2))
    angles = positions[..., None].to(x.dtype) * omega  # (..., N, P/2)
    sin, cos = angles.sin().repeat_interleave(2, dim=-1), angles.cos().repeat_interleave(2, dim=-1)
    x1, x2 = x.unflatten(-1, (-1, 2)).unbind(-1)
    return x * cos + torch.stack((-x2, x1), dim=-1).flatten(-2) * sin


def layer_norm(state: dict[str, torch.Tensor], x: torch.Tensor, name: str) -> torch.Tensor:
    return F.layer_norm(x, x.shape[-1:], state[name + ".weight"], state[name + ".bias"], eps=1e-6)


def reference_block(state, x, prefix: str, heads: int, positions) -> torch.Tensor:
    """V-JEPA 2.1's pre-norm block: RoPE on the first three parts of 2 (head_dim // 3 // 2) channels, by the
    tokens' (t, h, w) ``positions``; the channels left over are not rotated."""
    part = 2 * ((x.shape[-1] // heads // 3) // 2)
    qkv = F.linear(layer_norm(state, x, prefix + "norm1"), state[prefix + "attn.qkv.weight"],
                   state[prefix + "attn.qkv.bias"])
    q, k, v = qkv.unflatten(-1, (3, heads, -1)).permute(2, 0, 3, 1, 4)
    q, k = (torch.cat([rotate(y[..., a * part:(a + 1) * part], pos) for a, pos in enumerate(positions)]
                      + [y[..., 3 * part:]], dim=-1) for y in (q, k))
    out = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).flatten(2)
    x = x + F.linear(out, state[prefix + "attn.proj.weight"], state[prefix + "attn.proj.bias"])
    hidden = F.gelu(F.linear(layer_norm(state, x, prefix + "norm2"), state[prefix + "mlp.fc1.weight"],
                             state[prefix + "mlp.fc1.bias"]))
    return x + F.linear(hidden, state[prefix + "mlp.fc2.weight"], state[prefix + "mlp.fc2.bias"])


def positions_21(ids: torch.Tensor, grid: tuple[int, int, int]) -> tuple[torch.Tensor, ...]:
    """2.1's (frame, row, column) of token indices, rows and columns rescaled by (16 - 1) / (grid - 1)."""
    _, h_n, w_n = grid
    frame, row, col = ids // (h_n * w_n), (ids % (h_n * w_n)) // w_n, ids % w_n
    return frame.float(), row * (PRETRAINED_GRID - 1) / (h_n - 1), col * (PRETRAINED_GRID - 1) / (w_n - 1)


def reference_21(state: dict[str, torch.Tensor], clips: torch.Tensor, levels: tuple[int, ...] = ()) -> torch.Tensor:
    """V-JEPA 2.1's encoder forward on clips (B, C, T, H, W) -> (B, N, D); an image is T = 1. With ``levels``
    (training mode) the features after those blocks, each through its ``norms_block``, concatenated."""
    image = clips.shape[2] == 1
    embed = "patch_embed_img.proj." if image else "patch_embed.proj."
    kernel = state[embed + "weight"]
    x = F.conv3d(clips, kernel, state[embed + "bias"], stride=kernel.shape[2:]).flatten(2).transpose(1, 2)
    x = x + state["img_mod_embed" if image else "video_mod_embed"]
    grid = (clips.shape[2] // kernel.shape[2], clips.shape[3] // PATCH, clips.shape[4] // PATCH)
    positions = positions_21(torch.arange(x.shape[1]), grid)
    outputs = []
    for i in range(DEPTH):
        x = reference_block(state, x, f"blocks.{i}.", HEADS, positions)
        if i + 1 in levels:
            outputs.append(layer_norm(state, x, f"norms_block.{levels.index(i + 1)}"))
    return torch.cat(outputs, dim=-1) if levels else layer_norm(state, x, "norms_block.3")


def reference_21_predictor(state, context, context_idx, target_idx, grid, mask_index: int, image: bool):
    """V-JEPA 2.1's predictor forward: context (B, Nc, 4D) at context_idx -> (target outputs (B, Nt, 4D), context
    outputs (B, Nc, 4D)); a square grid, as 2.1's predictor assumes (its construction-time grid_size)."""
    x = F.linear(F.gelu(F.linear(context, state["predictor_embed.0.weight"], state["predictor_embed.0.bias"])),
                 state["predictor_embed.2.weight"], state["predictor_embed.2.bias"])
    n_context = x.shape[1]
    tokens = state[f"mask_tokens.{mask_index % MASK_TOKENS}"].expand(len(x), target_idx.shape[1], -1)
    x, masks = torch.cat([x, tokens], dim=1), torch.cat([context_idx, target_idx], dim=1)
    order = masks.argsort(dim=1)  # 2.1 sorts the tokens by position
    masks, x = masks.gather(1, order), x.gather(1, order[..., None].expand_as(x))
    x = x + state["img_mod_embed" if image else "video_mod_embed"]
    positions = [p[:, None] for p in positions_21(masks, grid)]  # (B, 1, N): per sample, all heads alike
    for i in range(PRED_DEPTH):
        x = reference_block(state, x, f"predictor_blocks.{i}.", PRED_HEADS, positions)
    x = layer_norm(state, x, "predictor_norm")
    x = x.gather(1, order.argsort(dim=1)[..., None].expand_as(x))  # back to context first, then targets
    return (F.linear(x[:, n_context:], state["predictor_proj.weight"], state["predictor_proj.bias"]),
            F.linear(x[:, :n_context], state["predictor_proj_context.weight"], state["predictor_proj_context.bias"]))


@pytest.fixture(scope="module")
def release_21_pt(tmp_path_factory):
    """A .pt as V-JEPA 2.1 saves one: the EMA encoder under ``ema_encoder``, DDP/backbone prefixes, an online
    encoder beside it (different weights) and a predictor."""
    state = release_21_state()
    online = {f"module.backbone.{k}": v for k, v in release_21_state(seed=1).items()}
    path = tmp_path_factory.mktemp("vjepa21") / "vjepa2_1_micro.pt"
    predictor = {f"module.backbone.{k}": v for k, v in release_21_predictor_state().items()}
    torch.save({"ema_encoder": {f"module.backbone.{k}": v for k, v in state.items()}, "encoder": online,
                "predictor": predictor, "epoch": 10}, path)
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
        build_encoder({"size": "vit_micro", "patch_size": 16, "tubelet_size": 2, "pos_embed": "sincos", "rope_grid": 4})


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


def test_a_released_21_predictor_predicts_what_the_release_predicts(release_21_pt):
    """Encoder levels (through 2.1's learned level norms) -> predictor, targets and context outputs, for a video
    and an image, against 2.1's forward passes."""
    state, path = release_21_pt
    predictor_state = release_21_predictor_state()
    encoder, encoder_config = load_official_encoder(path)
    predictor, config = load_official_predictor(path)
    assert tuple(encoder_config["model"]["levels"]) == LEVELS and encoder_config["model"]["level_norms"]
    assert config["predictor"] == {"dim": PRED_WIDTH, "depth": PRED_DEPTH, "num_heads": PRED_HEADS,
                                   "num_mask_tokens": MASK_TOKENS, "embed_hidden": WIDTH, "context_proj": True}
    assert (config["levels"], config["modality_embed"], config["rope_style"], config["rope_grid"]) == (
        4, True, "pairs", PRETRAINED_GRID)
    videos, images = torch.randn(2, 3, 4, 64, 64), torch.randn(2, 3, 1, 64, 64)  # grids (2, 4, 4) and (1, 4, 4)
    for clips in (videos, images):
        grid, n = encoder.grid(clips), encoder.grid(clips)[0] * 16
        context_idx = torch.stack([torch.arange(0, n, 2), torch.arange(1, n, 2)])
        target_idx = torch.stack([torch.arange(1, n, 3), torch.arange(0, n, 3)[: len(range(1, n, 3))]])
        image = encoder.is_image(clips)
        assert image == (clips is images)
        for dtype, tol in ((torch.float32, 2e-3), (torch.float64, 1e-4)):
            ref_state = {k: v.to(dtype) for k, v in state.items()}
            ref_pred = {k: v.to(dtype) for k, v in predictor_state.items()}
            encoder.to(dtype), predictor.to(dtype)
            with torch.no_grad():
                features = encoder(clips.to(dtype), levels=LEVELS)
                torch.testing.assert_close(features, reference_21(ref_state, clips.to(dtype), LEVELS),
                                           rtol=tol, atol=tol)
                context = features.gather(1, context_idx[..., None].expand(-1, -1, features.shape[-1]))
                ours = predictor(context, context_idx, target_idx, grid, predict_context=True, mask_index=4,
                                 image=image)
                targets, contexts = reference_21_predictor(ref_pred, context, context_idx, target_idx, grid,
                                                           mask_index=4, image=image)
            torch.testing.assert_close(ours, torch.cat([contexts, targets], dim=1), rtol=tol, atol=tol)
        encoder.float(), predictor.float()
    with torch.no_grad():  # the options show: without the context projection the context outputs differ
        context_proj, predictor.context_proj = predictor.context_proj, None
        plain = predictor(context.float(), context_idx, target_idx, grid, predict_context=True, mask_index=4,
                          image=True)
        predictor.context_proj = context_proj
        assert (plain[:, : context.shape[1]] - contexts.float()).abs().max() > 0.05


def test_the_depth_of_a_21_encoder_sets_the_levels_its_release_read():
    """ViT-G (48 blocks) read its levels after blocks 12, 24, 38 and 48, not evenly spaced."""
    randn = randn_from(torch.Generator().manual_seed(0))
    width = 48
    state = {"patch_embed.proj.weight": randn(width, 3, TUBELET, PATCH, PATCH), "patch_embed.proj.bias": randn(width)}
    for i in range(48):
        state |= block_state(f"blocks.{i}.", width, randn)
    state |= {f"norms_block.{i}.{kind}": randn(width) for i in range(4) for kind in ("weight", "bias")}
    encoder, config = encoder_from_state_dict(state, num_heads=4)
    assert config["levels"] == [12, 24, 38, 48] and len(encoder.level_norms) == 3
    assert build_encoder({"size": "vit_tiny", "patch_size": 16, "tubelet_size": 2, "pos_embed": "rope",
                          "levels": [2, 3, 5, 6], "level_norms": True}).architecture()["level_norms"] == 3
    with pytest.raises(ValueError, match="set model.levels to 2 or more"):
        build_encoder({"size": "vit_tiny", "patch_size": 16, "tubelet_size": 2, "levels": 1, "level_norms": True})
    with pytest.raises(ValueError, match="block counts must increase from >= 1 to the encoder depth 6"):
        build_encoder({"size": "vit_tiny", "patch_size": 16, "tubelet_size": 2, "levels": [3, 2, 6]})


def test_a_predictor_trained_for_a_teacher_of_another_width_is_refused(tmp_path):
    state = release_21_predictor_state()
    state["predictor_proj.weight"] = torch.zeros(8 * WIDTH, PRED_WIDTH)  # a distilled model: the teacher's width
    state["predictor_proj.bias"] = torch.zeros(8 * WIDTH)
    torch.save({"predictor": state, "ema_encoder": release_21_state()}, tmp_path / "distilled.pt")
    with pytest.raises(ValueError, match="another \\(a teacher's\\) features"):
        load_official_predictor(tmp_path / "distilled.pt")


def test_pretraining_continues_2_1s_deep_self_supervision_from_its_encoder_and_predictor(
    release_21_pt, tiny_pretrain_config, monkeypatch
):
    """init_encoder + init_predictor from a 2.1 .pt, with the model keys its loaders report: the run trains with
    2.1's levels, level norms, fused-level MLP, context projection and modality vectors, and saves them; the head
    count, which the weights do not show, is the config's; the .pt (gigabytes, released) is read once."""
    from vjepa.runtime import checkpoint as checkpoint_module

    _, path = release_21_pt
    reads, load = [], checkpoint_module.torch.load
    monkeypatch.setattr(checkpoint_module.torch, "load", lambda f, **kw: reads.append(str(f)) or load(f, **kw))
    cfg = tiny_pretrain_config(
        f"init_encoder={path}", f"init_predictor={path}", "model.size=vit_tiny", "model.patch_size=16",
        "data.generate.size=64", "data.crop_size=64", "steps=1", "model.rope_grid=16", "model.image_patch_embed=true",
        "model.modality_embed=true", "model.levels=[2,3,4,6]", "model.level_norms=true",
        f"model.predictor.dim={PRED_WIDTH}", f"model.predictor.depth={PRED_DEPTH}",
        "model.predictor.num_heads=6", f"model.predictor.num_mask_tokens={MASK_TOKENS}",  # heads: the config's
        f"model.predictor.embed_hidden={WIDTH}", "model.predictor.context_proj=true",
    )
    pretrain(cfg)
    assert reads.count(str(path)) == 1
    released, _ = load_official_predictor(path, num_heads=6)  # weights do not show heads: the config says them
    assert load_predictor(path).architecture()["num_heads"] == PRED_HEADS  # unsaid: V-JEPA 2's 12
    trained = load_predictor(f"{cfg.run_dir}/latest.pt")
    assert trained.architecture() == released.architecture()
    encoder, _ = load_encoder(f"{cfg.run_dir}/latest.pt")
    assert encoder.architecture()["level_norms"] == 3
    rebuilt = build_predictor(cfg.model, WIDTH)
    rebuilt.load_state_dict(trained.state_dict())


def test_vjepa_inspect_prints_the_overrides_that_continue_from_a_release(release_21_pt, tiny_pretrain_config,
                                                                          capsys):
    """`vjepa-inspect` reads the model keys off released weights: pasted into vjepa-pretrain they build networks
    the weights fit (init_encoder and init_predictor both load)."""
    _, path = release_21_pt
    overrides, released = pretrain_overrides(path)
    assert released and overrides[:2] == [f"init_encoder={path}", f"init_predictor={path}"]
    for expected in ("model.size=vit_tiny", "model.rope_grid=16", "model.levels=[2,3,4,6]", "model.level_norms=true",
                     f"model.predictor.embed_hidden={WIDTH}", "model.predictor.context_proj=true",
                     "data.crop_size=384"):
        assert expected in overrides
    cfg = tiny_pretrain_config(*overrides, "data.generate.size=64", "data.crop_size=64", "steps=1")
    pretrain(cfg)
    capsys.readouterr()
    inspect_main([str(path)])
    printed = capsys.readouterr().out
    assert printed.startswith(f"vjepa-pretrain init_encoder={path}") and "head count" in printed
    ours, released = pretrain_overrides(f"{cfg.run_dir}/latest.pt")  # the toolkit's own: its config, as saved
    assert not released and "model.levels=[2,3,4,6]" in ours
