"""Pieces shared by the training loops (pretraining, action-conditioned fine-tuning): step-addressable batches
for exact resume, AdamW (parameter groups, fused kernel) and the weights and DDP wrapper it steps (`trainer`),
step-indexed schedules applied to the optimiser, losses read back from the device in one sync (`StepLosses`), and
what every step ends with (`StepTail`: log, progress bar, checkpoint). (The precision they compute in is chosen in
``vjepa.runtime.device``.)"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig
from torch.nn.parallel import DistributedDataParallel
from torch.utils._foreach_utils import _get_fused_kernels_supported_devices
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from vjepa.data.sampler import SeededSampler
from vjepa.runtime.checkpoint import LATEST, is_checkpoint_step, save_checkpoint
from vjepa.runtime.errors import ConfigError, UserError
from vjepa.runtime.run_dir import RunDir
from vjepa.runtime.threads import CpuShare, starved_note
from vjepa.train.distributed import DistInfo, all_reduce_mean, cleanup_distributed, setup_distributed
from vjepa.train.metrics import MetricsLogger, read_metric
from vjepa.train.precision import Weights, training_weights
from vjepa.train.schedules import learning_rate, linear


class Batches:
    """Endless iterator over (epoch, batches) that can start at any global step, for exact resume.

    An epoch is at least one batch per process: a dataset of random clips (``dataset.random_clips``: the sample
    seed picks the clip) with fewer files than that gives several clips of each file per epoch
    (`SeededSampler.repeat_to`); any other dataset must hold a batch per process."""

    def __init__(self, dataset: Dataset, sampler: SeededSampler, cfg: DictConfig, collate, device: torch.device):
        self.sampler = sampler
        self.batch_size = cfg.batch_size
        if getattr(dataset, "random_clips", False):
            sampler.repeat_to(cfg.batch_size)
        self.steps_per_epoch = len(sampler) // cfg.batch_size
        if self.steps_per_epoch == 0:
            fix = (f"lower batch_size to {len(sampler)} or less" if len(sampler)
                   else f"run on at most {len(dataset)} processes")
            raise ConfigError(
                f"{cfg.batch_size} is larger than the {len(sampler)} samples per process of this dataset "
                f"({len(dataset)} over {sampler.world_size} process(es)), whose samples are fixed (not random "
                f"clips), so it cannot repeat them", "batch_size", f"{fix}, or give it more data")
        self.loader = DataLoader(
            dataset,
            batch_size=cfg.batch_size,
            sampler=sampler,
            num_workers=cfg.num_workers,
            collate_fn=collate,
            pin_memory=device.type == "cuda",
            drop_last=True,
            persistent_workers=cfg.num_workers > 0,  # the sampler runs here; workers only decode
        )

    def from_batch(self, batch_index: int) -> Iterator[dict[str, Any]]:
        """Yield batches starting at global batch index ``batch_index``."""
        epoch, offset = divmod(batch_index, self.steps_per_epoch)
        while True:
            self.sampler.set_epoch(epoch)
            self.sampler.start_at(offset * self.batch_size)
            yield from self.loader
            epoch, offset = epoch + 1, 0


def param_groups(module: torch.nn.Module) -> list[dict[str, Any]]:
    """AdamW groups: weight decay on matrices only, none on biases, norms and the mask token."""
    decay, no_decay = [], []
    for p in module.parameters():
        if p.requires_grad:
            (decay if p.ndim >= 2 and p.shape[0] > 1 else no_decay).append(p)
    return [{"params": decay, "wd_scale": 1.0}, {"params": no_decay, "wd_scale": 0.0}]


def adamw(groups: list[dict[str, Any]], **hyper: Any) -> torch.optim.AdamW:
    """AdamW with torch's fused kernel when it has one for every parameter (floating point on CUDA, and on CPU
    from torch 2.4); torch's default otherwise (foreach on CUDA, the per-tensor loop on CPU). Timings:
    docs/pretraining.md."""
    devices = _get_fused_kernels_supported_devices()
    fused = all(p.is_floating_point() and p.device.type in devices for group in groups for p in group["params"])
    return torch.optim.AdamW(groups, fused=fused or None, **hyper)


def compile_modules(modules: Iterable[torch.nn.Module | None]) -> None:
    """torch.compile each module in place, for dynamic shapes: mask and context lengths change from step to step,
    and one graph then serves them all instead of a recompile per length. Meant for GPUs (what it measured on the
    CPU: docs/results/)."""
    for module in modules:
        if module is not None:
            module.compile(dynamic=True)


def trainer(
    model: torch.nn.Module, trained: torch.nn.Module, cfg: DictConfig, dist: DistInfo, device: torch.device,
    compiled: Iterable[torch.nn.Module | None] = (),
) -> tuple[Weights, torch.nn.Module, torch.optim.AdamW]:
    """What a loop steps: the `Weights` of ``trained`` (``cfg.precision``, ``cfg.master_weights``), started from
    rank 0's under torchrun; ``model`` (which holds ``trained``) wrapped in DistributedDataParallel where those
    weights do not all-reduce their own gradients, its ``compiled`` parts compiled first under ``cfg.compile``;
    AdamW (``cfg.optim``) over what the weights train."""
    weights = training_weights(trained, cfg.precision, cfg.master_weights, device)
    weights.broadcast()
    if cfg.compile:
        compile_modules(compiled)
    if dist.enabled and not weights.reduces_grads:
        model = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    o = cfg.optim
    optimizer = adamw(weights.groups(param_groups(trained)), lr=o.lr, betas=tuple(o.betas), eps=o.eps)
    return weights, model, optimizer


class LogWindow:
    """The steps since the last log step: their rate, the share of their wall time spent waiting for data and, on
    the CPU, the share of its threads' CPU time the run got (`CpuShare`: low when other jobs hold the cores)."""

    def __init__(self, step: int, device: torch.device) -> None:
        self.cpu_share = CpuShare() if device.type == "cpu" else None
        self.restart(step)

    def restart(self, step: int) -> None:
        self.start, self.first_step, self.data_wait = time.perf_counter(), step, 0.0
        if self.cpu_share is not None:
            self.cpu_share.reset()

    def read(self, step: int) -> dict[str, float]:
        """``steps_per_s``, ``data_wait_fraction`` and, on the CPU, ``cpu_share`` over the window."""
        elapsed = time.perf_counter() - self.start
        timing = {"steps_per_s": (step - self.first_step) / elapsed, "data_wait_fraction": self.data_wait / elapsed}
        if self.cpu_share is not None:
            timing["cpu_share"] = self.cpu_share.read(waiting_s=self.data_wait)
        return timing


