"""vjepa-show-features: patch features as colours, beneath the frames."""

import imageio.v3 as iio
import pytest
import torch

from vjepa.cli.show_features import main, pca_rgb
from vjepa.data.synthetic import make_moving_shapes
from vjepa.train.pretrain import pretrain


def test_tokens_with_like_features_get_like_colours():
    centres = torch.randn(3, 16) * 5
    which = torch.arange(60) % 3
    features = (centres[which] + 0.01 * torch.randn(60, 16)).reshape(3, 4, 5, 16)  # three kinds of token
    rgb = pca_rgb(features).reshape(60, 3).int()
    for k in range(3):
        same = rgb[which == k]
        assert (same - same[0]).abs().max() <= 8  # one colour per kind
    assert min((rgb[which == a][0] - rgb[which == b][0]).abs().max() for a, b in ((0, 1), (0, 2), (1, 2))) > 60


def test_cli_draws_frames_over_feature_colours(tiny_pretrain_config, tmp_path, command_line, capsys):
    cfg = tiny_pretrain_config("steps=2")
    pretrain(cfg)
    video = make_moving_shapes(tmp_path / "videos", num_videos=1, num_frames=8, size=32) / "video_00000.mp4"
    out = tmp_path / "features.png"
    command_line(main, f"checkpoint={cfg.run_dir}/latest.pt", f"video={video}", f"out={out}", "gif=true")
    picture = iio.imread(out)
    assert picture.shape == (2 * 32, 2 * 32, 3)  # frames over colours, one column per tubelet (4 frames / 2)
    assert picture[32:].std() > 0  # the colours vary over the tokens
    assert iio.imread(out.with_suffix(".gif")).shape == (4, 32, 2 * 32, 3)  # each frame beside its colours
    capsys.readouterr()
    with pytest.raises(SystemExit):
        command_line(main, f"checkpoint={cfg.run_dir}/latest.pt", f"video={tmp_path / 'none.mp4'}", f"out={out}")
    assert capsys.readouterr().err.startswith(f"error: no such file: {tmp_path / 'none.mp4'} (video)")
