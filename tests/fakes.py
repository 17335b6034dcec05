"""Generated data for the tests: a tiny LeRobot dataset whose every frame shows its episode index and frame index
as binary stripes (`read_fake_frame_code` reads them back, so a test can check which frame was decoded), and one
file of each broken kind the loaders must survive (`make_corrupt_files`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import av
import numpy as np
from PIL import Image

from vjepa.data.decoders import write_video
from vjepa.data.lerobot import SUPPORTED_VERSIONS

FAKE_BITS = 8  # stripes per code row: frame and episode indices up to 255


def _fake_frame(episode: int, t: int, height: int, width: int) -> np.ndarray:
    """Top half: bits of t (MSB first) as black/white vertical stripes; bottom half: bits of episode."""
    img = np.zeros((height, width, 3), np.uint8)
    sw = width // FAKE_BITS
    for row, value in ((0, t), (1, episode)):
        y0, y1 = row * (height // 2), (row + 1) * (height // 2)
        for b in range(FAKE_BITS):
            if (value >> (FAKE_BITS - 1 - b)) & 1:
                img[y0:y1, b * sw : (b + 1) * sw] = 255
    return img


def _camera_view(frames: np.ndarray, camera: int) -> np.ndarray:
    """What fake camera number ``camera`` records: the code with its dark stripes at gray level 40 * (camera % 3),
    so that every camera's video differs and reads as the same code."""
    return np.maximum(frames, np.uint8(40 * (camera % 3)))


