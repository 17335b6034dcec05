"""The feature cache (`vjepa.data.feature_cache`): what its features depend on, and when it reuses them, encodes
them again or refuses to."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from tests.fakes import write_fake_lerobot_dataset
from vjepa.data.ac_dataset import ClipWindows, open_episodes
from vjepa.data.episodes import Episode, EpisodeWriter
from vjepa.data.feature_cache import (
    MANIFEST,
    FeatureCache,
    cache_key,
    default_cache_dir,
    fingerprint,
    prepare_features,
)
from vjepa.data.lerobot import LeRobotEpisodes
from vjepa.data.transforms import to_model_input
from vjepa.models.factory import build_encoder
from vjepa.runtime.errors import UserError

FRONT, WRIST = "observation.images.front", "observation.images.wrist"
LENGTHS = [6, 4, 5]


class CountingEncoder(nn.Module):
    """(B, C, 1, H, W) -> (B, 4, C + 1): 2x2 average-pooled patches through an identity linear layer (a matmul,
    which bf16 autocast rounds), plus a learnable offset; counts the frames it encodes."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(4, 4)
        with torch.no_grad():
            self.proj.weight.copy_(torch.eye(4))
            self.proj.bias.zero_()
        self.offset = nn.Parameter(torch.zeros(4))
        self.calls = 0
        self.frames = 0

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        assert clips.ndim == 5 and clips.shape[2] == 1, clips.shape
        self.calls += 1
        self.frames += clips.shape[0]
        pooled = nn.functional.adaptive_avg_pool2d(clips[:, :, 0], 2).flatten(2).transpose(1, 2)  # (B, 4, C)
        return self.proj(torch.cat([pooled, pooled.mean(-1, keepdim=True)], -1)) + self.offset


def episodes_in_memory(lengths=(10, 6, 5)) -> list[Episode]:
    """Frame t of episode e is uniformly 10 t + e; no actions, one state."""
    return [Episode(np.zeros((n, 8, 8, 3), np.uint8) + (10 * np.arange(n) + e).astype(np.uint8)[:, None, None, None],
                    np.zeros((n, 0), np.float32), np.zeros((n, 1), np.float32), {}) for e, n in enumerate(lengths)]


def own_dataset(root: Path) -> Path:
    """Three episodes of random frames in the project's format, one npz each."""
    rng = np.random.default_rng(0)
    with EpisodeWriter(root, fps=10) as writer:
        for n in LENGTHS:
            writer.add(rng.integers(0, 256, (n, 32, 32, 3), np.uint8), np.zeros((n, 2)), np.zeros((n, 2)))
    return root


def lerobot_dataset(root: Path, version: str = "v3.0") -> Path:
    """Three episodes seen by two cameras; in v3.0 episodes 0 and 1 share their video (per camera) and parquet."""
    return write_fake_lerobot_dataset(root, num_episodes=3, length=LENGTHS, image_size=32, version=version,
                                      cameras=(FRONT, WRIST), episodes_per_file=2)


def build(cache_dir: Path, episodes, encoder: nn.Module, **kw) -> FeatureCache:
    return FeatureCache(cache_dir, encoder, image_size=16, batch_size=8, **kw).build(episodes, progress=False)


def manifest(cache_dir: str | Path) -> dict:
    return json.loads((Path(cache_dir) / MANIFEST).read_text())


def edit(path: Path) -> None:
    """Give ``path`` other frames of the same shape and a later mtime, as an edit or a copy would."""
    if path.suffix == ".npz":
        with np.load(path) as npz:
            arrays = dict(npz)
        arrays["frames"] = 255 - arrays["frames"]
        np.savez_compressed(path, **arrays)
    else:  # the other camera's video of the same episodes
        shutil.copyfile(str(path).replace(FRONT, WRIST), path)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


@pytest.fixture(scope="module")
def encoder_checkpoint(tmp_path_factory) -> Path:
    """A tiny untrained encoder saved as a vjepa-pretrain checkpoint (what `prepare_features` loads)."""
    model = {"size": "vit_micro", "patch_size": 8, "tubelet_size": 2}
    path = tmp_path_factory.mktemp("encoder") / "encoder.pt"
    torch.manual_seed(0)
    torch.save({"config": {"model": model, "data": {"crop_size": 16}}, "encoder": build_encoder(model).state_dict()},
               path)
    return path


