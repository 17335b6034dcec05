"""Datasets of clips from a folder or a list file, robust to unreadable files.

`ClipFolderDataset` holds what the video and image datasets share: finding files, a readability probe, and
replacing an unreadable file by another, deterministically, so that a run never dies on one bad file. Each sample
names the files it skipped; `SkippedFiles`, in the process that consumes the samples, names each file once.
"""

from __future__ import annotations

import csv
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import Dataset
from torch.utils.data._utils.collate import default_collate_fn_map
from tqdm import tqdm

from vjepa.data.decoders import Backend, DecodeError, open_video

VIDEO_EXTENSIONS = ("mp4", "avi", "mkv", "webm", "mov")

Key = int | tuple[int, int]  # index, or (index, sample_seed) from SeededSampler
ShortVideo = Literal["pad", "stretch", "skip"]
SHORT_VIDEO_MODES: tuple[ShortVideo, ...] = ("pad", "stretch", "skip")
ClipTransform = Callable[[np.ndarray, torch.Generator], torch.Tensor]


def list_files(root: str | Path, extensions: Sequence[str]) -> list[Path]:
    """Files with `extensions` under a directory (recursive, sorted), or the paths listed in a .csv / .txt file."""
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"dataset root {root} does not exist")
    if root.is_dir():
        suffixes = {"." + ext.lower().lstrip(".") for ext in extensions}
        return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)
    if root.suffix.lower() in (".csv", ".txt"):
        return _read_list(root)
    raise ValueError(f"dataset root {root} is neither a directory nor a .csv / .txt list of files")


def _read_list(list_file: Path) -> list[Path]:
    """One path per line, relative to the list's folder unless absolute. A csv may start with a header row
    naming a `path` (or `file`, as in the synthetic labels.csv) column; otherwise its first column is the path."""
    with open(list_file, newline="") as f:
        rows = list(csv.reader(f)) if list_file.suffix.lower() == ".csv" else [[line] for line in f]
    rows = [[cell.strip() for cell in row] for row in rows if row and row[0].strip()]
    header = rows[0] if rows else []
    column = next((header.index(name) for name in ("path", "file") if name in header), None)
    if column is not None:
        rows = rows[1:]
    return [list_file.parent / row[column or 0] for row in rows]


