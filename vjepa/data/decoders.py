"""Video decoding behind one interface: decord when it can, PyAV when it cannot.

decord is several times faster on small clips but cannot open AV1 (LeRobot's codec), so ``backend="auto"`` tries
decord and falls back to PyAV per file; a file is broken only when both fail. Every failure, whatever the
decoder raised, surfaces as a `VideoDecodeError` that names the file. Neither decoder writes to the terminal: PyAV's
log level is lowered, and what decord's native code prints when it cannot open a file (past Python's
``sys.stderr``, on file descriptor 2) is captured and becomes the error's reason.
"""

from __future__ import annotations

import functools
import os
import re
import sys
import tempfile
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path
from types import ModuleType
from typing import IO, Any, Literal

import av
import numpy as np

Backend = Literal["auto", "decord", "pyav"]


class DecodeError(RuntimeError):
    """A media file that cannot be decoded; the message names the file."""

    def __init__(self, path: str | Path, reason: str):
        self.path, self.reason = Path(path), reason
        super().__init__(f"cannot decode {self.path}: {reason}")

    def __reduce__(self):  # keep (path, reason) across DataLoader worker pickling
        return type(self), (self.path, self.reason)


class VideoDecodeError(DecodeError):
    """A video that no backend could open or decode."""


@contextmanager
def wrap_decode_errors(path: str | Path, error_type: type[DecodeError] = VideoDecodeError) -> Iterator[None]:
    """Turn whatever a decoder raises (RuntimeError, DECORDError, av.FFmpegError, ...) into `error_type`."""
    try:
        yield
    except DecodeError:
        raise
    except Exception as e:  # decoders raise unrelated types; DECORDError derives from Exception only
        raise error_type(path, f"{type(e).__name__}: {_first_line(str(e), path)}") from e


_DECORD_LOG_PREFIX = re.compile(r"^(\[[\d:]+\] \S+:\d+: )+")  # "[20:30:00] src/video/video_reader.cc:83: "


def _first_line(message: str, path: str | Path) -> str:
    """A decoder message's first line (decord appends a C++ stack trace), without decord's time and source, and
    with the file (which the error names already) by its name alone."""
    line = _DECORD_LOG_PREFIX.sub("", (message.strip().splitlines() or [""])[0])
    return line.replace(str(path), Path(path).name)


_FD2_LOCK = threading.Lock()  # file descriptor 2 is the process's: one capture at a time


@functools.cache
def _capture_file(pid: int) -> IO[bytes]:
    """This process's file for `_native_stderr_captured` (by pid: a forked DataLoader worker makes its own)."""
    return tempfile.TemporaryFile()


@contextmanager
def _native_stderr_captured() -> Iterator[list[str]]:
    """Point file descriptor 2 at a temporary file for the block, so that what native code prints there (decord's
    C++ log, which no Python setting silences) stays off the terminal; the list yielded receives its non-empty
    lines when the block ends. A few microseconds; works in DataLoader workers as in the main process (each has
    its own descriptors); anything another thread of this process writes to fd 2 meanwhile is captured too."""
    said: list[str] = []
    sys.stderr.flush()
    with _FD2_LOCK:
        capture = _capture_file(os.getpid())
        capture.seek(0)
        capture.truncate()
        saved = os.dup(2)
        os.dup2(capture.fileno(), 2)
        try:
            yield said
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            said += [line.strip() for line in capture.read().decode(errors="replace").splitlines() if line.strip()]


@functools.cache
def _silence_ffmpeg() -> None:
    av.logging.set_level(av.logging.PANIC)


