"""Frozen-encoder features of every frame of a dataset, cached on disk so that the encoder runs once per frame.

A cache directory holds one float16 ``.npy`` (T, N, D) per episode and a ``manifest.json`` with the cache's key —
everything the features depend on: the encoder (its weights' fingerprint, its architecture), the input (image
size, crop, resize, normalisation), the precision and the source (dataset format and, for LeRobot, the camera) —
and, per episode, the size and mtime of the files its frames are read from. A build reuses an episode's features
only while the key and those files are unchanged; the default directory is named by a hash of the key, so two
configurations never share one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from vjepa.data.ac_dataset import episode_lengths, episode_name
from vjepa.data.transforms import IMAGENET_MEAN, IMAGENET_STD, to_model_input
from vjepa.inference import load_encoder
from vjepa.runtime.config_checks import changed_leaves
from vjepa.runtime.device import autocast_context, resolve_precision
from vjepa.runtime.errors import ConfigError, UserError

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
FORMAT, VERSION = "vjepa-feature-cache", 2
# what `to_model_input` does to a frame before the encoder sees it (change with it)
PREPROCESSING = {"crop": "centred square", "resize": "bilinear, antialiased", "mean": IMAGENET_MEAN,
                 "std": IMAGENET_STD}


# ------------------------------------------------------------------------------------------------ keys
def fingerprint(source: Any) -> str:
    """sha1 identifying encoder weights: of a state dict's (or module's) names, dtypes, shapes and parameter bytes,
    or, for a checkpoint file path, of its absolute path + mtime + size (cheap, no read)."""
    h = hashlib.sha1()
    if isinstance(source, (str, os.PathLike)):
        path = Path(source).resolve()
        st = path.stat()
        h.update(f"{path}|{st.st_mtime_ns}|{st.st_size}".encode())
        return h.hexdigest()
    if isinstance(source, nn.Module):
        source = source.state_dict()
    if not isinstance(source, Mapping):
        raise TypeError(f"fingerprint() takes a state dict, a module or a checkpoint path, got {type(source).__name__}")
    for key in sorted(source):
        value = source[key]
        h.update(str(key).encode())
        if isinstance(value, torch.Tensor):
            t = value.detach().cpu().contiguous().reshape(-1)
            h.update(f"{t.dtype}{tuple(value.shape)}".encode())
            h.update(t.view(torch.uint8).numpy().tobytes())
        elif isinstance(value, Mapping):
            h.update(fingerprint(value).encode())
        else:
            h.update(repr(value).encode())
    return h.hexdigest()


def frame_source(episodes: Any) -> dict[str, Any]:
    """What picks the frames of ``episodes``: the dataset's ``frame_source`` (its format; for LeRobot the camera
    and its frame rate), or, for episodes without one (in memory), the type that holds them."""
    source = getattr(episodes, "frame_source", None)
    return dict(source) if source is not None else {"format": type(episodes).__name__}


def cache_key(encoder_id: Mapping[str, Any], image_size: int, precision: str, episodes: Any) -> dict[str, Any]:
    """Everything the cached features of ``episodes`` depend on, as the manifest stores it (plain JSON)."""
    key = {
        "encoder": dict(encoder_id),
        "input": {"image_size": int(image_size), **PREPROCESSING},
        "precision": precision,
        "source": frame_source(episodes),
    }
    return json.loads(json.dumps(key, sort_keys=True, default=str))  # tuples as lists, as read back


def default_cache_dir(data_path: Path, key: Mapping[str, Any], run_dir: Path) -> Path:
    """``<data>/.vjepa_features/<hash of the key>_<size>px`` (``..._bf16`` for features computed in bf16), shared
    by every run with that key; under ``<run_dir>/features/`` when the data folder is not writable."""
    digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()
    suffix = "" if key["precision"] == "fp32" else f"_{key['precision']}"
    parent = data_path / ".vjepa_features" if os.access(data_path, os.W_OK) else run_dir / "features"
    return parent / f"{digest[:16]}_{key['input']['image_size']}px{suffix}"


def _differences(old: Any, new: Any) -> list[str]:
    """``"<key> changed (<old> -> <new>)"`` for every leaf where two (nested) keys differ."""
    return [f"{name} changed ({str(a)[:12]} -> {str(b)[:12]})" if name.endswith("fingerprint")
            else f"{name} changed ({a} -> {b})" for name, a, b in changed_leaves(old, new)]


def source_files(episodes: Any, i: int) -> list[dict[str, Any]]:
    """Path (relative to the dataset root), size and mtime of each file episode i's frames are read from (none for
    episodes in memory); a missing file is a `UserError`."""
    if not hasattr(episodes, "frame_files"):
        return []
    records = []
    for path in episodes.frame_files(i):
        try:
            st = path.stat()
        except FileNotFoundError:
            raise UserError(f"{episode_name(episodes, i)}: a file its frames are read from is missing", where=str(path),
                            fix="restore it (or remove the episode from the dataset)") from None
        records.append({"file": str(path.relative_to(episodes.root)), "size": st.st_size, "mtime_ns": st.st_mtime_ns})
    return records


# ------------------------------------------------------------------------------------------------ cache
class FeatureCache:
    """Frozen-encoder patch features of every frame of every episode, float16 ``.npy`` (T, N, D) per episode.

    ``build(episodes)`` encodes each frame as a one-frame clip (B, C, 1, size, size) under ``torch.inference_mode``,
    in ``precision`` (fp32, bf16 or auto, as in training: `vjepa.runtime.device`), batching frames across
    episodes, and writes a manifest (the key, N, D, lengths, each episode's source files). A later build reuses the
    features of each episode whose source files are unchanged (and finishes an interrupted build); a different key
    (encoder, image size, precision, camera) discards them all and re-encodes. ``encoder_id`` identifies the
    encoder: its weights' ``fingerprint`` (the default) and whatever else fixes what it computes (`prepare_features`
    adds its architecture). ``get(i)`` memory-maps episode i. ``FeatureCache(dir)`` without an encoder opens an
    existing cache read-only. The encoder is moved to ``device`` and put in eval mode while building.
    """

    def __init__(
        self,
        cache_dir: str | Path,
        encoder: nn.Module | None = None,
        encoder_id: Mapping[str, Any] | None = None,
        image_size: int = 224,
        batch_size: int = 64,
        device: str | torch.device = "cpu",
        precision: str = "fp32",
    ) -> None:
        self.cache_dir = Path(cache_dir)
        self.encoder = encoder
        self.encoder_id = dict(encoder_id) if encoder_id else None
        if self.encoder_id is None and encoder is not None:
            self.encoder_id = {"fingerprint": fingerprint(encoder)}
        self.image_size = int(image_size)
        self.batch_size = int(batch_size)
        self.device = torch.device(device)
        self.precision = resolve_precision(precision, self.device)
        self.manifest: dict[str, Any] | None = self._read_manifest()
        self.last_build: dict[str, Any] = {}

    def read_only(self) -> FeatureCache:
        """The same directory opened without the encoder (what data-loader workers need: the files)."""
        return FeatureCache(self.cache_dir)

    # ------------------------------------------------------------------------------------- manifest / access
    def _read_manifest(self) -> dict[str, Any] | None:
        path = self.cache_dir / MANIFEST
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError:
            logger.warning("%s: unreadable manifest, the cache will be rebuilt", path)
            return None

    def _write_manifest(self, manifest: dict[str, Any]) -> None:
        tmp = self.cache_dir / (MANIFEST + ".tmp")
        tmp.write_text(json.dumps(manifest, indent=1))
        os.replace(tmp, self.cache_dir / MANIFEST)
        self.manifest = manifest

    def _path(self, i: int) -> Path:
        return self.cache_dir / f"episode_{i:06d}.npy"

    @property
    def lengths(self) -> np.ndarray | None:
        if not self.manifest or not self.manifest.get("complete"):
            return None
        return np.asarray(self.manifest["lengths"], dtype=np.int64)

    @property
    def num_tokens(self) -> int | None:
        return None if not self.manifest else self.manifest.get("num_tokens")

    @property
    def embed_dim(self) -> int | None:
        return None if not self.manifest else self.manifest.get("embed_dim")

    def __len__(self) -> int:
        return 0 if self.lengths is None else len(self.lengths)

    def get(self, episode_index: int) -> np.ndarray:
        """Features of one episode, float16 (T, N, D), memory-mapped read-only."""
        if self.lengths is None:
            raise RuntimeError(f"{self.cache_dir}: feature cache not built (no complete {MANIFEST}); call build()")
        if not 0 <= episode_index < len(self.lengths):
            raise IndexError(f"episode {episode_index} out of range for {len(self.lengths)} cached episodes")
        path = self._path(episode_index)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: cached features of episode {episode_index} missing; call build()")
        return np.load(path, mmap_mode="r")

    def _valid_file(self, i: int, length: int, n: int | None, d: int | None) -> bool:
        path = self._path(i)
        if not path.is_file():
            return False
        try:
            arr = np.load(path, mmap_mode="r")
        except (ValueError, OSError):
            return False
        return arr.dtype == np.float16 and arr.ndim == 3 and arr.shape[0] == length and (
            n is None or arr.shape[1:] == (n, d)
        )

    def _stale_because(self, key: Mapping[str, Any]) -> str | None:
        """Why the cached files cannot serve ``key`` at all (None: each episode may still be reused)."""
        old = self.manifest
        if old is None:
            return None
        if (old.get("format"), old.get("version")) != (FORMAT, VERSION):
            return f"manifest version {old.get('version')} predates version {VERSION}, which records the source"
        return ", ".join(_differences({name: old.get(name) for name in key}, key)) or None

    # ------------------------------------------------------------------------------------------------ build
    def build(self, episodes: Any, progress: bool = True) -> FeatureCache:
        """Encode the frames of every episode not cached yet under this key, or whose source files changed;
        returns self."""
        if self.encoder is None or self.encoder_id is None:
            raise ValueError(f"{self.cache_dir}: building a feature cache needs an encoder")
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        key = cache_key(self.encoder_id, self.image_size, self.precision, episodes)
        lengths = episode_lengths(episodes)
        sources = [source_files(episodes, i) for i in range(len(lengths))]  # before reading any frame
        reason = self._stale_because(key)
        if reason is not None:
            logger.warning("%s: %s; rebuilding the feature cache", self.cache_dir, reason)
            warnings.warn(f"{self.cache_dir}: {reason}; rebuilding the feature cache", stacklevel=2)
            for f in self.cache_dir.glob("episode_*.npy"):
                f.unlink()
        old = self.manifest if reason is None else None
        n_tok = old.get("num_tokens") if old else None
        dim = old.get("embed_dim") if old else None
        old_sources = old.get("sources", []) if old else []
        changed = [i for i, (was, now) in enumerate(zip(old_sources, sources)) if was != now]
        if changed:
            logger.warning("%s: the source files of %d episodes (first: %s) changed since they were encoded; "
                           "re-encoding them", self.cache_dir, len(changed), changed[:10])
        todo = [i for i in range(len(lengths)) if i >= len(old_sources) or old_sources[i] != sources[i]
                or not self._valid_file(i, int(lengths[i]), n_tok, dim)]
        reused = len(lengths) - len(todo)
        if reused:
            logger.info("%s: reusing cached features of %d episodes", self.cache_dir, reused)
        for e in todo:  # so that an interrupted build cannot take a changed episode's old features for new ones
            self._path(e).unlink(missing_ok=True)
        for stale in self.cache_dir.glob("episode_*.npy"):  # of episodes that no longer exist
            if int(stale.name.removeprefix("episode_").split(".")[0]) >= len(lengths):
                stale.unlink()
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            **key,
            "num_tokens": n_tok,
            "embed_dim": dim,
            "dtype": "float16",
            "lengths": lengths.tolist(),
            "sources": sources,
            "complete": False,
        }
        self._write_manifest(manifest)

        encoder = self.encoder.to(self.device)
        was_training = encoder.training
        encoder.eval()
        encoded_frames = 0
        try:
            pending: list[tuple[int, int, np.ndarray]] = []  # (episode, first frame, frames)
            outputs: dict[int, np.ndarray] = {}
            remaining: dict[int, int] = {}
            bar = tqdm(total=int(lengths[todo].sum()) if todo else 0, desc="encoding frames", unit="frame",
                       disable=not progress or not todo)

            def flush() -> None:
                nonlocal n_tok, dim, encoded_frames
                frames = np.concatenate([f for _, _, f in pending])
                with torch.inference_mode(), autocast_context(self.precision, self.device):
                    x = to_model_input(torch.from_numpy(frames[:, None]).to(self.device), self.image_size)
                    feats = encoder(x)
                if feats.ndim != 3 or feats.shape[0] != len(frames):
                    raise ValueError(
                        f"encoder returned {tuple(feats.shape)} for {len(frames)} one-frame clips; expected (B, N, D)"
                    )
                feats = feats.to(torch.float16).cpu().numpy()
                n_tok, dim = int(feats.shape[1]), int(feats.shape[2])
                pos = 0
                for e, first, f in pending:
                    if e not in outputs:
                        outputs[e] = np.empty((int(lengths[e]), n_tok, dim), np.float16)
                    outputs[e][first : first + len(f)] = feats[pos : pos + len(f)]
                    pos += len(f)
                    remaining[e] -= len(f)
                    if remaining[e] == 0:
                        tmp = self._path(e).with_suffix(".tmp.npy")
                        np.save(tmp, outputs.pop(e))
                        os.replace(tmp, self._path(e))
                encoded_frames += len(frames)
                bar.update(len(frames))
                pending.clear()

            for e in todo:
                ep = episodes[e]
                frames = np.asarray(ep.frames)
                if len(frames) != lengths[e]:
                    raise ValueError(f"{episode_name(episodes, e, getattr(ep, 'meta', None))}: {len(frames)} frames "
                                     f"decoded but the dataset lists {int(lengths[e])}")
                remaining[e] = len(frames)
                if not len(frames):
                    continue
                first = 0
                while first < len(frames):
                    room = self.batch_size - sum(len(f) for _, _, f in pending)
                    chunk = frames[first : first + room]
                    pending.append((e, first, chunk))
                    first += len(chunk)
                    if sum(len(f) for _, _, f in pending) >= self.batch_size:
                        flush()
            if pending:
                flush()
            bar.close()
            if n_tok is None:  # everything reused from an interrupted build: read N, D off a file
                for i in range(len(lengths)):
                    if lengths[i] > 0:
                        n_tok, dim = (int(v) for v in np.load(self._path(i), mmap_mode="r").shape[1:])
                        break
            for e in todo:  # empty episodes never reach flush()
                if lengths[e] == 0:
                    np.save(self._path(e), np.empty((0, n_tok or 0, dim or 0), np.float16))
        finally:
            encoder.train(was_training)
        manifest.update(num_tokens=n_tok, embed_dim=dim, complete=True)
        self._write_manifest(manifest)
        self.last_build = {"encoded_episodes": todo, "reused_episodes": reused, "encoded_frames": encoded_frames,
                           "rebuilt_because": reason, "changed_sources": changed}
        if todo:
            logger.info("%s: encoded %d frames of %d episodes", self.cache_dir, encoded_frames, len(todo))
        return self


# ------------------------------------------------------------------------------------------------ from a checkpoint
def prepare_features(
    encoder_checkpoint: str | Path,
    episodes: Any,
    data_path: str | Path,
    *,
    which: str = "target_encoder",
    image_size: int | None = None,
    cache_dir: str | Path | None = None,
    run_dir: str | Path = ".",
    batch_size: int = 64,
    device: str | torch.device = "cpu",
    precision: str = "fp32",
    build: bool = True,
    progress: bool = True,
) -> tuple[FeatureCache, dict[str, Any]]:
    """Load the frozen encoder, fingerprint its weights and make sure the feature cache of ``episodes`` is built
    (encoding only what is missing or stale) in ``cache_dir`` (default: `default_cache_dir`). Returns a read-only
    `FeatureCache` and a description: ``encoder_checkpoint`` (absolute), ``encoder_which``, ``fingerprint``,
    ``image_size``, ``patch_size``, ``cache_dir``, ``build`` (what the build did: encoded / reused episodes).
    ``precision``: what the encoder computes in (fp32, bf16 or auto). With ``build=False`` (DDP ranks > 0) only
    the directory is resolved; the caller waits for the main rank to build it."""
    encoder, enc_cfg = load_encoder(encoder_checkpoint, which=which, device=device)
    size = int(image_size or enc_cfg["data"]["crop_size"])
    if size % encoder.patch_size:
        raise ConfigError(f"{size} is not a multiple of the encoder's patch size {encoder.patch_size}", "image_size",
                          f"set image_size to a multiple of {encoder.patch_size}")
    encoder_id = {"fingerprint": fingerprint(encoder), "model": enc_cfg["model"]}  # the weights do not show heads
    precision = resolve_precision(precision, torch.device(device))
    key = cache_key(encoder_id, size, precision, episodes)
    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir(Path(data_path), key, Path(run_dir))
    cache_dir = cache_dir.resolve()
    info: dict[str, Any] = {
        "encoder_checkpoint": str(Path(encoder_checkpoint).resolve()),
        "encoder_which": which,
        "fingerprint": encoder_id["fingerprint"],
        "image_size": size,
        "patch_size": int(encoder.patch_size),
        "cache_dir": str(cache_dir),
        "build": {},
    }
    if build:
        cache = FeatureCache(cache_dir, encoder, encoder_id, image_size=size, batch_size=batch_size, device=device,
                             precision=precision)
        info["build"] = cache.build(episodes, progress=progress).last_build
    del encoder
    return FeatureCache(cache_dir), info


__all__ = ["FeatureCache", "MANIFEST", "cache_key", "default_cache_dir", "fingerprint", "prepare_features"]
