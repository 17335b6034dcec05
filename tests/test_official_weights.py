"""V-JEPA 2's released encoders load into the toolkit's VisionTransformer and compute what the reference computes:
a small random `transformers` VJEPA2Model (built here, saved like a Hugging Face snapshot) is the reference."""

import subprocess
import sys

import numpy as np
import pytest
import torch
from transformers import VJEPA2Config, VJEPA2Model

from vjepa.data.synthetic import make_moving_shapes
from vjepa.inference import load_encoder
from vjepa.models.official import encoder_from_state_dict, load_official_encoder, load_official_predictor
from vjepa.models.pos_embed import RotaryEmbedding3D, grid_coords
from vjepa.models.vit import VisionTransformer, gather_tokens
from vjepa.train.pretrain import pretrain


@pytest.fixture(scope="module")
def hf_snapshot(tmp_path_factory):
    """A VJEPA2Model of the tests' micro ViT (96 wide, 4 blocks, 3 heads of 32 channels: RoPE parts of 10, 2
    channels left unrotated; patch 8) on 32 px crops, its attention weights drawn large enough that attention,
    hence RoPE, shapes the output."""
    torch.manual_seed(0)
    config = VJEPA2Config(hidden_size=96, num_hidden_layers=4, num_attention_heads=3, patch_size=8, crop_size=32,
                          frames_per_clip=4, pred_hidden_size=48, pred_num_hidden_layers=1, pred_num_attention_heads=3)
    model = VJEPA2Model(config).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "attention" in name and name.endswith("weight"):
                p.normal_(0, 0.3)
        model.predictor.embeddings.mask_tokens.normal_()  # zero-initialised: make each group's token distinct
    folder = tmp_path_factory.mktemp("vjepa2-tiny")
    model.save_pretrained(folder)
    return model, folder