def apply_schedules(optimizer: torch.optim.Optimizer, step: int, cfg: DictConfig) -> dict[str, float]:
    """Set this step's learning rate and weight decay (``cfg.optim``, over ``cfg.steps``) on every group; returns
    them, plus the EMA momentum when ``cfg.optim.ema`` is set."""
    o = cfg.optim
    lr = learning_rate(
        step, cfg.steps, schedule=o.schedule, warmup=o.warmup_steps, start_lr=o.start_lr, lr=o.lr,
        final_lr=o.final_lr, decay_fraction=o.decay_fraction,
    )
    wd = linear(step, cfg.steps, o.weight_decay, o.final_weight_decay)
    for group in optimizer.param_groups:
        group["lr"] = lr
        group["weight_decay"] = wd * group["wd_scale"]
    scheduled = {"lr": lr, "weight_decay": wd}
    if o.ema is not None:
        scheduled["ema_momentum"] = linear(step, cfg.steps, o.ema[0], o.ema[1])
    return scheduled


class LossNotFinite(UserError, FloatingPointError):
    """The training loss became NaN or infinite: the run stops, its last checkpoint is from before."""


class StepLosses:
    """Each step's loss, kept on the device until `read_back` fetches the ones since the last read in one host
    sync (a loop reads at log and checkpoint steps, so it never checkpoints past a non-finite loss); ``values``
    holds those read, averaged over processes. Steps count as metrics.csv and checkpoints do: ``start_step`` is
    the step the run starts from (0, or a resumed checkpoint's), and the loss of its n-th optimizer step is step
    ``start_step + n``."""

    def __init__(self, start_step: int) -> None:
        self.values: list[float] = []
        self._pending: list[torch.Tensor] = []
        self._next_step = start_step + 1  # the step of the first pending loss

    def append(self, loss: torch.Tensor) -> None:
        self._pending.append(loss.detach())

    def read_back(self) -> None:
        """Fetch the pending losses; raises `LossNotFinite` at the first one that is not finite, naming its
        step."""
        values = all_reduce_mean(torch.stack(self._pending)).tolist()
        for i, value in enumerate(values):
            if not math.isfinite(value):
                raise LossNotFinite(
                    f"loss became {value} at step {self._next_step + i}", "optim.lr",
                    "lower optim.lr or check the data; the last checkpoint is from before that step")
        self.values += values
        self._next_step += len(values)
        self._pending.clear()


