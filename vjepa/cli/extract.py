"""`vjepa-extract`: encode every video (or image) of a folder with a pretrained encoder (configs/extract.yaml).

    vjepa-extract checkpoint=runs/pretrain/latest.pt input=/videos output=features pooled=true

Writes ``features.npy`` — (num_files, N, D) patch features, or (num_files, D) mean-pooled — and ``files.txt``
(row i of the array is the i-th line's file). Each video contributes its first clip (frames_per_clip frames at
frame_step, as in pretraining unless overridden), resized and centre-cropped.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from omegaconf import DictConfig
from tqdm import tqdm

from configs.schema import extract as schema
from vjepa.data import ImageFolderDataset, VideoFolderDataset, VideoTransform
from vjepa.inference import clip_batches, encode, load_encoder
from vjepa.runtime.command import command
from vjepa.runtime.device import resolve_device
from vjepa.runtime.run_dir import RunDir, atomic_write, write_text_atomic
from vjepa.runtime.threads import set_threads


@command("extract")
def main(cfg: DictConfig) -> None:
    schema.check(cfg)
    with RunDir(cfg.output, "vjepa-extract", key="output") as run:  # one extraction at a time into an output folder
        extract(cfg, run)


def extract(cfg: DictConfig, run: RunDir) -> None:
    """Encode ``cfg.input`` into ``cfg.output``, claimed (``run``) once the encoder and the files are found."""
    set_threads(cfg.threads)
    device = resolve_device(cfg.device)
    encoder, train_cfg = load_encoder(cfg.checkpoint, which=cfg.which, device=device)
    data_cfg = train_cfg["data"]
    transform = VideoTransform(size=cfg.size or data_cfg["crop_size"], train=False)
    if cfg.kind == "image":
        dataset = ImageFolderDataset(cfg.input, transform=transform)
    else:
        dataset = VideoFolderDataset(
            cfg.input,
            frames_per_clip=cfg.frames_per_clip or data_cfg["frames_per_clip"],
            frame_step=cfg.frame_step or data_cfg["frame_step"],
            transform=transform,
            random_start=False,
        )
    run.claim()
    features, files = [], []
    for indices, clips in tqdm(clip_batches(dataset, cfg.batch_size), desc="extract"):  # unreadable files left out
        features.append(encode(encoder, clips.to(device), cfg.pooled, cfg.precision).cpu().numpy())
        files += [str(dataset.paths[i]) for i in indices]
    out = Path(cfg.output)
    array = np.concatenate(features)
    with atomic_write(out / "features.npy") as f:
        np.save(f, array)
    write_text_atomic(out / "files.txt", "\n".join(files) + "\n")
    skipped = len(dataset) - len(files)
    print(f"wrote {out / 'features.npy'} {array.shape} and {out / 'files.txt'}; skipped unreadable files: {skipped}")


if __name__ == "__main__":
    main()
