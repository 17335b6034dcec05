"""Read LeRobot datasets (v2.x and v3.0 on-disk layouts) as project episodes.

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

"""

from __future__ import annotations

import json
from collections import OrderedDict
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from vjepa.data.decoders import open_video
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


__all__ = [
    "LeRobotEpisodes",
    "LeRobotFormatError",
    "SUPPORTED_VERSIONS",
]