class StepTail:
    """How every training step ends, in both loops: its loss kept on the device (`StepLosses`) and read back at log
    and checkpoint steps, so that a non-finite loss stops the run before it is checkpointed; the progress bar;
    ``metrics.csv`` at log steps (the loss, the throughput ``rate`` = ``samples_per_step`` x steps per second, the
    `LogWindow`'s timing and the loop's own metrics); the checkpoint at checkpoint steps (main process). A run
    ends at ``last_step`` (``steps``, or ``stop_after``); `close` gives the summary both loops return."""

    def __init__(self, desc: str, cfg: DictConfig, dist: DistInfo, device: torch.device, step: int, rate: str,
                 samples_per_step: int) -> None:
        self.run_dir, self.is_main = Path(cfg.run_dir), dist.is_main
        self.steps, self.log_every, self.ckpt_every, self.keep_every = (cfg.steps, cfg.log_every, cfg.ckpt_every,
                                                                        cfg.keep_every)
        self.start_step = self.step = step
        self.last_step = min(cfg.steps, cfg.stop_after or cfg.steps)
        self.rate, self.samples_per_step = rate, samples_per_step
        self.losses = StepLosses(start_step=step)
        self.logger = MetricsLogger(self.run_dir, enabled=dist.is_main, start_step=step)
        self.progress = tqdm(total=cfg.steps, initial=step, desc=desc, disable=not dist.is_main, dynamic_ncols=True)
        self.window = LogWindow(step, device)  # throughput, data wait and CPU share since the last log

    def end_step(self, step: int, loss: torch.Tensor, metrics: Callable[[], dict[str, float]]) -> None:
        """Count optimizer step ``step`` with its ``loss``; at a log step, log it with ``metrics()`` (called only
        there: it may read values back from the device). Follow it with `checkpoint`."""
        self.step = step
        self.losses.append(loss)
        self.progress.update(1)
        self._log = step % self.log_every == 0 or step == self.steps
        self._save = is_checkpoint_step(step, self.last_step, self.ckpt_every, self.keep_every)
        if self._log or self._save:  # never checkpoint past a non-finite loss
            self.losses.read_back()
        if self._log:
            timing = self.window.read(step)
            rate = timing.pop("steps_per_s") * self.samples_per_step
            loss_value = self.losses.values[-1]
            self.progress.set_postfix(loss=f"{loss_value:.4f}", **starved_note(timing.get("cpu_share", 1.0)))
            self.logger.log(step, {"loss": loss_value, self.rate: rate, **timing, **metrics()})

    def checkpoint(self, contents: Callable[[], Any]) -> None:
        """After `end_step` (and whatever the loop evaluates at that step): at a checkpoint step, save
        ``contents()`` (main process); at a log step, start the next log window here, so that evaluation and
        checkpoint time do not count as training."""
        if self.is_main and self._save:
            save_checkpoint(contents(), self.run_dir, self.step, self.keep_every)
        if self._log:
            self.window.restart(self.step)

    def close(self) -> dict[str, Any]:
        """Close the bar and the log; returns ``steps`` (the last step), ``start_step``, ``losses`` (read back),
        ``run_dir`` and ``logged_losses`` (metrics.csv's, main process)."""
        self.progress.close()
        self.logger.close()
        return {"steps": self.step, "start_step": self.start_step, "losses": self.losses.values,
                "run_dir": str(self.run_dir),
                "logged_losses": read_metric(self.run_dir, "loss") if self.is_main else []}


def run_training(cfg: DictConfig, command: str, check: Callable[[DictConfig], None],
                 loop: Callable[[DictConfig, DistInfo, RunDir], dict[str, Any]]) -> dict[str, Any]:
    """Check the config (``check``), join the processes (torchrun) and run ``loop`` in ``cfg.run_dir``, held by the
    main process's lock for one run at a time; nothing is written before the start-up checks pass."""
    check(cfg)
    dist = setup_distributed(cfg.device)
    try:
        with RunDir(cfg.run_dir, command, enabled=dist.is_main, watch=(LATEST,)) as run:
            return loop(cfg, dist, run)
    finally:
        cleanup_distributed()


__all__ = ["Batches", "LossNotFinite", "adamw", "apply_schedules", "compile_modules", "param_groups", "StepLosses",
           "StepTail", "run_training", "trainer"]