class VideoReader(ABC):
    """Random access to the RGB frames of one video file."""

    fps: float

    def __init__(self, path: str | Path):
        self.path = Path(path)

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def _decode(self, indices: np.ndarray) -> np.ndarray: ...

    def close(self) -> None:
        """Release the file; the reader is unusable afterwards."""

    def get_frames(self, indices: Sequence[int]) -> np.ndarray:
        """Frames at `indices` (any order, repeats allowed) as uint8 (T, H, W, 3)."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if idx.size == 0 or idx.min() < 0 or idx.max() >= len(self):
            raise IndexError(f"frame indices {idx.tolist()} out of range [0, {len(self)}) for {self.path}")
        with wrap_decode_errors(self.path):
            return self._decode(idx)

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _import_decord():
    """Import decord, after pygame where it is installed: decord's bundled libraries include an older libpng
    that, once loaded first, breaks pygame's PNG loading (gymnasium's classic-control renderers need it)."""
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    try:
        import pygame  # noqa: F401
    except ImportError:
        pass
    import decord  # optional dependency (x86_64 wheels only)

    return decord


class DecordReader(VideoReader):
    """decord backend: fast batched, seeking reads."""

    def __init__(self, path: str | Path):
        super().__init__(path)
        with wrap_decode_errors(self.path):
            decord = _import_decord()
            decord.logging.set_level(decord.logging.QUIET)
            self._vr = self._open(decord)
            self.fps = float(self._vr.get_avg_fps())
            if len(self._vr) == 0:
                raise VideoDecodeError(self.path, "video has no frames")

    def _open(self, decord: ModuleType) -> Any:
        """decord's reader of the file, with what decord prints on failing to open it (its only terminal output:
        decoding errors are raised, not printed) taken off the terminal and made the error's reason; decord's
        own exception says only "Error reading <file>..."."""
        said: list[str] = []
        try:
            with _native_stderr_captured() as said:
                return decord.VideoReader(str(self.path), num_threads=1)  # parallelism comes from DataLoader workers
        except Exception as e:
            if not said:
                raise
            raise VideoDecodeError(self.path, f"{type(e).__name__}: {_first_line(said[-1], self.path)}") from e

    def __len__(self) -> int:
        return len(self._vr)

    def _decode(self, indices: np.ndarray) -> np.ndarray:
        return self._vr.get_batch(indices.tolist()).asnumpy()

    def close(self) -> None:
        self._vr = None


class PyAVReader(VideoReader):
    """PyAV backend: seeks to the keyframe before the first wanted frame, then decodes forward."""

    def __init__(self, path: str | Path):
        super().__init__(path)
        _silence_ffmpeg()
        with wrap_decode_errors(self.path):
            self._container = av.open(str(self.path))
            try:
                if not self._container.streams.video:
                    raise VideoDecodeError(self.path, "container has no video stream")
                self._stream = self._container.streams.video[0]
                self._rate = Fraction(self._stream.average_rate or self._stream.guessed_rate)
                self._start = self._stream.start_time or 0
                self.fps = float(self._rate)
                self._num_frames = self._stream.frames or self._count_frames()
                if self._num_frames == 0:
                    raise VideoDecodeError(self.path, "video has no frames")
            except BaseException:
                self.close()
                raise

    def _count_frames(self) -> int:
        """Frame count for containers whose header does not store it (mkv, webm): one packet per frame."""
        return sum(packet.size > 0 for packet in self._container.demux(self._stream))

    def _pts(self, index: int) -> int:
        return self._start + round(index / (self._rate * self._stream.time_base))

    def _index(self, pts: int) -> int:
        return round((pts - self._start) * self._stream.time_base * self._rate)

    def __len__(self) -> int:
        return self._num_frames

    def _decode(self, indices: np.ndarray) -> np.ndarray:
        wanted, last = set(indices.tolist()), int(indices.max())
        self._container.seek(self._pts(int(indices.min())), stream=self._stream, backward=True)
        frames: dict[int, np.ndarray] = {}
        for frame in self._container.decode(self._stream):
            i = self._index(frame.pts)
            if i in wanted:
                frames[i] = frame.to_ndarray(format="rgb24")
            if i >= last:
                break
        if missing := wanted - frames.keys():
            raise VideoDecodeError(self.path, f"stream ended before frame {min(missing)} of {len(self)}")
        return np.stack([frames[i] for i in indices.tolist()])

    def close(self) -> None:
        """Close the file and drop the reader's PyAV objects: a reader kept alive by an error's traceback (a
        reference cycle, freed by a later garbage collection) must not hold a decoder whose threads a forked
        DataLoader worker would wait for, forever, when its own collection frees the copy it inherited."""
        if self._container is not None:
            self._container.close()
        self._container = self._stream = None


class AutoReader(VideoReader):
    """decord, replaced by PyAV for the rest of the file's life the first time decord fails to open or decode it."""

    def __init__(self, path: str | Path):
        super().__init__(path)
        self._decord_failure: str | None = None
        try:
            self._reader: VideoReader = DecordReader(path)
        except VideoDecodeError as e:
            self._switch_to_pyav(e)

    def _switch_to_pyav(self, decord_error: VideoDecodeError) -> None:
        self._decord_failure = decord_error.reason
        with self._naming_both_failures():
            self._reader = PyAVReader(self.path)

    @contextmanager
    def _naming_both_failures(self) -> Iterator[None]:
        try:
            yield
        except VideoDecodeError as e:
            raise VideoDecodeError(self.path, f"decord: {self._decord_failure}; pyav: {e.reason}") from e

    @property
    def fps(self) -> float:
        return self._reader.fps

    def __len__(self) -> int:
        return len(self._reader)

    def _decode(self, indices: np.ndarray) -> np.ndarray:
        if self._decord_failure is None:
            try:
                return self._reader.get_frames(indices)
            except VideoDecodeError as e:
                self._reader.close()
                self._switch_to_pyav(e)
        with self._naming_both_failures():
            return self._reader.get_frames(indices)

    def close(self) -> None:
        self._reader.close()


_READERS: dict[str, type[VideoReader]] = {"auto": AutoReader, "decord": DecordReader, "pyav": PyAVReader}


def open_video(path: str | Path, backend: Backend = "auto") -> VideoReader:
    """Open `path` with decord, PyAV, or ("auto") decord falling back to PyAV; VideoDecodeError if none can."""
    if backend not in _READERS:
        raise ValueError(f"unknown video backend {backend!r}; expected one of {sorted(_READERS)}")
    return _READERS[backend](path)


def write_video(
    path: str | Path,
    frames: np.ndarray,
    fps: float,
    codec: str = "libx264",
    options: dict[str, str] | None = None,
) -> Path:
    """Encode uint8 frames (T, H, W, 3) as yuv420p video (H, W even); `options` go to the codec (crf, g, ...)."""
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames for {path} must be uint8 (T, H, W, 3), got {frames.dtype} {frames.shape}")
    _, height, width, _ = frames.shape
    if height % 2 or width % 2:
        raise ValueError(f"yuv420p needs even height and width, got {height}x{width} for {path}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _silence_ffmpeg()
    # index at the front of mp4/mov, so a file cut short still opens and decodes up to the cut
    muxer_options = {"movflags": "faststart"} if path.suffix.lower() in (".mp4", ".mov") else {}
    with av.open(str(path), "w", options=muxer_options) as container:
        stream = container.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = dict(options or {})
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    return path