# ------------------------------------------------------------------------------------------------ build, reuse
def test_build_encodes_every_frame_once_and_reuses_it(tmp_path: Path) -> None:
    eps, enc = episodes_in_memory(), CountingEncoder()
    cache = build(tmp_path / "cache", eps, enc)
    assert enc.calls == math.ceil(21 / 8) and enc.frames == 21  # batched across episodes
    feats = cache.get(0)
    assert feats.shape == (10, 4, 4) and feats.dtype == np.float16 and isinstance(feats, np.memmap)
    written = manifest(tmp_path / "cache")
    assert written["version"] == 2 and written["encoder"] == {"fingerprint": fingerprint(enc)}
    assert written["input"]["image_size"] == 16 and written["precision"] == "fp32"
    assert written["source"] == {"format": "list"} and written["sources"] == [[], [], []]  # in memory: no files
    assert (written["lengths"], written["num_tokens"], written["embed_dim"]) == ([10, 6, 5], 4, 4)
    with torch.inference_mode():  # one-frame clips through the encoder
        direct = enc(to_model_input(eps[1].frames[:, None], 16))
    np.testing.assert_allclose(cache.get(1).astype(np.float32), direct.numpy(), atol=2e-3)
    enc.frames = 21  # forget the direct call

    again = build(tmp_path / "cache", eps, enc)
    assert enc.frames == 21 and again.last_build["reused_episodes"] == 3
    (tmp_path / "cache" / "episode_000001.npy").unlink()  # an interrupted build: only the missing episode
    assert build(tmp_path / "cache", eps, enc).last_build["encoded_episodes"] == [1] and enc.frames == 21 + 6

    read_only = FeatureCache(tmp_path / "cache")  # windows over the cache: features instead of frames
    item = ClipWindows(eps, num_frames=3, frame_step=2, features=read_only)[2]
    assert "frames" not in item and item["features"].dtype == torch.float32
    np.testing.assert_array_equal(item["features"].numpy(), read_only.get(0)[[2, 4, 6]].astype(np.float32))
    with pytest.raises(ValueError, match="does not match these episodes"):
        ClipWindows(eps[:2], num_frames=3, features=read_only)


def test_new_weights_precision_or_image_size_rebuild_and_say_why(tmp_path: Path) -> None:
    eps, enc = episodes_in_memory(), CountingEncoder()
    before = np.array(build(tmp_path / "cache", eps, enc).get(0))
    with torch.no_grad():
        enc.offset.add_(1.0)
    with pytest.warns(UserWarning, match="encoder.fingerprint changed"):
        rebuilt = build(tmp_path / "cache", eps, enc)
    assert enc.frames == 2 * 21 and rebuilt.last_build["rebuilt_because"].startswith("encoder.fingerprint changed")
    fp32 = np.array(rebuilt.get(0))
    np.testing.assert_allclose(fp32.astype(np.float32), before.astype(np.float32) + 1, atol=4e-3)

    with pytest.warns(UserWarning, match=re.escape("precision changed (fp32 -> bf16)")):  # close to fp32's, not equal
        bf16 = build(tmp_path / "cache", eps, enc, precision="bf16")
    assert manifest(tmp_path / "cache")["precision"] == "bf16" and enc.frames == 3 * 21
    assert not np.array_equal(bf16.get(0), fp32)

    with pytest.warns(UserWarning, match=re.escape("input.image_size changed (16 -> 32)")):
        FeatureCache(tmp_path / "cache", enc, image_size=32, precision="bf16").build(eps, progress=False)
    assert enc.frames == 4 * 21


def test_a_version_1_cache_is_rebuilt(tmp_path: Path) -> None:
    eps, enc = episodes_in_memory(), CountingEncoder()
    build(tmp_path / "cache", eps, enc)
    (tmp_path / "cache" / MANIFEST).write_text(json.dumps({**manifest(tmp_path / "cache"), "version": 1}))
    with pytest.warns(UserWarning, match="manifest version 1 predates version 2"):
        assert build(tmp_path / "cache", eps, enc).last_build["encoded_frames"] == 21