class SkipFile(Exception):
    """Raised by `_read` for a readable file that cannot serve a sample (e.g. a video shorter than one clip)."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


class SkippedPaths(dict[str, str]):
    """path -> reason, for the files a sample skipped; torch's `default_collate` merges a batch's into one."""

    @classmethod
    def merged(cls, parts: Iterable[Mapping[str, str]]) -> SkippedPaths:
        out = cls()
        for part in parts:
            out.update(part)
        return out


def _collate_skipped_paths(batch: Sequence[SkippedPaths], *, collate_fn_map: Any = None) -> SkippedPaths:
    return SkippedPaths.merged(batch)


default_collate_fn_map[SkippedPaths] = _collate_skipped_paths  # torch's documented extension point


class ClipFolderDataset(Dataset, ABC):
    """Base of the folder datasets: `__getitem__(key)` -> {"clip", "index", "seed", "skipped", "skipped_files"}.

    A file that cannot serve a sample is remembered (per worker) and replaced by a random other index; the sample
    counts the draws that failed (``skipped``) and names the files they drew (``skipped_files``: path -> reason),
    for its consumer to report (`SkippedFiles`): the dataset itself prints nothing, as it may run in several
    DataLoader workers at once. Every attempt draws the same numbers from a generator seeded with the sample seed
    (a replacement index after the first, then a seed for the clip's own randomness: start frame, crop, flip), so
    the file read and its clip depend only on the key, never on which worker already knew a file was bad.
    """

    kind = "files"  # for messages: "videos", "images"

    def __init__(
        self,
        root: str | Path,
        extensions: Sequence[str],
        transform: ClipTransform | None,
        max_resample: int,
    ):
        self.root, self.transform, self.max_resample = Path(root), transform, max_resample
        self.paths = list_files(root, extensions)
        if not self.paths:
            raise ValueError(f"no {self.kind} found in {self.root} (extensions: {', '.join(extensions)})")
        self._unusable: dict[int, str] = {}  # index -> reason, worker-local
        self._probe()

    @abstractmethod
    def _read(self, path: Path, generator: torch.Generator) -> np.ndarray:
        """One uint8 clip (T, H, W, C) from `path`; raises DecodeError or SkipFile."""

    def _probe(self) -> None:
        """Read one sample from each file in turn until one succeeds; ValueError naming the folder if none does."""
        failures = []
        for path in self.paths:
            try:
                self._read(path, torch.Generator().manual_seed(0))
            except (DecodeError, SkipFile) as e:
                failures.append(f"{path}: {e.reason}")
            else:
                return
        raise ValueError(f"no readable {self.kind} in {self.root} ({len(failures)} tried; first: {failures[0]})")

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def random_clips(self) -> bool:
        """Whether a key's seed changes its clip (here: a training transform's random crop and flip), so that one
        file can serve several different samples in an epoch (`SeededSampler.repeat_to`)."""
        return bool(getattr(self.transform, "train", False))

    def _try_read(self, index: int, generator: torch.Generator) -> np.ndarray | None:
        """The file's clip, or None for a file that cannot serve one (its reason kept in ``_unusable``)."""
        if index in self._unusable:
            return None
        try:
            return self._read(self.paths[index], generator)
        except DecodeError as e:
            self._unusable[index] = f"unreadable ({e.reason})"
        except SkipFile as e:
            self._unusable[index] = e.reason
        return None

    def __getitem__(self, key: Key) -> dict[str, Any]:
        index, seed = (int(key[0]), int(key[1])) if isinstance(key, (tuple, list)) else (int(key), int(key))
        rng = torch.Generator().manual_seed(seed)
        skipped_files = SkippedPaths()
        for failed_draws in range(self.max_resample + 1):
            if failed_draws:
                index = int(torch.randint(len(self), (), generator=rng))
            clip_rng = torch.Generator().manual_seed(int(torch.randint(2**62, (), generator=rng)))
            clip = self._try_read(index, clip_rng)
            if clip is not None:
                clip = self.transform(clip, clip_rng) if self.transform else torch.from_numpy(clip)
                return {"clip": clip, "index": index, "seed": seed, "skipped": failed_draws,
                        "skipped_files": skipped_files}
            skipped_files[str(self.paths[index])] = self._unusable[index]
        raise RuntimeError(
            f"gave up on key {key} after {self.max_resample} replacements in {self.root}; "
            f"last tried {self.paths[index]}: {self._unusable[index]}"
        )


