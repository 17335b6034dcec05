"""`vjepa-pretrain`: V-JEPA / I-JEPA pretraining, configured by hydra (configs/pretrain.yaml).

    vjepa-pretrain                                   # tiny model on generated moving-shape videos
    vjepa-pretrain model=vit_small data=video_folder data.path=/videos steps=20000
    vjepa-pretrain data=synthetic_images mask=ijepa model.tubelet_size=1 loss=l2     # I-JEPA
    torchrun --nproc_per_node=2 -m vjepa.cli.pretrain                              # DDP
"""

from __future__ import annotations

from omegaconf import DictConfig

from vjepa.runtime.command import command
from vjepa.train.metrics import done_line
from vjepa.train.pretrain import pretrain


@command("pretrain")
def main(cfg: DictConfig) -> None:
    summary = pretrain(cfg)
    print(f"{done_line(summary)}; skipped files: {summary['skipped_files']}")


if __name__ == "__main__":
    main()
