"""`vjepa-demo`'s summary, ``out/demo_summary.json``: rewritten after every stage and when one fails, so that a
crashed demo keeps its finished stages' times and names the stage that failed."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from vjepa.runtime.run_dir import write_text_atomic

TOTALS = ("total_s", "stages_s")


class DemoSummary:
    """Each stage's time in seconds under ``times`` (a skipped stage's from the summary of the run that made its
    output), ``skipped``, the planners' results under ``planners``, ``failed`` (the stage that raised, if one did)
    and the ``head`` items; ``total_s`` is this run's time, ``stages_s`` the sum of the stages'."""

    def __init__(self, path: Path, **head: Any) -> None:
        self.path = path
        self._earlier = json.loads(path.read_text())["times"] if path.is_file() else {}
        self._start = time.perf_counter()
        self.data: dict[str, Any] = {**head, "planners": {}, "times": {}, "skipped": []}

    @contextmanager
    def stage(self, key: str) -> Iterator[None]:
        """Time the stage ``key`` (``<stage>_s``) and write the summary after it, naming the stage in ``failed`` if
        it raises."""
        start = time.perf_counter()
        try:
            yield
        except BaseException:
            self.data["failed"] = key.removesuffix("_s")
            self._record(key, start)
            raise
        self._record(key, start)

    def skip(self, key: str) -> None:
        """Mark the stage ``key`` skipped (its output exists): its time is the earlier run's."""
        self.data["skipped"].append(key)

    def _record(self, key: str, start: float) -> None:
        times = {k: v for k, v in self.data["times"].items() if k not in TOTALS}
        times[key] = self._earlier.get(key, 0.0) if key in self.data["skipped"] else time.perf_counter() - start
        times["total_s"] = time.perf_counter() - self._start
        times["stages_s"] = sum(v for k, v in times.items() if k not in TOTALS)
        self.data["times"] = times
        write_text_atomic(self.path, json.dumps(self.data, indent=2))
