"""`vjepa-train-ac`: train a V-JEPA 2-AC action-conditioned predictor on a frozen encoder (configs/train_ac.yaml).

    vjepa-train-ac encoder=runs/pretrain/latest.pt data.path=data/wall
    vjepa-train-ac encoder=runs/pretrain/latest.pt data.path=/lerobot/pusht ac=vjepa2_ac steps=20000
    torchrun --nproc_per_node=2 -m vjepa.cli.train_ac encoder=... data.path=...                     # DDP
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from vjepa.train.train_ac import train_ac


@hydra.main(config_path="pkg://configs", config_name="train_ac", version_base="1.3")
def main(cfg: DictConfig) -> None:
    summary = train_ac(cfg)
    losses = summary["losses"]
    if losses:
        n = max(len(losses) // 10, 1)
        line = (f"done: {summary['steps']} steps in {summary['run_dir']}; loss {sum(losses[:n]) / n:.4f} (first 10%) "
                f"-> {sum(losses[-n:]) / n:.4f} (last 10%)")
        if summary["val"]:
            line += f"; held-out loss {summary['val'][-1]['val_loss']:.4f}"
        print(line)


if __name__ == "__main__":
    main()