def read_fake_frame_code(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Decode frames of a fake dataset, uint8 (T, H, W, 3) -> (episode indices (T,), frame indices (T,))."""
    frames = np.asarray(frames)
    if frames.ndim == 3:
        frames = frames[None]
    _, h, w, _ = frames.shape
    sw = w // FAKE_BITS
    out = []
    for row in (1, 0):
        yc = row * (h // 2) + h // 4
        ys = slice(max(yc - h // 8, 0), yc + max(h // 8, 1))
        value = np.zeros(len(frames), np.int64)
        for b in range(FAKE_BITS):
            xc = b * sw + sw // 2
            cell = frames[:, ys, max(xc - sw // 4, 0) : xc + max(sw // 4, 1)].astype(np.float32)
            bit = cell.mean(axis=(1, 2, 3)) > 127.5
            value = value * 2 + bit
        out.append(value)
    return out[0], out[1]


def _feature(dtype: str, shape: Sequence[int], names: Any = None) -> dict[str, Any]:
    return {"dtype": dtype, "shape": list(shape), "names": names}


def write_fake_lerobot_dataset(
    root: str | Path,
    num_episodes: int = 3,
    length: int | Sequence[int] = 12,
    image_size: int | tuple[int, int] = 32,
    fps: int = 10,
    version: str = "v2.1",
    seed: int = 0,
    action_dim: int = 3,
    state_dim: int = 4,
    cameras: Sequence[str] = ("observation.images.front",),
    chunks_size: int = 1000,
    episodes_per_file: int = 2,
) -> Path:
    """Write a tiny valid LeRobot dataset (fixture generator for tests and examples); returns ``root``.

    Every frame shows its episode index and frame index as binary stripes (``read_fake_frame_code`` decodes them;
    each camera draws the dark ones in a gray of its own);
    ``observation.state`` has the frame index in column 0 and the episode index in column 1, the rest random;
    ``action`` is random normal. ``length`` may be one length or one per episode (< 256 each). In v3.0, every
    ``episodes_per_file`` consecutive episodes share one data parquet and one mp4 per camera.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    if version not in SUPPORTED_VERSIONS:
        raise ValueError(f"version {version!r} not supported; use one of {SUPPORTED_VERSIONS}")
    root = Path(root)
    h, w = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    if w < 2 * FAKE_BITS or h < 4:
        raise ValueError(
            f"image_size {(h, w)} too small to draw {FAKE_BITS} stripes (need W >= {2 * FAKE_BITS}, H >= 4)"
        )
    lengths = [int(length)] * num_episodes if isinstance(length, (int, np.integer)) else [int(x) for x in length]
    if len(lengths) != num_episodes:
        raise ValueError(f"{len(lengths)} lengths given for {num_episodes} episodes")
    if min(lengths) < 1 or max(lengths) >= 2**FAKE_BITS:
        raise ValueError(f"episode lengths must be in [1, {2 ** FAKE_BITS - 1}], got {lengths}")
    rng = np.random.default_rng(seed)
    v2 = version.startswith("v2")
    (root / "meta").mkdir(parents=True, exist_ok=True)

    features: dict[str, Any] = {}
    for cam in cameras:
        features[cam] = _feature("video", [h, w, 3], ["height", "width", "channels"])
        features[cam]["info"] = {
            "video.fps": float(fps), "video.height": h, "video.width": w, "video.channels": 3,
            "video.codec": "h264", "video.pix_fmt": "yuv420p", "video.is_depth_map": False, "has_audio": False,
        }
    features["observation.state"] = _feature("float32", [state_dim], [f"s{i}" for i in range(state_dim)])
    features["action"] = _feature("float32", [action_dim], [f"a{i}" for i in range(action_dim)])
    for key, dtype in (("timestamp", "float32"), ("frame_index", "int64"), ("episode_index", "int64"),
                       ("index", "int64"), ("task_index", "int64")):
        features[key] = _feature(dtype, [1])

    # per-episode content
    episodes = []
    offset = 0
    for e, n in enumerate(lengths):
        states = rng.normal(size=(n, state_dim)).astype(np.float32)
        states[:, 0] = np.arange(n)
        if state_dim > 1:
            states[:, 1] = e
        episodes.append(
            {
                "frames": np.stack([_fake_frame(e, t, h, w) for t in range(n)]),
                "actions": rng.normal(size=(n, action_dim)).astype(np.float32),
                "states": states,
                "timestamp": (np.arange(n) / fps).astype(np.float32),
                "index": np.arange(offset, offset + n),
            }
        )
        offset += n

    def data_table(eps: Sequence[int]) -> Any:
        cols = {
            "observation.state": [r.tolist() for e in eps for r in episodes[e]["states"]],
            "action": [r.tolist() for e in eps for r in episodes[e]["actions"]],
            "timestamp": np.concatenate([episodes[e]["timestamp"] for e in eps]),
            "frame_index": np.concatenate([np.arange(lengths[e]) for e in eps]).astype(np.int64),
            "episode_index": np.concatenate([np.full(lengths[e], e) for e in eps]).astype(np.int64),
            "index": np.concatenate([episodes[e]["index"] for e in eps]).astype(np.int64),
            "task_index": np.zeros(sum(lengths[e] for e in eps), np.int64),
        }
        schema = pa.schema(
            [("observation.state", pa.list_(pa.float32())), ("action", pa.list_(pa.float32())),
             ("timestamp", pa.float32()), ("frame_index", pa.int64()), ("episode_index", pa.int64()),
             ("index", pa.int64()), ("task_index", pa.int64())]
        )
        return pa.table(cols, schema=schema)

    def stats(x: np.ndarray) -> dict[str, Any]:
        x = x.reshape(len(x), -1).astype(np.float64)
        return {"min": x.min(0).tolist(), "max": x.max(0).tolist(), "mean": x.mean(0).tolist(),
                "std": x.std(0).tolist(), "count": [len(x)]}

    task = "do the fake task"
    info: dict[str, Any] = {
        "codebase_version": version,
        "robot_type": "fake",
        "total_episodes": num_episodes,
        "total_frames": int(sum(lengths)),
        "total_tasks": 1,
        "chunks_size": chunks_size,
        "fps": fps,
        "splits": {"train": f"0:{num_episodes}"},
        "features": features,
    }
    if v2:
        info.update(
            total_videos=num_episodes * len(cameras),
            total_chunks=(num_episodes + chunks_size - 1) // chunks_size,
            data_path="data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet",
            video_path="videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4",
        )
        ep_lines, stat_lines = [], []
        for e, n in enumerate(lengths):
            fmt = {"episode_chunk": e // chunks_size, "episode_index": e}
            path = root / info["data_path"].format(**fmt)
            path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(data_table([e]), path)
            for c, cam in enumerate(cameras):
                vpath = root / info["video_path"].format(video_key=cam, **fmt)
                vpath.parent.mkdir(parents=True, exist_ok=True)
                write_video(vpath, _camera_view(episodes[e]["frames"], c), fps)
            ep_lines.append(json.dumps({"episode_index": e, "tasks": [task], "length": n}))
            ep_stats = {"action": stats(episodes[e]["actions"]), "observation.state": stats(episodes[e]["states"])}
            stat_lines.append(json.dumps({"episode_index": e, "stats": ep_stats}))
        (root / "meta" / "episodes.jsonl").write_text("\n".join(ep_lines) + "\n")
        (root / "meta" / "tasks.jsonl").write_text(json.dumps({"task_index": 0, "task": task}) + "\n")
        if version == "v2.1":
            (root / "meta" / "episodes_stats.jsonl").write_text("\n".join(stat_lines) + "\n")
    else:
        info.update(
            data_files_size_in_mb=100,
            video_files_size_in_mb=500,
            data_path="data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet",
            video_path="videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4",
        )
        per_file = max(1, int(episodes_per_file))
        groups = [list(range(s, min(s + per_file, num_episodes))) for s in range(0, num_episodes, per_file)]
        ep_rows: dict[str, list[Any]] = {}

        def add(key: str, value: Any) -> None:
            ep_rows.setdefault(key, []).append(value)

        for g, eps in enumerate(groups):
            chunk, file = g // chunks_size, g % chunks_size
            fmt = {"chunk_index": chunk, "file_index": file}
            path = root / info["data_path"].format(**fmt)
            path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(data_table(eps), path)
            for c, cam in enumerate(cameras):
                vpath = root / info["video_path"].format(video_key=cam, **fmt)
                vpath.parent.mkdir(parents=True, exist_ok=True)
                write_video(vpath, _camera_view(np.concatenate([episodes[e]["frames"] for e in eps]), c), fps)
            start = 0
            for e in eps:
                n = lengths[e]
                add("episode_index", e)
                add("tasks", [task])
                add("length", n)
                add("data/chunk_index", chunk)
                add("data/file_index", file)
                add("dataset_from_index", int(episodes[e]["index"][0]))
                add("dataset_to_index", int(episodes[e]["index"][-1]) + 1)
                for cam in cameras:
                    add(f"videos/{cam}/chunk_index", chunk)
                    add(f"videos/{cam}/file_index", file)
                    add(f"videos/{cam}/from_timestamp", start / fps)
                    add(f"videos/{cam}/to_timestamp", (start + n) / fps)
                add("meta/episodes/chunk_index", 0)
                add("meta/episodes/file_index", 0)
                start += n
        mpath = root / "meta" / "episodes" / "chunk-000" / "file-000.parquet"
        mpath.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table(ep_rows), mpath)
        pq.write_table(pa.table({"task_index": [0], "task": [task]}), root / "meta" / "tasks.parquet")
        all_actions = np.concatenate([ep["actions"] for ep in episodes])
        all_states = np.concatenate([ep["states"] for ep in episodes])
        (root / "meta" / "stats.json").write_text(
            json.dumps({"action": stats(all_actions), "observation.state": stats(all_states)}, indent=2)
        )
    (root / "meta" / "info.json").write_text(json.dumps(info, indent=4))
    return root


def make_corrupt_files(out_dir: str | Path) -> list[Path]:
    """Write one file of each broken kind the loaders must survive; returns their paths.

    Videos: truncated.mp4 (index intact, cut inside the first frame: opens, then fails to decode),
    random_bytes.mp4, empty.mp4, audio_only.mp4 (a valid container without a video stream).
    Images: truncated.png (header intact, pixels cut), random_bytes.png.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (4, 64, 64, 3), dtype=np.uint8)

    mp4 = write_video(out / "truncated.mp4", noise, fps=8).read_bytes()  # faststart: index before frame data
    (out / "truncated.mp4").write_bytes(mp4[: mp4.index(b"mdat") + 64])
    (out / "random_bytes.mp4").write_bytes(rng.bytes(4096))
    (out / "empty.mp4").write_bytes(b"")
    with av.open(str(out / "audio_only.mp4"), "w") as container:
        stream = container.add_stream("aac", rate=8000)
        silence = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        silence.sample_rate = 8000
        container.mux(stream.encode(silence))
        container.mux(stream.encode())

    Image.fromarray(noise[0]).save(out / "truncated.png")
    png = (out / "truncated.png").read_bytes()
    (out / "truncated.png").write_bytes(png[: len(png) // 2])
    (out / "random_bytes.png").write_bytes(rng.bytes(4096))
    names = ("truncated.mp4", "random_bytes.mp4", "empty.mp4", "audio_only.mp4", "truncated.png", "random_bytes.png")
    return [out / name for name in names]