class VideoFolderDataset(ClipFolderDataset):
    """Clips of `frames_per_clip` frames, `frame_step` apart, from a random start in each video.

    A video shorter than one clip (`short_video`): "pad" reads it from the first frame at `frame_step` and
    repeats its last frame for the rest; "stretch" first lowers the step for it to the largest that fits the clip
    (down to 1, then pads); "skip" replaces it by another video. Time only moves forward within a clip. With
    `random_start=False` every clip starts at the first frame (feature extraction, probes); with `segments` = S > 1
    as well, S clips evenly spaced over the video are read one after the other, (C, S * frames_per_clip, H, W), for
    evaluations that encode each segment apart (V-JEPA's multi-clip probe).
    """

    kind = "videos"

    def __init__(
        self,
        root: str | Path,
        frames_per_clip: int = 16,
        frame_step: int = 4,
        transform: ClipTransform | None = None,
        backend: Backend = "auto",
        short_video: ShortVideo = "pad",
        max_resample: int = 20,
        extensions: Sequence[str] = VIDEO_EXTENSIONS,
        random_start: bool = True,
        segments: int = 1,
    ):
        if short_video not in SHORT_VIDEO_MODES:
            removed = " ('loop' is gone: it ran time backwards; 'pad' is the default)" if short_video == "loop" else ""
            raise ValueError(f"short_video must be one of {', '.join(SHORT_VIDEO_MODES)}, got {short_video!r}{removed}")
        if segments < 1 or (segments > 1 and random_start):
            raise ValueError(f"segments must be >= 1, and 1 with random_start (evaluation only), got {segments}")
        self.frames_per_clip, self.frame_step, self.segments = frames_per_clip, frame_step, segments
        self.backend, self.short_video, self.random_start = backend, short_video, random_start
        super().__init__(root, extensions, transform, max_resample)

    @property
    def random_clips(self) -> bool:
        return self.random_start or super().random_clips

    def _read(self, path: Path, generator: torch.Generator) -> np.ndarray:
        with open_video(path, self.backend) as video:
            return video.get_frames(self.frame_indices(len(video), generator))

    def frame_indices(self, num_frames: int, generator: torch.Generator) -> np.ndarray:
        """Indices of one clip in a video of `num_frames` frames, never decreasing: random start, or from 0 for a
        short video (`short_video`); with `segments`, those of each segment's clip, starts evenly spaced from the
        first frame to the last start."""
        step = self.frame_step
        if self.short_video == "stretch" and self.frames_per_clip > 1:  # the largest step <= frame_step that fits
            step = max(1, min(step, (num_frames - 1) // (self.frames_per_clip - 1)))
        offsets = np.arange(self.frames_per_clip) * step
        span = int(offsets[-1]) + 1
        if num_frames >= span:
            if self.segments > 1:
                starts = np.linspace(0, num_frames - span, self.segments).round().astype(int)
                return (starts[:, None] + offsets).reshape(-1)
            start = int(torch.randint(num_frames - span + 1, (), generator=generator)) if self.random_start else 0
            return offsets + start
        if self.short_video == "skip":
            raise SkipFile(f"too short: {num_frames} frames, fewer than the {span} one clip spans")
        return np.tile(np.minimum(offsets, num_frames - 1), self.segments)  # padded with the last frame


class SkippedFiles:
    """The distinct files a run skipped, from its samples' or batches' ``skipped_files``; each is named once in
    the terminal when first met (``announce``: on the main process only). ``draws`` counts the failed draws that
    this process's samples replaced (a file drawn ten times counts ten)."""

    def __init__(self, announce: bool = True):
        self.announce = announce
        self.reasons: dict[str, str] = {}  # path -> why it was skipped
        self.draws = 0
        self._unshared: dict[str, str] = {}  # met here since the last `gather`

    def add(self, record: Mapping[str, Any]) -> None:
        """Take in a sample's or a batch's ``skipped`` (failed draws) and ``skipped_files`` (path -> reason)."""
        self.draws += int(record["skipped"])
        for path, reason in record["skipped_files"].items():
            if self._note(path, reason):
                self._unshared[path] = reason

    def _note(self, path: str, reason: str) -> bool:
        """Record a file; True (and named, when announcing) if it is new."""
        if path in self.reasons:
            return False
        self.reasons[path] = reason
        if self.announce:
            tqdm.write(f"skipped {path}: {reason}")
        return True

    def gather(self) -> None:
        """Under torch.distributed, take in the files every other process met since the last call (a
        collective: every process calls it at the same steps); nothing in a single process."""
        if dist.is_available() and dist.is_initialized():
            everyone: list[dict[str, str] | None] = [None] * dist.get_world_size()
            dist.all_gather_object(everyone, self._unshared)
            for reasons in everyone:
                for path, reason in (reasons or {}).items():
                    self._note(path, reason)
        self._unshared = {}

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint keeps, so that a resumed run counts (and names) each file once over the whole run: the
        files this process knows (under torch.distributed, the others' as of the last `counts`)."""
        return {"files": dict(self.reasons), "draws": self.draws}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue from a checkpoint's `state_dict`: its files are known (not named again), its draws counted."""
        self.reasons.update(state["files"])
        self.draws += int(state["draws"])

    def counts(self) -> dict[str, int]:
        """``skipped_files``: distinct files, over all processes (gathered first); ``skipped_draws``: this
        process's failed draws."""
        self.gather()
        return {"skipped_files": len(self.reasons), "skipped_draws": self.draws}
