"""Metrics a person can plot: TensorBoard event files plus a long-format CSV (step, name, value)."""

from __future__ import annotations

import csv
from pathlib import Path


class MetricsLogger:
    """Writes scalars to ``run_dir/metrics.csv`` and TensorBoard; does nothing on non-main ranks."""

    def __init__(self, run_dir: str | Path, enabled: bool = True, tensorboard: bool = True) -> None:
        self.enabled = enabled
        self._csv = None
        self._tb = None
        if not enabled:
            return
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        path = run_dir / "metrics.csv"
        new = not path.exists()
        self._file = path.open("a", newline="")
        self._csv = csv.writer(self._file)
        if new:
            self._csv.writerow(["step", "name", "value"])
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(run_dir / "tb"))

    def log(self, step: int, metrics: dict[str, float]) -> None:
        if not self.enabled:
            return
        for name, value in metrics.items():
            self._csv.writerow([step, name, f"{value:.6g}"])
            if self._tb is not None:
                self._tb.add_scalar(name, value, step)
        self._file.flush()

    def close(self) -> None:
        if self.enabled:
            self._file.close()
            if self._tb is not None:
                self._tb.close()
