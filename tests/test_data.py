"""Data room: decoders, transforms, seeded sampler, folder datasets, synthetic data."""

import csv
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from torch.utils.data import DataLoader

from tests.fakes import make_corrupt_files
from vjepa.cli.make_videos import main as make_videos_main
from vjepa.data import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    ImageFolderDataset,
    SeededSampler,
    VideoDecodeError,
    VideoFolderDataset,
    VideoTransform,
    make_moving_shapes,
    make_shape_images,
    normalize,
    open_video,
    to_model_input,
    write_video,
)
from vjepa.data.decoders import DecordReader
from vjepa.data.synthetic import COLOURS, direction_class
from vjepa.data.video_dataset import SkippedFiles
from vjepa.inference import clip_batches
from vjepa.masks import MaskCollator, vjepa_masks
from vjepa.train.loop import Batches

LEVEL_STEP = 6  # grey level per frame number in counter videos
CORRUPT_VIDEOS = ("truncated.mp4", "random_bytes.mp4", "empty.mp4", "audio_only.mp4")


def write_counter_video(path, num_frames, size=64, **kwargs):
    """Left half: uniform grey at LEVEL_STEP * i, so a frame tells its number; right half: moving texture."""
    rng = np.random.default_rng(0)
    texture = rng.integers(0, 256, (size, 2 * size, 3), dtype=np.uint8)
    frames = np.empty((num_frames, size, size, 3), np.uint8)
    for i in range(num_frames):
        frames[i, :, : size // 2] = LEVEL_STEP * i
        frames[i, :, size // 2 :] = texture[:, 2 * i : 2 * i + size // 2]
    return write_video(path, frames, fps=10, **kwargs)


def frame_numbers(clip) -> list[int]:
    """Frame numbers of a uint8 clip (T, H, W, C) cut from a counter video."""
    clip = np.asarray(clip)
    m = clip.shape[2] // 8  # stay clear of the edges and the texture
    left = clip[:, m:-m, m : 3 * m].astype(float)
    return np.round(left.mean(axis=(1, 2, 3)) / LEVEL_STEP).astype(int).tolist()


@pytest.fixture(scope="module")
def counter_mp4(tmp_path_factory):
    return write_counter_video(tmp_path_factory.mktemp("counter") / "counter.mp4", 40, options={"g": "8"})


@pytest.fixture(scope="module")
def corrupt_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("corrupt")
    make_corrupt_files(out)
    return out


@pytest.fixture(scope="module")
def shapes_dir(tmp_path_factory):
    return make_moving_shapes(tmp_path_factory.mktemp("shapes"), num_videos=6, num_frames=16, size=32, seed=1)


@pytest.fixture(scope="module")
def mixed_dir(tmp_path_factory, corrupt_dir):
    """Four corrupt videos sorted in between three good ones."""
    out = tmp_path_factory.mktemp("mixed")
    for name in CORRUPT_VIDEOS:
        (out / name).write_bytes((corrupt_dir / name).read_bytes())
    for name in ("a.mp4", "m.mp4", "z.mp4"):
        write_counter_video(out / name, 20, size=32)
    return out


# ---------------------------------------------------------------- decoders


@pytest.mark.parametrize("suffix", ["mp4", "mkv"])  # mkv stores no frame count: PyAV counts packets
def test_decord_and_pyav_decode_identical_frames(tmp_path, suffix):
    path = write_counter_video(tmp_path / f"counter.{suffix}", 40, options={"g": "8"})
    indices = [33, 2, 17, 17, 39, 9]  # unordered, repeated, across keyframes, none a keyframe first
    with open_video(path, "decord") as fast, open_video(path, "pyav") as slow:
        assert len(fast) == len(slow) == 40 and fast.fps == slow.fps == 10
        frames = slow.get_frames(indices)
        assert frames.dtype == np.uint8 and frames.shape == (6, 64, 64, 3)
        assert np.array_equal(frames, fast.get_frames(indices))
    assert frame_numbers(frames) == indices


def test_auto_falls_back_to_pyav_for_av1(tmp_path):
    path = write_counter_video(tmp_path / "av1.mp4", 12, codec="libsvtav1")
    with pytest.raises(VideoDecodeError, match="av1.mp4"):
        open_video(path, "decord")
    with open_video(path) as video:
        assert len(video) == 12
        assert frame_numbers(video.get_frames([0, 5, 11])) == [0, 5, 11]


def test_auto_falls_back_when_decord_fails_mid_read(counter_mp4, monkeypatch):
    def broken(self, indices):
        raise RuntimeError("decord cannot convert this frame")

    monkeypatch.setattr(DecordReader, "_decode", broken)
    with open_video(counter_mp4, "decord") as video, pytest.raises(VideoDecodeError, match="counter.mp4"):
        video.get_frames([1])
    with open_video(counter_mp4) as video:
        assert frame_numbers(video.get_frames([3, 1])) == [3, 1]


@pytest.mark.parametrize("backend", ["auto", "decord", "pyav"])
@pytest.mark.parametrize("name", CORRUPT_VIDEOS)
def test_corrupt_video_raises_decode_error_naming_file(corrupt_dir, name, backend):
    with pytest.raises(VideoDecodeError, match=name) as error:
        with open_video(corrupt_dir / name, backend) as video:
            video.get_frames(range(len(video)))
    assert isinstance(error.value, RuntimeError) and error.value.path == corrupt_dir / name


def test_truncated_video_opens_then_fails_to_decode(corrupt_dir):
    with open_video(corrupt_dir / "truncated.mp4", "pyav") as video:
        assert len(video) == 4  # the index is intact, the frame data is not
        with pytest.raises(VideoDecodeError, match="truncated.mp4"):
            video.get_frames([0])


# ---------------------------------------------------------------- video dataset


def test_video_dataset_honours_frame_step_and_seed(counter_mp4):
    dataset = VideoFolderDataset(counter_mp4.parent, frames_per_clip=5, frame_step=3)
    starts = set()
    for seed in range(8):
        sample = dataset[(0, seed)]
        assert sample["clip"].dtype == torch.uint8 and sample["clip"].shape == (5, 64, 64, 3)
        numbers = frame_numbers(sample["clip"])
        assert numbers == [numbers[0] + 3 * k for k in range(5)] and 0 <= numbers[0] <= 40 - 13
        assert frame_numbers(dataset[(0, seed)]["clip"]) == numbers  # the key fixes the clip
        starts.add(numbers[0])
    assert len(starts) > 2


def test_video_dataset_with_transform(counter_mp4):
    dataset = VideoFolderDataset(counter_mp4.parent, frames_per_clip=4, frame_step=2, transform=VideoTransform(32))
    sample = dataset[(0, 7)]
    assert sample["clip"].dtype == torch.float32 and sample["clip"].shape == (3, 4, 32, 32)
    assert (sample["index"], sample["seed"], sample["skipped"], sample["skipped_files"]) == (0, 7, 0, {})
    assert torch.equal(sample["clip"], dataset[(0, 7)]["clip"])
    assert not torch.equal(sample["clip"], dataset[(0, 8)]["clip"])


@pytest.mark.parametrize(("mode", "expected"), [("pad", [0, 2, 4, 4, 4]), ("stretch", [0, 1, 2, 3, 4])])
def test_short_video_is_padded_or_stretched(tmp_path, mode, expected):
    write_counter_video(tmp_path / "short.mp4", 5, size=32)
    dataset = VideoFolderDataset(tmp_path, frames_per_clip=5, frame_step=2, short_video=mode)
    assert frame_numbers(dataset[0]["clip"]) == expected


@pytest.mark.parametrize("mode", [None, "pad", "stretch"])  # None: the default
def test_short_video_clips_only_move_forward(counter_mp4, mode):
    """16 frames at step 4 span 61: every shorter video (one frame short of it included) reads forward in time."""
    chosen = {"short_video": mode} if mode else {}
    dataset = VideoFolderDataset(counter_mp4.parent, frames_per_clip=16, frame_step=4, **chosen)
    mode = dataset.short_video
    generator = torch.Generator().manual_seed(0)
    for num_frames in (1, 2, 5, 15, 16, 17, 31, 59, 60):
        indices = dataset.frame_indices(num_frames, generator)
        steps = np.diff(indices)
        assert len(indices) == 16 and (steps >= 0).all(), (num_frames, indices.tolist())
        if mode == "pad" or num_frames < 16:  # from the first frame, the last repeated
            assert indices[0] == 0 and indices[-1] == num_frames - 1, (num_frames, indices.tolist())
        else:  # the largest step that fits, at a random start
            assert (steps == min(4, (num_frames - 1) // 15)).all() and indices[-1] < num_frames, num_frames
    if mode == "pad":
        assert dataset.frame_indices(60, generator)[-3:].tolist() == [52, 56, 59]  # not back to frame 0


def test_short_video_loop_is_refused_with_the_fix(counter_mp4):
    with pytest.raises(ValueError, match=r"'loop' is gone: it ran time backwards; 'pad' is the default"):
        VideoFolderDataset(counter_mp4.parent, short_video="loop")


def test_short_video_is_skipped_silently(tmp_path):
    write_counter_video(tmp_path / "a_short.mp4", 5, size=32)
    write_counter_video(tmp_path / "b_long.mp4", 12, size=32)
    dataset = VideoFolderDataset(tmp_path, frames_per_clip=5, frame_step=2, short_video="skip")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sample = dataset[(0, 3)]
    assert sample["index"] == 1 and sample["skipped"] >= 1
    assert sample["skipped_files"] == {str(tmp_path / "a_short.mp4"): "too short: 5 frames, fewer than the 9 one "
                                                                       "clip spans"}
    (tmp_path / "b_long.mp4").unlink()
    with pytest.raises(ValueError, match="fewer than the 9 one clip spans"):
        VideoFolderDataset(tmp_path, frames_per_clip=5, frame_step=2, short_video="skip")


def test_corrupt_files_are_replaced_and_named_in_the_sample(mixed_dir):
    dataset = VideoFolderDataset(mixed_dir, frames_per_clip=4, frame_step=2)
    names = [p.name for p in dataset.paths]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the dataset reports through its samples, not warnings (one per worker)
        samples = [dataset[(i, 100 + i)] for i in range(len(dataset))]
    for i, sample in enumerate(samples):
        assert names[sample["index"]] in ("a.mp4", "m.mp4", "z.mp4")
        assert (sample["skipped"] > 0) == (names[i] in CORRUPT_VIDEOS)
        assert sample["skipped"] >= len(sample["skipped_files"])  # a bad file drawn twice is named once
        assert all(reason.startswith("unreadable (") for reason in sample["skipped_files"].values())
        if names[i] in CORRUPT_VIDEOS:
            assert str(mixed_dir / names[i]) in sample["skipped_files"]
        assert sample["clip"].shape == (4, 32, 32, 3)
    # a fresh dataset, which does not yet know the bad files, picks the same replacements and clips
    fresh = VideoFolderDataset(mixed_dir, frames_per_clip=4, frame_step=2)
    for i in reversed(range(len(fresh))):
        again = fresh[(i, 100 + i)]
        assert again["index"] == samples[i]["index"] and torch.equal(again["clip"], samples[i]["clip"])
        assert (again["skipped"], again["skipped_files"]) == (samples[i]["skipped"], samples[i]["skipped_files"])


def test_gives_up_after_max_resample(mixed_dir):
    dataset = VideoFolderDataset(mixed_dir, frames_per_clip=4, frame_step=2, max_resample=0)
    corrupt = [p.name for p in dataset.paths].index("random_bytes.mp4")
    with pytest.raises(RuntimeError, match="gave up .*random_bytes.mp4"):
        dataset[corrupt]


def test_constructor_errors(tmp_path, corrupt_dir):
    with pytest.raises(FileNotFoundError, match="missing"):
        VideoFolderDataset(tmp_path / "missing")
    with pytest.raises(ValueError, match=r"no videos found in .*mp4, avi"):
        VideoFolderDataset(tmp_path)
    with pytest.raises(ValueError, match=f"no readable videos in {corrupt_dir}"):
        VideoFolderDataset(corrupt_dir)
    with pytest.raises(ValueError, match=f"no readable images in {corrupt_dir}"):
        ImageFolderDataset(corrupt_dir)


def test_list_files_as_root(tmp_path, shapes_dir):
    names = [f"video_{i:05d}.mp4" for i in (4, 0, 2)]
    list_csv = shapes_dir / "subset.csv"
    list_csv.write_text("path\n" + "\n".join(names) + "\n")  # relative to the list's folder
    assert [p.name for p in VideoFolderDataset(list_csv, frames_per_clip=4).paths] == names
    list_txt = tmp_path / "subset.txt"
    list_txt.write_text("\n".join(str(shapes_dir / n) for n in names) + "\n\n")  # absolute, blank line
    assert [p.name for p in VideoFolderDataset(list_txt, frames_per_clip=4).paths] == names
    by_labels = VideoFolderDataset(shapes_dir / "labels.csv", frames_per_clip=4)  # its `file` column
    assert by_labels.paths == VideoFolderDataset(shapes_dir, frames_per_clip=4).paths


# ---------------------------------------------------------------- image dataset


def test_image_dataset_is_one_frame_clips(tmp_path, corrupt_dir):
    make_shape_images(tmp_path, num_images=3, size=48, seed=0)
    for name in ("truncated.png", "random_bytes.png"):
        (tmp_path / name).write_bytes((corrupt_dir / name).read_bytes())
    raw = ImageFolderDataset(tmp_path)
    assert len(raw) == 5 and raw[0]["clip"].shape == (1, 48, 48, 3) and raw[0]["clip"].dtype == torch.uint8
    dataset = ImageFolderDataset(tmp_path, transform=VideoTransform(32, train=False))
    sample = dataset[(4, 0)]  # sorted: image_0..2, random_bytes, truncated
    assert str(tmp_path / "truncated.png") in sample["skipped_files"]
    assert sample["skipped"] >= 1 and sample["index"] < 3 and sample["clip"].shape == (3, 1, 32, 32)


# ---------------------------------------------------------------- sampler


def test_sampler_gives_same_batches_for_any_worker_count(mixed_dir):
    dataset = VideoFolderDataset(mixed_dir, frames_per_clip=4, frame_step=2, transform=VideoTransform(16))

    def batches(num_workers):
        loader = DataLoader(dataset, batch_size=2, sampler=SeededSampler(len(dataset), seed=3), num_workers=num_workers)
        return list(loader)

    serial, parallel = batches(0), batches(2)
    assert len(serial) == 4  # 7 samples, batches of 2
    for a, b in zip(serial, parallel, strict=True):
        assert a.keys() == b.keys() and a["skipped_files"] == b["skipped_files"]  # default_collate merges them
        assert all(torch.equal(a[k], b[k]) for k in a if k != "skipped_files")
    assert sum(int(b["skipped"].gt(0).sum()) for b in serial) > 0


@pytest.mark.parametrize(("drop_last", "per_rank"), [(True, 3), (False, 4)])
def test_sampler_rank_shares(drop_last, per_rank):
    single = list(SeededSampler(10, seed=5, drop_last=drop_last))
    shares = [list(SeededSampler(10, seed=5, rank=r, world_size=3, drop_last=drop_last)) for r in range(3)]
    assert all(len(share) == per_rank for share in shares)
    interleaved = [shares[r][i] for i in range(per_rank) for r in range(3)]  # back in global-position order
    covered = min(3 * per_rank, 10)
    assert interleaved[:covered] == single[:covered]
    if not drop_last:  # the order wraps around to fill the last round; seeds stay per position
        assert [index for index, _ in interleaved[10:]] == [index for index, _ in single[:2]]
    if drop_last:
        assert len({index for share in shares for index, _ in share}) == 9  # disjoint
    assert sorted(index for index, _ in single) == list(range(10))


def test_sampler_epochs_and_start_at():
    sampler = SeededSampler(20, seed=1, rank=1, world_size=2)
    epoch0 = list(sampler)
    assert list(sampler) == epoch0 and len(sampler) == 10
    sampler.start_at(4)
    assert list(sampler) == epoch0[4:] and len(sampler) == 6
    sampler.set_epoch(1)
    epoch1 = list(sampler)
    assert len(epoch1) == 10 and epoch1 != epoch0
    assert [index for index, _ in SeededSampler(5, seed=0, shuffle=False)] == [0, 1, 2, 3, 4]


# ---------------------------------------------------------------- transforms


def test_normalize_layout_and_values():
    clip = np.zeros((2, 4, 6, 3), np.uint8)
    clip[..., 0], clip[..., 1], clip[..., 2] = 0, 128, 255
    out = normalize(clip)
    assert out.dtype == torch.float32 and out.shape == (3, 2, 4, 6)
    expected = [(v / 255 - m) / s for v, m, s in zip((0, 128, 255), IMAGENET_MEAN, IMAGENET_STD)]
    assert torch.allclose(out.mean(dim=(1, 2, 3)), torch.tensor(expected))


def test_train_transform_uses_one_crop_for_all_frames():
    image = np.random.default_rng(0).integers(0, 200, (40, 56, 3), dtype=np.uint8)
    clip = np.stack([image + 10 * t for t in range(4)]).astype(np.uint8)  # frames differ by a constant
    no_flip = VideoTransform(24, train=True, scale=(0.2, 0.5), hflip_prob=0.0)
    out = no_flip(clip, torch.Generator().manual_seed(0))
    assert out.shape == (3, 4, 24, 24) and out.dtype == torch.float32
    step = out[:, 1:] - out[:, :-1]  # constant per channel only if every frame got the same box
    expected = (10 / 255 / torch.tensor(IMAGENET_STD)).view(3, 1, 1, 1)
    assert torch.allclose(step, expected.expand_as(step), atol=1e-4)
    flipped = VideoTransform(24, train=True, scale=(0.2, 0.5), hflip_prob=1.0)(clip, torch.Generator().manual_seed(0))
    assert torch.allclose(flipped, out.flip(-1))
    assert not torch.allclose(out, no_flip(clip, torch.Generator().manual_seed(1)))


def test_eval_transform_and_model_input_center_crop():
    clip = np.random.default_rng(0).integers(0, 256, (3, 40, 60, 3), dtype=np.uint8)
    centre = normalize(clip[:, :, 10:50])  # 40 x 40, no resize needed
    assert torch.allclose(VideoTransform(40, train=False)(clip), centre, atol=1e-5)
    batch = to_model_input(np.stack([clip, clip[::-1]]), 40)
    assert batch.shape == (2, 3, 3, 40, 40)
    assert torch.allclose(batch[0], centre, atol=1e-5) and torch.allclose(batch[1], centre.flip(1), atol=1e-5)
    assert to_model_input(clip, 16).shape == (1, 3, 3, 16, 16)
    assert to_model_input(clip[0], 16).shape == (1, 3, 1, 16, 16)
    with pytest.raises(TypeError, match="uint8"):
        to_model_input(clip.astype(np.float32), 16)


# ---------------------------------------------------------------- synthetic data and CLI


def test_moving_shapes_match_their_labels(shapes_dir):
    with open(shapes_dir / "labels.csv") as f:
        rows = list(csv.DictReader(f))
    labels = np.load(shapes_dir / "labels.npz")
    assert len(rows) == 6 and labels["centres"].shape == (6, 16, 2)
    assert ((labels["centres"] >= 0) & (labels["centres"] <= 32)).all()
    for row, centres, direction in zip(rows, labels["centres"], labels["direction"], strict=True):
        velocity = np.array([float(row["vx"]), float(row["vy"])])
        assert int(row["direction"]) == direction == direction_class(velocity)
        assert np.allclose(centres[0], [float(row["x0"]), float(row["y0"])], atol=1e-3)
        with open_video(shapes_dir / row["file"]) as video:
            frames = video.get_frames(range(16))
        for t in (0, 15):  # the main shape is painted on top: its centre pixel has its colour
            x, y = centres[t].astype(int)
            assert np.abs(frames[t, y, x].astype(int) - COLOURS[row["colour"]]).max() < 40


def test_single_shape_videos_show_only_the_labelled_shape(tmp_path):
    folder = make_moving_shapes(tmp_path, num_videos=4, num_frames=2, size=64, seed=3, max_shapes=1)
    assert json.loads((folder / "generator.json").read_text())["max_shapes"] == 1
    with open(folder / "labels.csv") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        with open_video(folder / row["file"]) as video:
            frame = video.get_frames([0])[0].astype(int)
        bright = frame[frame.max(-1) > 150]  # backgrounds are dark (< 100), every shape colour has a channel > 200
        labelled = np.abs(bright - COLOURS[row["colour"]]).max(-1) < 50
        assert labelled.mean() > 0.8  # (codec blur at the edges aside) one shape, the labelled one


def test_synthetic_generation_shows_a_bar_saying_what_it_makes(tmp_path, capsys):
    make_moving_shapes(tmp_path / "videos", num_videos=2, num_frames=2, size=32)
    make_shape_images(tmp_path / "images", num_images=3, size=32)
    err = capsys.readouterr().err
    assert "generating 2 moving-shape videos (2 frames, 32 px):" in err and "2/2" in err and "video/s" in err
    assert "generating 3 shape images (32 px):" in err and "3/3" in err and "image/s" in err


def test_make_videos_cli(tmp_path, capsys, command_line):
    command_line(make_videos_main, f"out_dir={tmp_path / 'v'}", "num_videos=2", "frames=6", "size=32")
    assert str(tmp_path / "v") in capsys.readouterr().out
    assert len(list((tmp_path / "v").glob("*.mp4"))) == 2 and (tmp_path / "v" / "labels.csv").exists()
    command_line(make_videos_main, f"out_dir={tmp_path / 'i'}", "num_videos=3", "size=32", "kind=image")
    assert len(list((tmp_path / "i").glob("*.png"))) == 3
    capsys.readouterr()
    with pytest.raises(SystemExit):
        command_line(make_videos_main, f"out_dir={tmp_path / 'o'}", "size=33")
    assert capsys.readouterr().err == "error: must be even, got 33 (size) — set size=34\n"
    assert not (tmp_path / "o").exists()


def test_evaluation_segments_are_evenly_spaced_clips(tmp_path):
    videos = make_moving_shapes(tmp_path, num_videos=1, num_frames=20, size=32)
    dataset = VideoFolderDataset(videos, frames_per_clip=4, frame_step=2, random_start=False, segments=3)
    assert dataset[0]["clip"].shape == (12, 32, 32, 3)  # three 4-frame clips, one after the other (no transform)
    generator = torch.Generator()
    # 20 frames, a clip spans 7: starts 0, 6, 13 (the last possible), each clip 4 frames 2 apart
    assert dataset.frame_indices(20, generator).tolist() == [0, 2, 4, 6, 6, 8, 10, 12, 13, 15, 17, 19]
    assert dataset.frame_indices(5, generator).tolist() == [0, 2, 4, 4] * 3  # short: every segment is padded
    with pytest.raises(ValueError, match="segments must be >= 1, and 1 with random_start"):
        VideoFolderDataset(videos, segments=2)


# ---------------------------------------------------------------- skipped files, short folders


def test_decord_keeps_its_errors_off_the_terminal(corrupt_dir, mixed_dir, capfd):
    """decord's C++ code prints "ERROR opening ..." on fd 2 for a broken file; it becomes the error's reason."""
    pytest.importorskip("decord")
    for name in CORRUPT_VIDEOS:
        for backend in ("decord", "auto"):
            with pytest.raises(VideoDecodeError) as error, open_video(corrupt_dir / name, backend) as video:
                video.get_frames([0])
            if name in ("random_bytes.mp4", "empty.mp4"):
                assert "Invalid data found when processing input" in error.value.reason.split("; pyav:")[0]
            assert "/github/workspace" not in error.value.reason  # decord's log prefix is cut
    dataset = VideoFolderDataset(mixed_dir, frames_per_clip=4, frame_step=2)
    loader = DataLoader(dataset, batch_size=2, sampler=SeededSampler(len(dataset), seed=0), num_workers=2)
    assert sum(len(batch["skipped_files"]) for batch in loader) > 0  # read in workers too
    print("python's own stderr still works", file=sys.stderr)
    assert capfd.readouterr().err == "python's own stderr still works\n"


def test_skipped_files_are_distinct_and_named_once_over_workers(mixed_dir, capsys):
    dataset = VideoFolderDataset(mixed_dir, frames_per_clip=4, frame_step=2, transform=VideoTransform(16))
    loader = DataLoader(dataset, batch_size=2, sampler=SeededSampler(len(dataset), seed=3), num_workers=2,
                        collate_fn=MaskCollator(vjepa_masks((2, 8, 8))))
    skipped = SkippedFiles()
    for _ in range(3):  # three epochs: every worker meets every bad file, several times
        for batch in loader:
            skipped.add(batch)
    assert skipped.counts() == {"skipped_files": 4, "skipped_draws": skipped.draws} and skipped.draws > 4
    lines = capsys.readouterr().out.splitlines()
    assert sorted(Path(line.split(": ")[0].removeprefix("skipped ")).name for line in lines) == sorted(CORRUPT_VIDEOS)
    assert all(": unreadable (" in line for line in lines)


def test_skipped_files_gather_the_other_processes_files(monkeypatch, capsys):
    """At log steps every process shares the files it met since the last gather; the main one names the new."""
    from vjepa.data import video_dataset

    def all_gather_object(out, mine):  # rank 1 met b (new to rank 0) and a (known)
        out[:] = [mine, {"/v/b.mp4": "unreadable (bad)", "/v/a.mp4": "unreadable (bad)"}]

    monkeypatch.setattr(video_dataset.dist, "is_initialized", lambda: True)
    monkeypatch.setattr(video_dataset.dist, "get_world_size", lambda: 2)
    monkeypatch.setattr(video_dataset.dist, "all_gather_object", all_gather_object)
    skipped = SkippedFiles()
    skipped.add({"skipped": 3, "skipped_files": {"/v/a.mp4": "unreadable (bad)"}})
    assert skipped.counts() == {"skipped_files": 2, "skipped_draws": 3}
    assert capsys.readouterr().out.splitlines() == ["skipped /v/a.mp4: unreadable (bad)",
                                                    "skipped /v/b.mp4: unreadable (bad)"]


def test_clip_batches_leave_out_and_name_each_unreadable_file_once(mixed_dir, capsys):
    dataset = VideoFolderDataset(mixed_dir, frames_per_clip=4, frame_step=2, transform=VideoTransform(16),
                                 random_start=False)
    indices = [i for batch_indices, _ in clip_batches(dataset, 3) for i in batch_indices]
    assert [dataset.paths[i].name for i in indices] == ["a.mp4", "m.mp4", "z.mp4"]
    out = capsys.readouterr().out
    assert all(out.count(f"{mixed_dir / name}:") == 1 for name in CORRUPT_VIDEOS), out


def test_sampler_repeats_indices_to_fill_batches():
    sampler = SeededSampler(3, seed=0, rank=1, world_size=2)
    assert len(sampler) == 1
    sampler.repeat_to(4)  # 3 videos, 2 ranks of 4: 3 passes, 9 positions, 4 each
    assert sampler.repeats == 3 and len(sampler) == 4
    keys = list(sampler)
    assert len({seed for _, seed in keys}) == 4  # every repeat its own seed: another clip
    single = SeededSampler(3, seed=0)
    single.repeat_to(4)
    indices = [index for index, _ in single]
    assert len(indices) == 6 and sorted(indices[:3]) == sorted(indices[3:]) == [0, 1, 2]  # pass after pass
    unrepeated = SeededSampler(10, seed=0)
    before = list(unrepeated)
    unrepeated.repeat_to(4)  # one pass gives a batch already: the epoch stays as it was
    assert unrepeated.repeats == 1 and list(unrepeated) == before


def test_folder_of_fewer_videos_than_a_batch_fills_batches(shapes_dir):
    """3 videos, batch_size 4: each epoch draws several clips per video; resume at any batch is exact."""
    subset = shapes_dir / "three.txt"
    subset.write_text("".join(f"video_{i:05d}.mp4\n" for i in range(3)))
    dataset = VideoFolderDataset(subset, frames_per_clip=4, frame_step=2, transform=VideoTransform(16))
    cfg = OmegaConf.create({"batch_size": 4, "num_workers": 0})
    collate = MaskCollator(vjepa_masks((2, 8, 8)))
    batches = Batches(dataset, SeededSampler(len(dataset), seed=0), cfg, collate, torch.device("cpu"))
    stream = batches.from_batch(0)
    first = [next(stream) for _ in range(4)]
    assert all(batch["clips"].shape == (4, 3, 4, 16, 16) for batch in first)
    assert {int(i) for batch in first for i in batch["index"]} == {0, 1, 2}
    resumed = Batches(dataset, SeededSampler(len(dataset), seed=0), cfg, collate, torch.device("cpu")).from_batch(3)
    assert torch.equal(next(resumed)["clips"], first[3]["clips"])


def test_fixed_samples_fewer_than_a_batch_are_refused_with_the_fix():
    cfg = OmegaConf.create({"batch_size": 8, "num_workers": 0})
    fixed = torch.utils.data.TensorDataset(torch.arange(5))  # no random_clips: repeats would be duplicates
    with pytest.raises(ValueError, match="lower batch_size to 5 or less, or give it more data"):
        Batches(fixed, SeededSampler(5, seed=0), cfg, None, torch.device("cpu"))
    with pytest.raises(ValueError, match="run on at most 1 processes"):
        Batches(torch.utils.data.TensorDataset(torch.arange(1)), SeededSampler(1, seed=0, rank=0, world_size=2), cfg,
                None, torch.device("cpu"))
