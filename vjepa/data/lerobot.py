"""Read LeRobot datasets (v2.x and v3.0 on-disk layouts) as project episodes, and write tiny fake ones.

Layouts (detected from ``meta/info.json`` → ``codebase_version``):

- **v2.0 / v2.1**: one parquet and one mp4 per episode. ``meta/episodes.jsonl`` lists ``episode_index`` and
  ``length``; ``info.json`` holds the templates ``data_path`` (``data/chunk-{episode_chunk:03d}/
  episode_{episode_index:06d}.parquet``) and ``video_path`` (``videos/chunk-{episode_chunk:03d}/{video_key}/
  episode_{episode_index:06d}.mp4``), with ``episode_chunk = episode_index // chunks_size``.
- **v3.0**: several episodes per file. ``meta/episodes/chunk-*/file-*.parquet`` has one row per episode with
  ``data/chunk_index``, ``data/file_index``, ``dataset_from_index``, ``dataset_to_index`` and, per camera,
  ``videos/<key>/chunk_index``, ``videos/<key>/file_index``, ``videos/<key>/from_timestamp``; templates
  ``data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet`` and
  ``videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4``.

In both, every data row has a ``timestamp`` (seconds from the episode start); the camera frame of a row is the
video frame at ``from_timestamp + timestamp`` (``from_timestamp`` = 0 in v2), i.e. frame index
``round((from_timestamp + timestamp) * fps)`` of the video file.

``write_fake_lerobot_dataset`` is a fixture generator for tests: every frame shows its episode index and its
frame index as binary stripes (see ``read_fake_frame_code``), so a test can check which frame was decoded.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from vjepa.data.decoders import open_video, write_video
from vjepa.data.episodes import Episode
from vjepa.runtime.errors import DataError, MissingFileError

SUPPORTED_VERSIONS = ("v2.0", "v2.1", "v3.0")


class LeRobotFormatError(DataError):
    """A LeRobot dataset on disk does not have the layout or the keys asked for."""


def _load_info(root: Path) -> dict[str, Any]:
    path = root / "meta" / "info.json"
    if not path.is_file():
        raise MissingFileError(f"{path}: missing; not a LeRobot dataset (expected meta/info.json under {root})")
    try:
        info = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise LeRobotFormatError(f"{path}: not valid JSON ({e})") from e
    for key in ("codebase_version", "features", "fps"):
        if key not in info:
            raise LeRobotFormatError(f"{path}: no '{key}' entry")
    version = str(info["codebase_version"])
    if version not in SUPPORTED_VERSIONS:
        raise LeRobotFormatError(
            f"{path}: codebase_version {version!r} is not supported; supported: {', '.join(SUPPORTED_VERSIONS)}"
        )
    return info


def _key_list(key: str | Sequence[str] | None) -> list[str] | None:
    """A column key, or a list of them, as a list (None stays None)."""
    if key is None:
        return None
    return [key] if isinstance(key, str) else [str(k) for k in key]


def _column_2d(table: Any, key: str, path: Path) -> np.ndarray:
    """A parquet column of fixed-length lists (or scalars) -> float32 (rows, dim)."""
    import pyarrow as pa

    col = table.column(key).combine_chunks()
    n = len(col)
    if pa.types.is_list(col.type) or pa.types.is_large_list(col.type) or pa.types.is_fixed_size_list(col.type):
        if col.null_count:
            raise LeRobotFormatError(f"{path}: column '{key}' has null rows")
        values = np.asarray(col.flatten().to_numpy(zero_copy_only=False), dtype=np.float32)
        if n and values.size % n:
            raise LeRobotFormatError(f"{path}: column '{key}' has rows of different lengths")
        return values.reshape(n, -1 if n else 0)
    return np.asarray(col.to_numpy(zero_copy_only=False), dtype=np.float32).reshape(n, 1)


class LeRobotEpisodes:
    """A LeRobot dataset on local disk, with the interface of ``EpisodeDataset``.

    ``ds[i]`` is the ``Episode`` of the i-th episode (sorted by ``episode_index``): ``frames`` uint8 (T, H, W, 3)
    decoded from ``camera_key``'s video at the rows' timestamps, ``actions`` (T, A) and ``states`` (T, S) float32
    from the ``action_key`` / ``state_key`` columns (``None`` → zero-width arrays). A key may also be a list of
    columns, concatenated in that order: e.g. a 6-D end-effector pose column and a gripper column, kept apart as
    DROID keeps them, make the 7-D states of ``action_agg="pose_delta"``.
    """

    def __init__(
        self,
        root: str | Path,
        camera_key: str | None = None,
        state_key: str | Sequence[str] | None = "observation.state",
        action_key: str | Sequence[str] | None = "action",
        backend: str = "auto",
    ) -> None:
        self.root = Path(root)
        self.info = _load_info(self.root)
        self.version = str(self.info["codebase_version"])
        self.features: dict[str, dict[str, Any]] = self.info["features"]
        self.backend = backend
        self.fps = float(self.info["fps"])
        info_path = self.root / "meta" / "info.json"

        self.video_keys = [k for k, f in self.features.items() if f.get("dtype") == "video"]
        if camera_key is None:
            if not self.video_keys:
                image_keys = [k for k, f in self.features.items() if f.get("dtype") == "image"]
                raise LeRobotFormatError(
                    f"{info_path}: no video feature to read frames from (image features stored in parquet are "
                    f"not supported: {image_keys}); features: {sorted(self.features)}"
                )
            camera_key = self.video_keys[0]
        elif camera_key not in self.video_keys:
            what = "is not a video feature" if camera_key in self.features else "is not a feature"
            raise LeRobotFormatError(
                f"{info_path}: camera_key {camera_key!r} {what}; video features: {self.video_keys}"
            )
        state_key, action_key = _key_list(state_key), _key_list(action_key)
        for name, keys in (("state_key", state_key), ("action_key", action_key)):
            for key in keys or ():
                if key not in self.features:
                    raise LeRobotFormatError(
                        f"{info_path}: {name} {key!r} is not a feature; available features: {sorted(self.features)}"
                    )
        self.camera_key, self.state_key, self.action_key = camera_key, state_key, action_key
        cam_info = self.features[camera_key].get("info") or {}
        self.video_fps = float(cam_info.get("video.fps", self.fps))

        self._index = self._load_episode_index()
        self.episode_indices = np.array([r["episode_index"] for r in self._index], dtype=np.int64)
        self.lengths = np.array([r["length"] for r in self._index], dtype=np.int64)
        self._tables: OrderedDict[Path, Any] = OrderedDict()  # small cache of v3 data files

    # ----------------------------------------------------------------------------------------------- metadata
    def _dim(self, keys: list[str] | None) -> int:
        return sum(int(np.prod(self.features[key].get("shape", [1]))) for key in keys or ())

    @property
    def action_dim(self) -> int:
        return self._dim(self.action_key)

    @property
    def state_dim(self) -> int:
        return self._dim(self.state_key)

    @property
    def meta(self) -> dict[str, Any]:
        cam = self.features[self.camera_key]
        cam_info = cam.get("info") or {}
        shape = list(cam.get("shape", []))
        names = list(cam.get("names") or [])
        if "video.height" in cam_info:
            height, width = int(cam_info["video.height"]), int(cam_info["video.width"])
        elif "height" in names and "width" in names:
            height, width = int(shape[names.index("height")]), int(shape[names.index("width")])
        else:
            height = width = None
        return {
            "format": "lerobot",
            "root": str(self.root),
            "codebase_version": self.version,
            "fps": self.fps,
            "camera_key": self.camera_key,
            "state_key": self.state_key,
            "action_key": self.action_key,
            "action_dim": self.action_dim,
            "state_dim": self.state_dim,
            "image_size": (height, width),
            "robot_type": self.info.get("robot_type"),
            "num_episodes": len(self),
            "total_frames": int(self.lengths.sum()),
            "video_keys": list(self.video_keys),
        }

    def __len__(self) -> int:
        return len(self._index)

    def __repr__(self) -> str:
        return (
            f"LeRobotEpisodes({str(self.root)!r}, {self.version}, {len(self)} episodes, camera={self.camera_key!r}, "
            f"A={self.action_dim}, S={self.state_dim}, fps={self.fps:g})"
        )

    def _load_episode_index(self) -> list[dict[str, Any]]:
        if self.version.startswith("v2"):
            return self._load_index_v2()
        return self._load_index_v3()

    def _load_index_v2(self) -> list[dict[str, Any]]:
        path = self.root / "meta" / "episodes.jsonl"
        if not path.is_file():
            raise MissingFileError(f"{path}: missing (LeRobot {self.version} lists its episodes there)")
        chunks_size = int(self.info.get("chunks_size", 1000))
        rows = []
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                ep, length = int(rec["episode_index"]), int(rec["length"])
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
                raise LeRobotFormatError(f"{path}:{n}: bad episode record ({e!r})") from e
            fmt = {"episode_chunk": ep // chunks_size, "episode_index": ep, "video_key": self.camera_key}
            rows.append(
                {
                    "episode_index": ep,
                    "length": length,
                    "data": self.root / self.info["data_path"].format(**fmt),
                    "video": self.root / self.info["video_path"].format(**fmt),
                    "from_timestamp": 0.0,
                    "tasks": rec.get("tasks"),
                }
            )
        return sorted(rows, key=lambda r: r["episode_index"])

    def _load_index_v3(self) -> list[dict[str, Any]]:
        import pyarrow.parquet as pq

        files = sorted((self.root / "meta" / "episodes").glob("chunk-*/file-*.parquet"))
        if not files:
            raise MissingFileError(
                f"{self.root / 'meta' / 'episodes'}: no chunk-*/file-*.parquet (LeRobot v3.0 episode metadata)"
            )
        v = f"videos/{self.camera_key}/"
        cols = ["episode_index", "length", "data/chunk_index", "data/file_index"]
        cols += [v + "chunk_index", v + "file_index", v + "from_timestamp"]
        rows = []
        for f in files:
            schema_names = pq.read_schema(f).names
            missing = [c for c in cols if c not in schema_names]
            if missing:
                raise LeRobotFormatError(f"{f}: episode metadata lacks columns {missing}")
            extra = [c for c in ("tasks",) if c in schema_names]
            table = pq.read_table(f, columns=cols + extra).to_pydict()
            for i in range(len(table["episode_index"])):
                data_fmt = {
                    "chunk_index": int(table["data/chunk_index"][i]),
                    "file_index": int(table["data/file_index"][i]),
                }
                video_fmt = {
                    "chunk_index": int(table[v + "chunk_index"][i]),
                    "file_index": int(table[v + "file_index"][i]),
                    "video_key": self.camera_key,
                }
                rows.append(
                    {
                        "episode_index": int(table["episode_index"][i]),
                        "length": int(table["length"][i]),
                        "data": self.root / self.info["data_path"].format(**data_fmt),
                        "video": self.root / self.info["video_path"].format(**video_fmt),
                        "from_timestamp": float(table[v + "from_timestamp"][i]),
                        "tasks": table["tasks"][i] if extra else None,
                    }
                )
        return sorted(rows, key=lambda r: r["episode_index"])

    @property
    def frame_source(self) -> dict[str, Any]:
        """What picks the frames (a feature cache's key): the camera, and its frame rate, by which a row's timestamp
        becomes a video frame."""
        return {"format": "lerobot", "camera_key": self.camera_key, "video_fps": self.video_fps}

    def frame_files(self, i: int) -> list[Path]:
        """The files episode i's frames are read from: the camera's video and the parquet whose timestamps pick
        them (in v3.0 both shared with other episodes)."""
        rec = self._index[self._position(i)]
        return [rec["video"], rec["data"]]

    # -------------------------------------------------------------------------------------------- loading
    def _position(self, i: int) -> int:
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"episode {i} out of range for {n} episodes in {self.root}")
        return i % n

    def _read_rows(self, i: int) -> dict[str, np.ndarray]:
        """Parquet rows of episode position i: timestamp (T,), actions (T, A), states (T, S)."""
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        rec = self._index[i]
        path: Path = rec["data"]
        if not path.is_file():
            raise MissingFileError(f"{path}: parquet of episode {rec['episode_index']} is missing")
        keys = [k for group in (self.action_key, self.state_key) for k in group or ()]
        wanted = list(dict.fromkeys(keys + ["timestamp", "frame_index", "episode_index"]))
        names = pq.read_schema(path).names
        missing = [k for k in keys + ["timestamp"] if k not in names]
        if missing:
            raise LeRobotFormatError(f"{path}: no column(s) {missing}; columns: {names}")
        cols = [k for k in wanted if k in names]
        if self.version.startswith("v2"):
            table = pq.read_table(path, columns=cols)
        else:
            if "episode_index" not in names:
                raise LeRobotFormatError(f"{path}: no 'episode_index' column; columns: {names}")
            whole = self._tables.get(path)
            if whole is None:
                whole = pq.read_table(path, columns=cols)
                self._tables[path] = whole
                while len(self._tables) > 2:
                    self._tables.popitem(last=False)
            else:
                self._tables.move_to_end(path)
            table = whole.filter(pc.equal(whole.column("episode_index"), rec["episode_index"]))
        if table.num_rows == 0:
            raise LeRobotFormatError(f"{path}: no rows for episode {rec['episode_index']}")
        if "frame_index" in table.column_names:
            order = np.argsort(np.asarray(table.column("frame_index").to_numpy()), kind="stable")
            if np.any(order != np.arange(len(order))):
                table = table.take(order)
        n = table.num_rows
        out = {"timestamp": np.asarray(table.column("timestamp").to_numpy(), dtype=np.float64)}
        wanted_dims = (("actions", self.action_key, self.action_dim), ("states", self.state_key, self.state_dim))
        for name, group, dim in wanted_dims:
            columns = [_column_2d(table, key, path) for key in group or ()]
            out[name] = np.concatenate(columns, axis=1) if columns else np.zeros((n, 0), np.float32)
            if out[name].shape[1] != dim:
                raise LeRobotFormatError(
                    f"{path}: column(s) {group} have width {out[name].shape[1]}, info.json says {dim}"
                )
        return out

    def _frame_indices(self, i: int, timestamps: np.ndarray) -> np.ndarray:
        rec = self._index[i]
        return np.round((rec["from_timestamp"] + timestamps) * self.video_fps).astype(np.int64)

    def _decode(self, i: int, frame_idx: np.ndarray, timestamps: np.ndarray) -> np.ndarray:
        rec = self._index[i]
        path: Path = rec["video"]
        if not path.is_file():
            raise MissingFileError(f"{path}: video of episode {rec['episode_index']} ({self.camera_key}) is missing")
        reader = open_video(path, backend=self.backend)
        try:
            n = len(reader)
            if len(frame_idx) and (frame_idx.min() < 0 or frame_idx.max() >= n):
                bad = int(np.argmax((frame_idx < 0) | (frame_idx >= n)))
                raise LeRobotFormatError(
                    f"{path}: video has {n} frames ({n / self.video_fps:.3f} s at {self.video_fps:g} fps) but episode "
                    f"{rec['episode_index']} needs frame {int(frame_idx[bad])} (timestamp {timestamps[bad]:.4f} s + "
                    f"from_timestamp {rec['from_timestamp']:.4f} s): video shorter than the timestamps"
                )
            frames = np.asarray(reader.get_frames(frame_idx.tolist()))
        finally:
            close = getattr(reader, "close", None)
            if close is not None:
                close()
        return frames

    def lowdim(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """(actions (T, A), states (T, S)) of episode i, read from parquet only (no video decoding)."""
        rows = self._read_rows(self._position(i))
        return rows["actions"], rows["states"]

    def get_frames(self, i: int, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """Only the frames at the given step indices of episode i: uint8 (len(indices), H, W, 3)."""
        i = self._position(i)
        rows = self._read_rows(i)
        idx = np.asarray(indices, dtype=np.int64)
        t = len(rows["timestamp"])
        if len(idx) and (idx.min() < -t or idx.max() >= t):
            raise IndexError(
                f"step indices {idx.tolist()} out of range for episode {self._index[i]['episode_index']} of length {t}"
            )
        ts = rows["timestamp"][idx]
        return self._decode(i, self._frame_indices(i, ts), ts)

    def __getitem__(self, i: int) -> Episode:
        i = self._position(i)
        rec = self._index[i]
        rows = self._read_rows(i)
        frames = self._decode(i, self._frame_indices(i, rows["timestamp"]), rows["timestamp"])
        meta = {
            "source": "lerobot",
            "root": str(self.root),
            "episode_index": rec["episode_index"],
            "camera_key": self.camera_key,
            "fps": self.fps,
            "video": str(rec["video"]),
            "data": str(rec["data"]),
        }
        if rec.get("tasks") is not None:
            meta["tasks"] = rec["tasks"]
        return Episode(frames=frames, actions=rows["actions"], states=rows["states"], meta=meta)

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]


# --------------------------------------------------------------------------------------------- fake datasets
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


__all__ = [
    "LeRobotEpisodes",
    "LeRobotFormatError",
    "SUPPORTED_VERSIONS",
    "read_fake_frame_code",
    "write_fake_lerobot_dataset",
]
