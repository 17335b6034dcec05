"""`vjepa-train-ac`: train a V-JEPA 2-AC action-conditioned predictor on a frozen encoder, or with it
(``recipe=end_to_end``) (configs/train_ac.yaml).

    vjepa-train-ac encoder=runs/pretrain/latest.pt data.path=data/wall
    vjepa-train-ac encoder=runs/pretrain/latest.pt data.path=/lerobot/pusht ac=vjepa2_ac steps=20000
    vjepa-train-ac recipe=end_to_end encoder=runs/pretrain/latest.pt data.path=data/wall   # encoder trained too
    torchrun --nproc_per_node=2 -m vjepa.cli.train_ac encoder=... data.path=...                     # DDP
"""

from __future__ import annotations

from omegaconf import DictConfig

from vjepa.runtime.command import command
from vjepa.train.metrics import done_line
from vjepa.train.train_ac import train_ac


@command("train_ac")
def main(cfg: DictConfig) -> None:
    summary = train_ac(cfg)
    line = done_line(summary)
    if summary["val"]:
        line += f"; held-out loss {summary['val'][-1]['val_loss']:.4f}"
    print(line)


if __name__ == "__main__":
    main()
