"""LeRobot readers (v2.1, v3.0), open_episodes, ClipWindows and ActionStats (the feature cache: test_feature_cache)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from tests.fakes import read_fake_frame_code, write_fake_lerobot_dataset
from vjepa.data.ac_dataset import ActionStats, ClipWindows, open_episodes
from vjepa.data.decoders import write_video
from vjepa.data.episodes import Episode, EpisodeDataset, EpisodeWriter
from vjepa.data.lerobot import (
    LeRobotEpisodes,
    LeRobotFormatError,
)
from vjepa.models.pose import apply_delta_pose, pose_delta

LENGTHS = [12, 9, 15]


@pytest.fixture(scope="module", params=["v2.1", "v3.0"])
def lerobot_root(request, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp(f"lerobot_{request.param}")
    # chunks_size=2 puts v2.1 episodes in two chunks; episodes_per_file=2 makes v3.0 share files (from_timestamp > 0)
    return write_fake_lerobot_dataset(
        root, num_episodes=3, length=LENGTHS, image_size=32, fps=10, version=request.param, seed=1,
        chunks_size=2, episodes_per_file=2, cameras=("observation.images.front", "observation.images.wrist"),
    )


def _parquet_rows(root: Path, episode: int) -> dict[str, np.ndarray]:
    """The data rows of one episode, read straight from whatever parquet files the dataset has."""
    tables = [pq.read_table(p).to_pydict() for p in sorted((root / "data").rglob("*.parquet"))]
    rows = {k: [] for k in ("action", "observation.state")}
    for t in tables:
        for j, e in enumerate(t["episode_index"]):
            if e == episode:
                for k in rows:
                    rows[k].append(t[k][j])
    return {k: np.asarray(v, np.float32) for k, v in rows.items()}


# ------------------------------------------------------------------------------------------------ LeRobot
def test_lerobot_reads_frames_actions_states(lerobot_root: Path) -> None:
    ds = LeRobotEpisodes(lerobot_root)
    assert len(ds) == 3 and list(ds.lengths) == LENGTHS
    assert (ds.action_dim, ds.state_dim) == (3, 4)
    assert ds.camera_key == "observation.images.front"  # the first video feature
    assert ds.meta["fps"] == 10 and ds.meta["image_size"] == (32, 32)
    for i, n in enumerate(LENGTHS):
        ep = ds[i]
        assert ep.frames.shape == (n, 32, 32, 3) and ep.frames.dtype == np.uint8
        episode, frame = read_fake_frame_code(ep.frames)
        np.testing.assert_array_equal(episode, i)
        np.testing.assert_array_equal(frame, np.arange(n))
        rows = _parquet_rows(lerobot_root, i)
        np.testing.assert_array_equal(ep.actions, rows["action"])
        np.testing.assert_array_equal(ep.states, rows["observation.state"])
        assert ep.actions.dtype == np.float32 and ep.states.shape == (n, 4)
    # a subset of frames, any order
    episode, frame = read_fake_frame_code(ds.get_frames(2, [7, 0, 14]))
    assert episode.tolist() == [2, 2, 2] and frame.tolist() == [7, 0, 14]
    actions, states = ds.lowdim(1)
    np.testing.assert_array_equal(states[:, 0], np.arange(9))


def test_lerobot_other_camera(lerobot_root: Path) -> None:
    ds = LeRobotEpisodes(lerobot_root, camera_key="observation.images.wrist", state_key=None)
    ep = ds[1]
    assert ep.states.shape == (9, 0) and ds.state_dim == 0
    np.testing.assert_array_equal(read_fake_frame_code(ep.frames)[1], np.arange(9))


def test_lerobot_columns_concatenate(lerobot_root: Path) -> None:
    """A key may list several columns (DROID keeps the end-effector position and the gripper apart): they are
    concatenated in order, and their widths add up."""
    ds = LeRobotEpisodes(lerobot_root, state_key=["observation.state", "action"], action_key=["action"])
    assert (ds.state_dim, ds.action_dim) == (7, 3)
    rows = _parquet_rows(lerobot_root, 1)
    actions, states = ds.lowdim(1)
    np.testing.assert_array_equal(states, np.concatenate([rows["observation.state"], rows["action"]], axis=1))
    np.testing.assert_array_equal(actions, rows["action"])
    with pytest.raises(LeRobotFormatError, match="state_key 'nope' is not a feature"):
        LeRobotEpisodes(lerobot_root, state_key=["observation.state", "nope"])


def test_lerobot_frames_follow_timestamps(tmp_path: Path) -> None:
    """Rows at every other timestamp must get every other video frame (timestamps, not row numbers, decide)."""
    root = write_fake_lerobot_dataset(tmp_path / "ds", num_episodes=1, length=10, image_size=32, fps=10)
    path = root / "data" / "chunk-000" / "episode_000000.parquet"
    pq.write_table(pq.read_table(path).take(list(range(0, 10, 2))), path)
    ep = LeRobotEpisodes(root)[0]
    assert read_fake_frame_code(ep.frames)[1].tolist() == [0, 2, 4, 6, 8]
    np.testing.assert_array_equal(ep.states[:, 0], [0, 2, 4, 6, 8])


@pytest.mark.parametrize("version", ["v2.1", "v3.0"])
def test_lerobot_missing_keys_list_available(tmp_path: Path, version: str) -> None:
    root = write_fake_lerobot_dataset(tmp_path / "ds", num_episodes=1, length=4, image_size=32, version=version)
    with pytest.raises(LeRobotFormatError, match="available features.*observation.state"):
        LeRobotEpisodes(root, state_key="observation.nope")
    with pytest.raises(LeRobotFormatError, match="action_key 'act'.*available features.*'action'"):
        LeRobotEpisodes(root, action_key="act")
    with pytest.raises(LeRobotFormatError, match=r"video features: \['observation.images.front'\]"):
        LeRobotEpisodes(root, camera_key="observation.images.top")
    with pytest.raises(LeRobotFormatError, match="not a video feature"):
        LeRobotEpisodes(root, camera_key="observation.state")


def test_lerobot_layout_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="meta/info.json"):
        LeRobotEpisodes(tmp_path)
    root = write_fake_lerobot_dataset(tmp_path / "ds", num_episodes=2, length=6, image_size=32)
    info_path = root / "meta" / "info.json"
    info = json.loads(info_path.read_text())
    info_path.write_text(json.dumps({**info, "codebase_version": "v9.9"}))
    with pytest.raises(LeRobotFormatError, match="v9.9.*supported"):
        LeRobotEpisodes(root)
    info_path.write_text(json.dumps(info))

    ds = LeRobotEpisodes(root)
    missing = root / "data" / "chunk-000" / "episode_000001.parquet"
    missing.unlink()
    with pytest.raises(FileNotFoundError, match="episode_000001.parquet.*episode 1"):
        ds[1]
    # a video cut short: 4 frames for 6 timestamps
    video = root / "videos" / "chunk-000" / "observation.images.front" / "episode_000000.mp4"
    write_video(video, ds[0].frames[:4], 10)
    with pytest.raises(LeRobotFormatError, match="video has 4 frames.*needs frame 4.*shorter"):
        ds[0]


def test_lerobot_v3_missing_data_file(tmp_path: Path) -> None:
    root = write_fake_lerobot_dataset(tmp_path / "ds", num_episodes=3, length=5, image_size=32, version="v3.0")
    (root / "data" / "chunk-000" / "file-001.parquet").unlink()
    ds = LeRobotEpisodes(root)
    assert read_fake_frame_code(ds[1].frames)[0].tolist() == [1] * 5
    with pytest.raises(FileNotFoundError, match="file-001.parquet.*episode 2"):
        ds[2]


# ------------------------------------------------------------------------------------------------ open_episodes
def _write_own(root: Path, lengths=(10, 7), action_dim=2, state_dim=3) -> Path:
    rng = np.random.default_rng(0)
    with EpisodeWriter(root, fps=5, env_id="toy") as w:
        for n in lengths:
            frames = np.broadcast_to(np.arange(n, dtype=np.uint8)[:, None, None, None] * 10, (n, 16, 16, 3))
            w.add(np.ascontiguousarray(frames), rng.normal(size=(n, action_dim)), rng.normal(size=(n, state_dim)))
    return root


def test_open_episodes(tmp_path: Path, lerobot_root: Path) -> None:
    own = open_episodes(_write_own(tmp_path / "own"))
    assert isinstance(own, EpisodeDataset) and len(own) == 2 and own.action_dim == 2
    stats = ActionStats.from_episodes(own)  # reads actions/states without the frames
    np.testing.assert_allclose(stats.state_mean, np.concatenate([own[i].states for i in range(2)]).mean(0), rtol=1e-5)
    lr = open_episodes(lerobot_root, camera_key="observation.images.wrist")
    assert isinstance(lr, LeRobotEpisodes) and lr.camera_key == "observation.images.wrist"
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="neither a vjepa-episodes.*nor a LeRobot"):
        open_episodes(tmp_path / "empty")
    with pytest.raises(FileNotFoundError):
        open_episodes(tmp_path / "nothing")


# ------------------------------------------------------------------------------------------------ ClipWindows
def _toy_episodes(lengths=(10, 6), action_dim=2, state_dim=3) -> list[Episode]:
    """Frame t of episode e has pixel value 10 * t + e; actions and states are distinct numbers."""
    eps = []
    for e, n in enumerate(lengths):
        frames = np.zeros((n, 8, 8, 3), np.uint8) + (10 * np.arange(n) + e).astype(np.uint8)[:, None, None, None]
        actions = (100 * e + np.arange(n * action_dim)).reshape(n, action_dim).astype(np.float32)
        states = (1000 + 100 * e + np.arange(n * state_dim)).reshape(n, state_dim).astype(np.float32)
        eps.append(Episode(frames, actions, states, {"episode_index": e}))
    return eps


def test_clip_windows_index_and_hand_computed_actions() -> None:
    eps = _toy_episodes()
    with pytest.warns(UserWarning, match="shorter than a window of 7 frames.*episodes \\[1\\]"):
        w = ClipWindows(eps, num_frames=4, frame_step=2, action_agg="sum")
    assert len(w) == 10 - 6  # starts 0..3 of episode 0; episode 1 (6 frames) is too short
    item = w[3]
    assert item["episode"] == 0 and item["start"] == 3
    assert item["frames"].shape == (4, 8, 8, 3) and item["frames"].dtype == torch.uint8
    steps = [3, 5, 7, 9]
    assert item["frames"][:, 0, 0, 0].tolist() == [10 * t for t in steps]
    a = eps[0].actions
    hand_sum = np.stack([a[3] + a[4], a[5] + a[6], a[7] + a[8], a[9]])  # past the episode end: zeros
    np.testing.assert_array_equal(item["actions"].numpy(), hand_sum)
    np.testing.assert_array_equal(item["states"].numpy(), eps[0].states[steps])

    stack = ClipWindows(eps[:1], num_frames=4, frame_step=2, action_agg="stack")[3]
    hand_stack = np.stack([np.r_[a[3], a[4]], np.r_[a[5], a[6]], np.r_[a[7], a[8]], np.r_[a[9], 0, 0]])
    assert stack["actions"].shape == (4, 4)
    np.testing.assert_array_equal(stack["actions"].numpy(), hand_stack)


def test_clip_windows_all_windows_and_stride() -> None:
    eps = _toy_episodes(lengths=(10, 6, 8))
    w = ClipWindows(eps, num_frames=3, frame_step=1)
    assert len(w) == 8 + 4 + 6
    pairs = [(w[k]["episode"], w[k]["start"]) for k in range(len(w))]
    assert pairs == [(0, s) for s in range(8)] + [(1, s) for s in range(4)] + [(2, s) for s in range(6)]
    w2 = ClipWindows(eps, num_frames=3, frame_step=2, stride=3)  # span 5: starts 0,3 | 0 | 0,3
    assert list(zip(w2.index_episode.tolist(), w2.index_start.tolist())) == [(0, 0), (0, 3), (1, 0), (2, 0), (2, 3)]
    batch = torch.utils.data.default_collate([w[0], w[1]])
    assert batch["frames"].shape == (2, 3, 8, 8, 3) and batch["actions"].shape == (2, 3, 2)


def test_clip_windows_mismatched_lengths_names_episode() -> None:
    eps = _toy_episodes()
    eps[1] = Episode(eps[1].frames, eps[1].actions[:-1], eps[1].states, {"episode_index": 1, "file": "ep1.npz"})
    with pytest.raises(ValueError, match=r"episode 1 \(ep1.npz\): 6 frames but 5 actions and 6 states"):
        ClipWindows(eps, num_frames=2)


def test_clip_windows_on_datasets(tmp_path: Path, lerobot_root: Path) -> None:
    own = EpisodeDataset(_write_own(tmp_path / "own"))
    item = ClipWindows(own, num_frames=4, frame_step=2, action_agg="stack")[1]
    assert item["frames"].shape == (4, 16, 16, 3) and item["actions"].shape == (4, 4)
    assert item["frames"][:, 0, 0, 0].tolist() == [10, 30, 50, 70]
    lr = LeRobotEpisodes(lerobot_root)
    w = ClipWindows(lr, num_frames=3, frame_step=3)  # span 7: 6 + 3 + 9 windows
    assert len(w) == 6 + 3 + 9
    item = w[7]  # episode 1, start 1
    assert (item["episode"], item["start"]) == (1, 1)
    episode, frame = read_fake_frame_code(item["frames"].numpy())
    assert episode.tolist() == [1, 1, 1] and frame.tolist() == [1, 4, 7]
    rows = _parquet_rows(lerobot_root, 1)
    np.testing.assert_allclose(item["actions"].numpy()[0], rows["action"][1:4].sum(0), rtol=1e-6)
    np.testing.assert_array_equal(item["states"].numpy(), rows["observation.state"][[1, 4, 7]])


# ------------------------------------------------------------------------------------------------ ActionStats
def test_action_stats_hand_computed_and_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    eps = [
        Episode(np.zeros((n, 4, 4, 3), np.uint8), rng.normal(size=(n, 2)).astype(np.float32),
                rng.normal(size=(n, 3)).astype(np.float32), {})
        for n in (9, 6)
    ]
    stats = ActionStats.from_episodes(eps, frame_step=2, action_agg="sum")
    sums = np.stack([e.actions[i] + e.actions[i + 1] for e in eps for i in range(len(e.actions) - 2)])
    np.testing.assert_allclose(stats.action_mean, sums.mean(0), rtol=1e-5)
    np.testing.assert_allclose(stats.action_std, sums.std(0), rtol=1e-5)
    all_states = np.concatenate([e.states for e in eps])
    np.testing.assert_allclose(stats.state_mean, all_states.mean(0), rtol=1e-5)
    np.testing.assert_allclose(stats.state_std, all_states.std(0), rtol=1e-5)

    stack = ActionStats.from_episodes(eps, frame_step=2, action_agg="stack")
    assert stack.action_mean.shape == (4,)
    per_step = np.concatenate([e.actions[:-1] for e in eps])
    np.testing.assert_allclose(stack.action_mean, np.tile(per_step.mean(0), 2), rtol=1e-5)

    path = tmp_path / "ckpt.pt"
    torch.save({"action_stats": stats.state_dict()}, path)
    back = ActionStats.from_state_dict(torch.load(path, weights_only=True)["action_stats"])
    for key in ("action_mean", "action_std", "state_mean", "state_std"):
        np.testing.assert_array_equal(getattr(back, key), getattr(stats, key))
    assert (back.frame_step, back.action_agg) == (2, "sum")

    x = torch.randn(5, 2)
    torch.testing.assert_close(back.denormalize_actions(back.normalize_actions(x)), x)
    s = eps[0].states
    np.testing.assert_allclose(back.normalize_states(s), (s - stats.state_mean) / stats.state_std, rtol=1e-6)
    w = ClipWindows(eps, num_frames=2, frame_step=2, stats=stats)
    raw = ClipWindows(eps, num_frames=2, frame_step=2)
    torch.testing.assert_close(w[0]["actions"], back.normalize_actions(raw[0]["actions"]))
    with pytest.raises(ValueError, match="last dimension 3"):
        stats.normalize_actions(np.zeros((2, 3)))


def test_pose_delta_actions_are_the_end_effector_pose_changes_between_kept_frames() -> None:
    """V-JEPA 2-AC's actions from robot poses: the pose change from each kept frame to the next (frame_step later),
    zeros past the episode's end; the logged actions are not read."""
    rng = np.random.default_rng(0)
    poses = [np.concatenate([rng.normal(size=(n, 3)), rng.uniform(-1, 1, size=(n, 3)), rng.uniform(0, 1, size=(n, 1))],
                            axis=1).astype(np.float32) for n in (11, 9)]
    eps = [Episode(np.zeros((len(p), 4, 4, 3), np.uint8), np.full((len(p), 2), np.nan, np.float32), p, {})
           for p in poses]
    windows = ClipWindows(eps, num_frames=3, frame_step=3, action_agg="pose_delta")
    assert windows.action_dim == 7
    item = windows[2]  # episode 0, kept frames 2, 5, 8; the last action would reach frame 11: past the end
    expected = pose_delta(torch.from_numpy(poses[0][[2, 5]]).double(), torch.from_numpy(poses[0][[5, 8]]).double())
    np.testing.assert_allclose(item["actions"][:2].numpy(), expected.numpy(), atol=1e-6)
    assert (item["actions"][2] == 0).all() and torch.isfinite(item["actions"]).all()
    torch.testing.assert_close(apply_delta_pose(item["states"][:2].double(), item["actions"][:2].double()),
                               item["states"][1:].double(), atol=1e-5, rtol=0)

    stats = ActionStats.from_episodes(windows.episodes, windows.frame_step, windows.action_agg)
    every = np.concatenate([pose_delta(torch.from_numpy(p[:-3]).double(), torch.from_numpy(p[3:]).double()).numpy()
                            for p in poses])
    np.testing.assert_allclose(stats.action_mean, every.mean(0), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(stats.action_std, every.std(0), rtol=1e-5)
    assert stats.action_agg == "pose_delta"
    flat = [Episode(e.frames, e.actions, e.states[:, :3], {"episode_index": i}) for i, e in enumerate(eps)]
    with pytest.raises(ValueError, match=r"episode 0: action_agg 'pose_delta' needs 7-D states"):
        ActionStats.from_episodes(flat, frame_step=3, action_agg="pose_delta")
    with pytest.raises(ValueError, match="action_agg must be one of"):
        ClipWindows(eps, action_agg="mean")


def test_action_stats_on_lerobot_reads_no_video(lerobot_root: Path, monkeypatch) -> None:
    ds = LeRobotEpisodes(lerobot_root)
    monkeypatch.setattr(ds, "_decode", lambda *a: (_ for _ in ()).throw(AssertionError("decoded video")))
    stats = ActionStats.from_episodes(ds)
    actions = np.concatenate([_parquet_rows(lerobot_root, i)["action"][:-1] for i in range(3)])
    np.testing.assert_allclose(stats.action_mean, actions.mean(0), rtol=1e-5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(ClipWindows(ds, num_frames=2)) == sum(n - 1 for n in LENGTHS)
