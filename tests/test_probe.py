"""The frozen-feature probe: its scores on features that do and do not hold the labels, and the CLI's run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import compose_config
from vjepa.data.synthetic import direction_class
from vjepa.eval.probe import probe_scores, ridge_predictions, run_probe
from vjepa.inference import load_encoder
from vjepa.train.pretrain import pretrain


def labels_of(rng: np.random.Generator, n: int) -> list[dict[str, str]]:
    velocity = rng.normal(size=(n, 2))
    return [
        {"direction": str(direction_class(v)), "vx": str(v[0]), "vy": str(v[1]), "x0": str(x), "y0": str(y)}
        for v, x, y in zip(velocity, rng.uniform(0, 64, n), rng.uniform(0, 64, n))
    ]


def test_probe_reads_labels_that_are_in_the_features_and_not_noise():
    rng = np.random.default_rng(0)
    labels = labels_of(rng, 300)
    kinematics = np.array([[float(r[k]) for k in ("vx", "vy", "x0", "y0")] for r in labels]) / [1, 1, 64, 64]
    informative = np.concatenate([kinematics @ rng.normal(size=(4, 64)), rng.normal(size=(300, 64))], axis=1)
    good = probe_scores(informative, labels)
    noise = probe_scores(rng.normal(size=(300, 128)), labels)
    assert good["direction_accuracy"] > 0.7 and good["velocity_r2"] > 0.9 and good["position_r2"] > 0.9
    assert noise["direction_accuracy"] < 0.3 and noise["velocity_r2"] < 0.1 and noise["position_r2"] < 0.1


def test_ridge_strengths_span_interpolation_to_the_mean():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(20, 50)), rng.normal(size=(20, 2))
    predictions = ridge_predictions(x, y, x, alphas=[1e-6, 1e6])
    np.testing.assert_allclose(predictions[1e-6], y, atol=1e-3)  # more features than samples: fits the data
    np.testing.assert_allclose(predictions[1e6], np.broadcast_to(y.mean(0), y.shape), atol=1e-3)


def test_probe_cli_compares_a_checkpoint_with_a_random_encoder(tiny_pretrain_config, tmp_path):
    pretrain(tiny_pretrain_config("steps=2", "mask_figure=false"))
    cfg = compose_config("probe", [f"checkpoint={tmp_path / 'run' / 'latest.pt'}", f"videos={tmp_path / 'probe'}",
                                   "num_videos=20", "per_block=true", f"output={tmp_path / 'probe.json'}"])
    results = run_probe(cfg)
    assert results["num_videos"] == 20
    for encoder in ("pretrained", "random_init", "raw_pixels"):
        assert set(results[encoder]) >= {"direction_accuracy", "velocity_r2", "position_r2"}
        assert 0.0 <= results[encoder]["direction_accuracy"] <= 1.0
    depth = len(load_encoder(cfg.checkpoint)[0].blocks)
    for encoder, layers in results["per_block"].items():  # the last block = the output (the probe standardises)
        assert list(layers) == ["embed"] + [f"block{i + 1}" for i in range(depth)]
        np.testing.assert_allclose(layers[f"block{depth}"]["position_r2"], results[encoder]["position_r2"], atol=1e-4)
    assert json.loads((tmp_path / "probe" / "generator.json").read_text())["max_shapes"] == 1
    other = compose_config("probe", [f"checkpoint={tmp_path / 'run' / 'latest.pt'}", f"videos={tmp_path / 'probe'}",
                                     "num_videos=20", "max_shapes=2"])
    with pytest.raises(ValueError, match="max_shapes"):  # an existing folder made otherwise is named, not reused
        run_probe(other)


def test_results_are_named_after_the_checkpoint_they_evaluate(tmp_path):
    """latest.pt's results keep the plain name; a kept step_XXXXXXX.pt gets its own, so probing a run's kept
    checkpoints in turn overwrites nothing."""
    from vjepa.eval import beside

    assert beside(tmp_path / "latest.pt", "probe", ".json") == tmp_path / "probe.json"
    assert beside(tmp_path / "step_0001000.pt", "probe", ".json") == tmp_path / "probe_step_0001000.json"
    assert beside(tmp_path, "attentive_probe") == tmp_path.parent / "attentive_probe"  # a released-weights folder


def test_probe_curve_follows_a_run_through_its_kept_checkpoints(tiny_pretrain_config, tmp_path):
    """checkpoint='<run>/step_*.pt': each kept checkpoint probed in training-step order, the baselines once, the
    curve written as JSON and a picture."""
    from vjepa.eval.probe import probe_and_write

    pretrain(tiny_pretrain_config("steps=4", "keep_every=2", "mask_figure=false"))
    pattern = str(tmp_path / "run" / "step_*.pt")
    probe_and_write(compose_config("probe", [f"checkpoint={pattern}", f"videos={tmp_path / 'probe'}",
                                             "num_videos=20"]))
    curve = json.loads((tmp_path / "run" / "probe_curve.json").read_text())
    assert curve["steps"] == [2, 4] and [Path(c).name for c in curve["checkpoints"]] == ["step_0000002.pt",
                                                                                          "step_0000004.pt"]
    assert len(curve["pretrained"]) == 2 and set(curve["random_init"]) >= {"direction_accuracy", "position_r2"}
    assert (tmp_path / "run" / "probe_curve.png").stat().st_size > 0