def reference(model: VJEPA2Model, clips: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():  # transformers takes (B, T, C, H, W)
        return model(pixel_values_videos=clips.transpose(1, 2), skip_predictor=True).last_hidden_state


def test_hugging_face_encoder_gives_the_reference_features(hf_snapshot):
    model, folder = hf_snapshot
    encoder, config = load_official_encoder(folder)  # the snapshot folder: config.json + model.safetensors
    assert (encoder.embed_dim, len(encoder.blocks), encoder.num_heads) == (96, 4, 3)
    assert config["model"]["rope_style"] == "vjepa2" and config["data"]["crop_size"] == 32
    clips = torch.randn(2, 3, 6, 32, 32)  # a (3, 4, 4) token grid
    with torch.no_grad():
        ours = encoder(clips)
    torch.testing.assert_close(ours, reference(model, clips), rtol=1e-3, atol=1e-3)

    # the same weights under the textbook pair rotation compute something else: the test sees the RoPE style
    textbook, _ = load_official_encoder(folder)
    textbook.pos.rotary.style = "pairs"
    with torch.no_grad():
        assert (textbook(clips) - ours).abs().max() > 0.1


def test_official_pt_layout_loads_with_its_prefixes(hf_snapshot, tmp_path):
    model, folder = hf_snapshot
    encoder, _ = load_official_encoder(folder / "model.safetensors")
    # facebookresearch/vjepa2 .pt: state dicts under names, "module.backbone." prefixes, a leftover pos_embed
    official = {f"module.backbone.{k}": v for k, v in encoder.state_dict().items()}
    official["module.backbone.pos_embed"] = torch.zeros(1, 32, 96)
    torch.save({"encoder": official, "target_encoder": official, "epoch": 3}, tmp_path / "vitt.pt")

    with pytest.raises(ValueError, match="pass num_heads"):  # 96 wide is no official size: heads unknown
        load_official_encoder(tmp_path / "vitt.pt")
    loaded, config = load_official_encoder(tmp_path / "vitt.pt", num_heads=3)
    clips = torch.randn(1, 3, 4, 32, 32)
    torch.testing.assert_close(loaded(clips), reference(model, clips), rtol=1e-3, atol=1e-3)
    assert config["model"]["size"] == "vit_micro" and config["model"]["mlp_hidden"] == 384  # a preset of ours
    with pytest.raises(KeyError, match="no ema_encoder entry"):
        load_official_encoder(tmp_path / "vitt.pt", which="ema_encoder", num_heads=3)


def test_load_encoder_takes_released_weights_where_it_takes_our_checkpoints(hf_snapshot):
    model, folder = hf_snapshot
    encoder, config = load_encoder(folder)  # what vjepa-extract / vjepa-probe / vjepa-train-ac call
    clips = torch.randn(1, 3, 2, 32, 32)
    torch.testing.assert_close(encoder(clips), reference(model, clips), rtol=1e-3, atol=1e-3)
    assert set(config) >= {"model", "data"} and not any(p.requires_grad for p in encoder.parameters())


def test_hugging_face_predictor_predicts_what_the_reference_predicts(hf_snapshot):
    model, folder = hf_snapshot
    encoder, _ = load_official_encoder(folder)
    predictor, config = load_official_predictor(folder)
    assert config["predictor"] == {"dim": 48, "depth": 1, "num_heads": 3, "num_mask_tokens": 10, "embed_hidden": None,
                                   "context_proj": False}
    assert (config["levels"], config["rope_style"], config["rope_grid"]) == (1, "vjepa2", None)
    clips = torch.randn(2, 3, 4, 32, 32)  # a (2, 4, 4) grid of 32 tokens
    context_idx = torch.stack([torch.arange(0, 32, 2), torch.arange(1, 32, 2)])  # (B, 16)
    target_idx = torch.stack([torch.arange(1, 32, 3), torch.arange(0, 32, 3)[:11]])  # (B, 11), some not in context
    with torch.no_grad():
        reference_output = model(pixel_values_videos=clips.transpose(1, 2), context_mask=[context_idx],
                                 target_mask=[target_idx])  # predicts with mask token 1
        context = gather_tokens(encoder(clips), context_idx)
        ours = predictor(context, context_idx, target_idx, encoder.grid(clips), mask_index=1)
        other_token = predictor(context, context_idx, target_idx, encoder.grid(clips), mask_index=0)
    reference = reference_output.predictor_output.last_hidden_state
    torch.testing.assert_close(ours, reference, rtol=1e-3, atol=1e-3)
    assert (other_token - reference).abs().max() > 1e-2  # the test sees which mask token is used


def test_a_classifier_snapshot_gives_its_backbone(hf_snapshot):
    model, _ = hf_snapshot  # VJEPA2ForVideoClassification keeps the backbone under "vjepa2.", beside its head
    state = {f"vjepa2.{k}": v for k, v in model.state_dict().items()} | {"classifier.weight": torch.zeros(5, 96)}
    encoder, _ = encoder_from_state_dict(state, num_heads=3)
    clips = torch.randn(1, 3, 4, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(encoder(clips), reference(model, clips), rtol=1e-3, atol=1e-3)


def test_the_official_loader_refuses_the_toolkits_own_checkpoints(tiny_pretrain_config):
    cfg = tiny_pretrain_config("steps=1")
    pretrain(cfg)
    with pytest.raises(ValueError, match="load it with vjepa.inference.load_encoder"):
        load_official_encoder(f"{cfg.run_dir}/latest.pt")


def test_vjepa2_rope_style_tiles_frequencies_within_each_axis_part():
    coords = grid_coords((2, 3, 4))[None]
    pairs, tiled = RotaryEmbedding3D(32), RotaryEmbedding3D(32, style="vjepa2")
    a_pairs, a_tiled = pairs.angles(coords), tiled.angles(coords)  # (1, N, 16) per pair, (1, N, 32) per channel
    assert a_pairs.shape[-1] == 16 and a_tiled.shape[-1] == 32
    part = 10  # channels per axis: 2 * ((32 // 3) // 2)
    for axis in range(3):
        per_channel = a_tiled[..., axis * part:(axis + 1) * part]
        per_pair = a_pairs[..., axis * part // 2:(axis + 1) * part // 2]
        torch.testing.assert_close(per_channel, per_pair.repeat(1, 1, 2))  # f0..f4, f0..f4
    assert (a_tiled[..., 3 * part:] == 0).all()  # the 2 leftover channels are not rotated


def test_extract_cli_encodes_a_video_folder_with_released_weights(hf_snapshot, tmp_path):
    _, folder = hf_snapshot
    videos = make_moving_shapes(tmp_path / "videos", num_videos=3, num_frames=12, size=32)
    runs = {}
    for precision in ("fp32", "bf16"):
        out = tmp_path / precision
        subprocess.run([sys.executable, "-m", "vjepa.cli.extract", f"checkpoint={folder}", f"input={videos}",
                        f"output={out}", "pooled=true", "frames_per_clip=6", "frame_step=1", f"precision={precision}"],
                       check=True)
        runs[precision] = np.load(out / "features.npy")
        assert runs[precision].shape == (3, 96) and runs[precision].dtype == np.float32
        assert len((out / "files.txt").read_text().split()) == 3
    assert not np.array_equal(runs["bf16"], runs["fp32"])  # bf16 really ran, and agrees
    assert np.linalg.norm(runs["bf16"] - runs["fp32"]) < 0.05 * np.linalg.norm(runs["fp32"])


def test_pretraining_starts_from_released_weights(hf_snapshot, tiny_pretrain_config):
    _, folder = hf_snapshot
    released, _ = load_official_encoder(folder)
    with pytest.raises(ValueError, match="rope_style vjepa2 \\(config: pairs\\)"):  # positions must mean the same
        pretrain(tiny_pretrain_config(f"init_encoder={folder}", "steps=1"))

    cfg = tiny_pretrain_config(f"init_encoder={folder}", "model.rope_style=vjepa2", "steps=2", "optim.lr=1e-5")
    summary = pretrain(cfg)
    assert summary["steps"] == 2 and np.isfinite(summary["losses"]).all()
    state = torch.load(f"{cfg.run_dir}/latest.pt", weights_only=False)
    for name, weight in released.state_dict().items():  # two small steps from the released weights
        torch.testing.assert_close(state["target_encoder"][name], weight, rtol=0, atol=1e-3)


def test_pretraining_continues_with_the_released_predictor(hf_snapshot, tiny_pretrain_config):
    _, folder = hf_snapshot
    released, _ = load_official_predictor(folder)
    with pytest.raises(ValueError, match="num_mask_tokens 10 \\(config: 1\\)"):
        pretrain(tiny_pretrain_config(f"init_predictor={folder}", "model.rope_style=vjepa2", "steps=1"))
    cfg = tiny_pretrain_config(f"init_encoder={folder}", f"init_predictor={folder}", "model.rope_style=vjepa2",
                               "model.predictor.num_mask_tokens=10", "steps=2", "optim.lr=1e-5")
    pretrain(cfg)
    state = torch.load(f"{cfg.run_dir}/latest.pt", weights_only=False)
    for name, weight in released.state_dict().items():
        torch.testing.assert_close(state["predictor"][name], weight, rtol=0, atol=1e-3)


def test_load_predictor_reads_an_official_pt_once(tmp_path, monkeypatch):
    """An official .pt's ``predictor`` entry (facebookresearch/vjepa2 names) loads through load_predictor, from
    one read of the file (released .pt files hold encoder, target encoder and predictor: gigabytes)."""
    from vjepa.inference import load_predictor
    from vjepa.models import MaskPredictor
    from vjepa.runtime import checkpoint as checkpoint_module

    released = MaskPredictor(embed_dim=96, predictor_dim=96, depth=1, num_heads=12, pos_embed="rope",
                             rope_style="vjepa2", num_mask_tokens=10)  # 12 heads: what a .pt's predictor is read with
    names = {"embed.": "predictor_embed.", "blocks.": "predictor_blocks.", "norm.": "predictor_norm.",
             "proj.": "predictor_proj."}
    official = {f"module.{names[k.split('.')[0] + '.']}{k.split('.', 1)[1]}": v
                for k, v in released.state_dict().items() if k != "mask_token"}
    official |= {f"module.mask_tokens.{i}": token[None] for i, token in enumerate(released.mask_token)}
    torch.save({"encoder": {}, "predictor": official, "epoch": 1}, tmp_path / "vitt.pt")
    reads = []
    load = checkpoint_module.torch.load
    monkeypatch.setattr(checkpoint_module.torch, "load", lambda *a, **kw: reads.append(a[0]) or load(*a, **kw))
    predictor = load_predictor(tmp_path / "vitt.pt")
    assert len(reads) == 1
    for name, weight in released.state_dict().items():
        torch.testing.assert_close(predictor.state_dict()[name], weight)


def test_the_probes_random_baseline_twins_a_released_encoder_of_no_preset_size():
    from vjepa.eval.probe import random_twin

    released = VisionTransformer(embed_dim=72, depth=1, num_heads=3, patch_size=8, pos_embed="rope",
                                 rope_style="vjepa2")
    config = {"size": None, "embed_dim": 72, "depth": 1, "num_heads": 3}  # what the loader reports for it
    twin = random_twin(released, config)
    assert twin.architecture() == released.architecture()
    for name, weight in twin.state_dict().items():  # nothing of the released weights is left, the patch embedding
        if weight.std() > 0:                        # included (norms and zero biases aside)
            assert not torch.equal(weight, released.state_dict()[name]), name


def test_vjepa_inspect_overrides_continue_from_a_hugging_face_snapshot(hf_snapshot, tiny_pretrain_config):
    """A Hugging Face folder is read as `init_encoder` reads it: the printed keys (V-JEPA 2's RoPE style, the
    predictor's shape and heads from config.json) build networks the weights fit."""
    from vjepa.cli.inspect_weights import pretrain_overrides
    from vjepa.train.pretrain import pretrain

    _, folder = hf_snapshot
    overrides, released = pretrain_overrides(folder)
    assert released and "model.rope_style=vjepa2" in overrides and "model.size=vit_micro" in overrides
    assert "model.predictor.num_mask_tokens=10" in overrides and "model.predictor.num_heads=3" in overrides
    pretrain(tiny_pretrain_config(*overrides, "steps=1"))
