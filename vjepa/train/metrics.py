"""Metrics a person can plot: TensorBoard event files plus a long-format CSV (step, name, value)."""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vjepa.runtime.run_dir import atomic_write

METRICS = "metrics.csv"
HEADER = ["step", "name", "value"]


def read_rows(path: str | Path) -> list[tuple[int, str, str]]:
    """The (step, name, value) rows of a metrics.csv; rows a killed write cut short are left out."""
    rows = []
    with Path(path).open(newline="") as f:
        for row in csv.reader(f):
            if len(row) != 3 or row == HEADER:
                continue
            try:
                step, value = int(row[0]), row[2]
                float(value)
            except ValueError:
                continue
            rows.append((step, row[1], value))
    return rows


def read_metric(run_dir: str | Path, name: str) -> list[tuple[int, float]]:
    """(step, value) of every ``name`` row in ``run_dir/metrics.csv``, in step order ([] without the file)."""
    path = Path(run_dir) / METRICS
    if not path.is_file():
        return []
    return sorted((step, float(value)) for step, row_name, value in read_rows(path) if row_name == name)


class MetricsLogger:
    """Writes scalars to ``run_dir/metrics.csv`` and TensorBoard; does nothing on non-main ranks.

    ``start_step``: the step the run starts from (a resumed run: its checkpoint's). What an earlier session logged
    after it — the steps between that checkpoint and a kill, or a whole earlier run when starting afresh — is
    dropped, from metrics.csv (rewritten atomically) and TensorBoard (``purge_step``), so that each (step, name)
    appears once. None appends to what is there."""

    def __init__(self, run_dir: str | Path, enabled: bool = True, tensorboard: bool = True,
                 start_step: int | None = None) -> None:
        self.enabled = enabled
        self._csv = None
        self._tb = None
        if not enabled:
            return
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        path = run_dir / METRICS
        if start_step is not None and path.exists():
            kept = [row for row in read_rows(path) if row[0] <= start_step]
            with atomic_write(path, "w") as f:
                csv.writer(f).writerows([HEADER, *kept])
        new = not path.exists()
        self._file = path.open("a", newline="")
        self._csv = csv.writer(self._file)
        if new:
            self._csv.writerow(HEADER)
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            purge = None if start_step is None else start_step + 1
            self._tb = SummaryWriter(str(run_dir / "tb"), purge_step=purge)

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


def done_line(summary: Mapping[str, Any]) -> str:
    """The line a training command ends with: the steps of this session and of the whole run, and the loss over
    the whole run — the mean of the first and last tenth of its logged losses (metrics.csv), or of this session's
    when the run logged none here (not the main process)."""
    start, steps = int(summary.get("start_step", 0)), int(summary["steps"])
    session = f"steps {start + 1}..{steps} this session" if steps > start else "no step this session"
    line = f"done: {steps} steps in {summary['run_dir']} ({session})"
    logged = [value for _, value in summary.get("logged_losses") or []]
    losses, what = (logged, "logged losses of the run") if logged else (list(summary["losses"]), "this session")
    if losses:
        n = max(len(losses) // 10, 1)
        line += (f"; loss {sum(losses[:n]) / n:.4f} (first 10% of the {what}) -> {sum(losses[-n:]) / n:.4f} "
                 "(last 10%)")
    return line


__all__ = ["MetricsLogger", "done_line", "read_metric", "read_rows"]
