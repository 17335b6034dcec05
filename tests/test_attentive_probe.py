"""The attentive probe: its pooling head, and the CLI classifying labelled generated videos from a checkpoint."""

import json
from pathlib import Path

import pytest
import torch

from tests.conftest import compose_config
from vjepa.data import VideoFolderDataset, VideoTransform
from vjepa.data.synthetic import make_moving_shapes
from vjepa.eval import attentive_probe
from vjepa.eval.attentive_probe import (
    AttentiveClassifier,
    AttentivePooler,
    class_order,
    encode_labelled,
    read_class_labels,
    run_attentive_probe,
)
from vjepa.inference import load_encoder
from vjepa.train.pretrain import pretrain


def test_pooler_summarises_any_number_of_tokens_and_ignores_their_order():
    pooler = AttentivePooler(dim=32, num_heads=4, num_queries=3)
    features = torch.randn(2, 10, 32)
    pooled = pooler(features)
    assert pooled.shape == (2, 3, 32)
    torch.testing.assert_close(pooler(features[:, torch.randperm(10)]), pooled)  # a set function of the tokens
    assert pooler(torch.randn(2, 7, 32)).shape == (2, 3, 32)
    assert AttentiveClassifier(dim=32, num_classes=5, num_heads=4)(features).shape == (2, 5)

    placed = AttentivePooler(dim=32, num_heads=4, grid=(2, 5, 1))  # positions added: order now matters
    placed.load_state_dict(pooler.state_dict() | {"queries": pooler.queries[:, :1]})
    assert not torch.allclose(placed(features[:, torch.randperm(10)]), placed(features))
    with pytest.raises(ValueError, match="features of 7 tokens, the pooler's grid has 10"):
        placed(torch.randn(2, 7, 32))


def test_classes_sort_numerically_then_by_name():
    assert class_order(["10", "2", "2", "-1"]) == ["-1", "2", "10"]
    assert class_order(["walk", "3", "run"]) == ["3", "run", "walk"]


@pytest.fixture
def checkpoint(tiny_pretrain_config):
    cfg = tiny_pretrain_config("steps=2")
    pretrain(cfg)
    return f"{cfg.run_dir}/latest.pt"


def test_cli_classifies_labelled_videos_from_a_checkpoint(checkpoint, tmp_path):
    videos = make_moving_shapes(tmp_path / "labelled", num_videos=24, num_frames=8, size=32, seed=3, max_shapes=1)
    cfg = compose_config("attentive_probe", [
        f"checkpoint={checkpoint}", f"videos={videos}", "label_column=direction",  # writes beside the checkpoint
        "probe.epochs=40", "probe.batch_size=8", "probe.lr=3e-3", "probe.weight_decay=0.01", "val_fraction=0.25",
        "repeats=2",
    ])
    summary = run_attentive_probe(cfg)
    out = Path(checkpoint).parent / "attentive_probe"
    saved = json.loads((out / "attentive_probe.json").read_text())
    assert saved == summary and (saved["num_train"], saved["num_val"]) == (18, 6)
    assert set(saved["classes"]) <= {str(c) for c in range(8)} and saved["grid"] == [2, 4, 4]
    for encoder in ("pretrained", "random_init"):  # the checkpoint's encoder and the same one re-initialised
        for head in ("attentive", "mean_linear"):
            result = saved[encoder][head]  # the mean over 2 splits, its spread, and each run
            assert 0.0 <= result["val_top1"] <= 1.0 and len(result["runs"]) == 2
            assert result["val_top1"] == pytest.approx(sum(r["val_top1"] for r in result["runs"]) / 2)
            assert result["train_top1"] > saved["chance_top1"]  # every head learns its training split
    assert (out / "metrics.csv").read_text().count("pretrained/attentive/run1/val_top1") == 40


def test_several_clips_per_video_are_encoded_apart_and_pooled_together(checkpoint, tmp_path):
    videos = make_moving_shapes(tmp_path / "labelled", num_videos=6, num_frames=16, size=32, max_shapes=1)
    cfg = compose_config("attentive_probe", [
        f"checkpoint={checkpoint}", f"videos={videos}", "label_column=direction", f"output={tmp_path / 'out'}",
        "clips_per_video=3", "probe.epochs=2", "random_baseline=false", "repeats=1",
    ])
    summary = run_attentive_probe(cfg)
    assert summary["grid"] == [3 * 2, 4, 4]  # three clips of a (2, 4, 4) grid, their tokens in time order


def test_a_video_without_a_label_is_named(checkpoint, tmp_path):
    videos = make_moving_shapes(tmp_path / "labelled", num_videos=3, num_frames=8, size=32)
    (videos / "labels.csv").write_text("file,direction\nvideo_00000.mp4,1\n")
    cfg = compose_config("attentive_probe", [f"checkpoint={checkpoint}", f"videos={videos}", "label_column=direction",
                                             f"output={tmp_path / 'out'}", "random_baseline=false"])
    with pytest.raises(KeyError, match="video_00001.mp4 has no row"):
        run_attentive_probe(cfg)
    cfg.label_column = "colour_name"
    with pytest.raises(KeyError, match="needs columns 'file' and 'colour_name'"):
        run_attentive_probe(cfg)


def test_training_views_are_augmented_reproducibly_and_trained_on(checkpoint, tmp_path, monkeypatch):
    """train_views=V: every video also encoded V times with random crops (a view is the same for the same seed,
    another for another seed); the heads train on those views and score the centre crops."""
    videos = make_moving_shapes(tmp_path / "labelled", num_videos=8, num_frames=8, size=32, max_shapes=1)
    labels = read_class_labels(videos / "labels.csv", "direction")
    encoder = {"e": load_encoder(checkpoint)[0]}
    augmented = VideoFolderDataset(videos, frames_per_clip=4, frame_step=2, random_start=False,
                                   transform=VideoTransform(size=32, train=True, hflip_prob=0.0))
    view, _ = encode_labelled(encoder, augmented, labels, 4, torch.device("cpu"), seed=0)
    again, _ = encode_labelled(encoder, augmented, labels, 4, torch.device("cpu"), seed=0)
    other, _ = encode_labelled(encoder, augmented, labels, 4, torch.device("cpu"), seed=1)
    torch.testing.assert_close(view["e"], again["e"])
    assert (view["e"] - other["e"]).abs().max() > 0.1
    bf16, _ = encode_labelled(encoder, augmented, labels, 4, torch.device("cpu"), seed=0, precision="bf16")
    assert not torch.equal(bf16["e"], view["e"])  # computed in bf16, and close to the fp32 features
    assert (bf16["e"].float() - view["e"].float()).norm() < 0.05 * view["e"].float().norm()

    seen = []
    train_head = attentive_probe.train_head
    monkeypatch.setattr(attentive_probe, "train_head", lambda *a: seen.append(a[-1]) or train_head(*a))
    cfg = compose_config("attentive_probe", [
        f"checkpoint={checkpoint}", f"videos={videos}", "label_column=direction", f"output={tmp_path / 'out'}",
        "train_views=2", "probe.epochs=2", "random_baseline=false", "repeats=1",
    ])
    summary = run_attentive_probe(cfg)
    assert summary["train_views"] == 2 and 0.0 <= summary["pretrained"]["attentive"]["val_top1"] <= 1.0
    assert all(views.shape[:2] == (2, 8) for views in seen) and len(seen) == 2  # both heads, two views of 8 videos