# ------------------------------------------------------------------------------------------------ the source
def test_each_camera_has_a_cache_of_its_own(tmp_path: Path, encoder_checkpoint: Path) -> None:
    """The reported bug: the second camera of a LeRobot dataset trained on the first camera's cached features."""
    root = lerobot_dataset(tmp_path / "lerobot")
    front, wrist = (LeRobotEpisodes(root, camera_key=camera) for camera in (FRONT, WRIST))
    front_cache, front_info = prepare_features(encoder_checkpoint, front, root, progress=False)
    wrist_cache, wrist_info = prepare_features(encoder_checkpoint, wrist, root, progress=False)
    assert Path(front_info["cache_dir"]).parent == Path(wrist_info["cache_dir"]).parent == root / ".vjepa_features"
    assert front_info["cache_dir"] != wrist_info["cache_dir"]
    assert wrist_info["build"]["reused_episodes"] == 0 and wrist_info["build"]["encoded_frames"] == sum(LENGTHS)
    assert manifest(wrist_info["cache_dir"])["source"] == {"format": "lerobot", "camera_key": WRIST, "video_fps": 10.0}
    assert manifest(wrist_info["cache_dir"])["encoder"]["model"]["size"] == "vit_micro"
    assert not np.allclose(front_cache.get(0), wrist_cache.get(0), atol=1e-2)

    # a directory given explicitly (feature_cache=...) that holds the other camera's features: rebuilt, and said why
    with pytest.warns(UserWarning, match=re.escape(f"source.camera_key changed ({FRONT} -> {WRIST})")):
        cache, info = prepare_features(encoder_checkpoint, wrist, root, cache_dir=front_info["cache_dir"],
                                       progress=False)
    assert info["cache_dir"] == front_info["cache_dir"] and info["build"]["encoded_frames"] == sum(LENGTHS)
    np.testing.assert_array_equal(cache.get(2), wrist_cache.get(2))


def test_default_directory_is_named_by_the_whole_key(tmp_path: Path) -> None:
    root = lerobot_dataset(tmp_path / "lerobot")
    front, wrist = LeRobotEpisodes(root, camera_key=FRONT), LeRobotEpisodes(root, camera_key=WRIST)
    base = {"encoder_id": {"fingerprint": "a" * 40}, "image_size": 16, "precision": "fp32", "episodes": front}
    variants = [{}, {"encoder_id": {"fingerprint": "b" * 40}}, {"image_size": 32}, {"precision": "bf16"},
                {"episodes": wrist}]
    dirs = [default_cache_dir(root, cache_key(**{**base, **change}), tmp_path) for change in variants]
    assert len(set(dirs)) == len(variants) and all(d.parent == root / ".vjepa_features" for d in dirs)
    assert re.fullmatch("[0-9a-f]{16}_16px", dirs[0].name) and dirs[3].name.endswith("_16px_bf16")


@pytest.mark.parametrize("layout, edited, re_encoded", [
    ("vjepa-episodes", "episodes/episode_000001.npz", [1]),
    ("v2.1", f"videos/chunk-000/{FRONT}/episode_000001.mp4", [1]),
    ("v3.0", f"videos/{FRONT}/chunk-000/file-000.mp4", [0, 1]),  # one video, two episodes
])
def test_an_episode_whose_source_file_changed_is_encoded_again(tmp_path: Path, layout: str, edited: str,
                                                              re_encoded: list[int]) -> None:
    root = own_dataset(tmp_path / "data") if layout == "vjepa-episodes" else lerobot_dataset(tmp_path / "data", layout)
    episodes, enc = open_episodes(root), CountingEncoder()  # LeRobot: the first camera, FRONT
    before = build(tmp_path / "cache", episodes, enc)
    old = [np.array(before.get(e)) for e in range(3)]
    assert [[s["file"] for s in files] for files in manifest(tmp_path / "cache")["sources"]][1][0] == edited
    edit(root / edited)
    after = build(tmp_path / "cache", episodes, enc)
    assert after.last_build["changed_sources"] == after.last_build["encoded_episodes"] == re_encoded
    for e in range(3):
        assert np.array_equal(after.get(e), old[e]) == (e not in re_encoded), e


def test_a_missing_source_file_is_a_user_error_naming_it(tmp_path: Path) -> None:
    root = lerobot_dataset(tmp_path / "data", "v2.1")
    episodes, enc = open_episodes(root), CountingEncoder()
    build(tmp_path / "cache", episodes, enc)
    video = root / f"videos/chunk-000/{FRONT}/episode_000002.mp4"
    video.unlink()
    with pytest.raises(UserError, match="episode 2") as raised:
        build(tmp_path / "cache", episodes, enc)
    assert raised.value.where == str(video)


# ------------------------------------------------------------------------------------------------ fingerprint
def test_fingerprint(tmp_path: Path) -> None:
    a, b = CountingEncoder(), CountingEncoder()
    assert fingerprint(a) == fingerprint(b.state_dict())
    with torch.no_grad():
        b.offset[0] = 1e-3
    assert fingerprint(a) != fingerprint(b)
    ckpt = tmp_path / "enc.pt"
    torch.save(a.state_dict(), ckpt)
    first = fingerprint(ckpt)
    assert first == fingerprint(str(ckpt)) and len(first) == 40
    st = ckpt.stat()
    os.utime(ckpt, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))  # rewritten (same size), new mtime
    assert fingerprint(ckpt) != first
