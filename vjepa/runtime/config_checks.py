"""Start-up checks of a command's config: each key's type, range or choices, before any work starts.

Every check reads one dotted key (``data.crop_size``) and either returns its value or raises a `ConfigError` that
names the key, the bad value and what to set instead, e.g.
``error: must be an integer >= 1, got 'abc' (steps) — set steps=<integer >= 1>``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from vjepa.runtime.errors import ConfigError

_MISSING = object()
DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


def value_of(cfg: DictConfig, key: str) -> Any:
    """The value at dotted ``key``; a `ConfigError` when the config has no such key or leaves it to the user
    (``???``)."""
    value = OmegaConf.select(cfg, key, default=_MISSING)
    if value is _MISSING:
        parent, _, leaf = key.rpartition(".")
        node = OmegaConf.select(cfg, parent) if parent else cfg
        if isinstance(node, DictConfig) and leaf in node.keys() and OmegaConf.is_missing(node, leaf):  # ???
            raise ConfigError("required, not given", key, f"give it: {key}=<value>")
        raise ConfigError("missing from the config", key, f"add it: {key}=<value> (+{key}=<value> on the command line)")
    return OmegaConf.to_object(value) if isinstance(value, (DictConfig, ListConfig)) else value


def _bad(key: str, want: str, value: Any) -> ConfigError:
    return ConfigError(f"must be {want}, got {value!r}", key, f"set {key} to {want}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)) and math.isfinite(value)


def _bounds(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f" in [{low:g}, {high:g}]"
    return f" >= {low:g}" if low is not None else (f" <= {high:g}" if high is not None else "")


def integer(cfg: DictConfig, key: str, low: int | None = None, high: int | None = None,
            optional: bool = False) -> int | None:
    """An integer in [low, high] (null too when ``optional``)."""
    value = value_of(cfg, key)
    if value is None and optional:
        return None
    want = "an integer" + _bounds(low, high) + (" or null" if optional else "")
    if not _is_int(value) or (low is not None and value < low) or (high is not None and value > high):
        raise _bad(key, want, value)
    return value


def integers(cfg: DictConfig, keys: Iterable[str], low: int | None = None, optional: bool = False) -> None:
    """Each of ``keys`` an integer >= ``low``."""
    for key in keys:
        integer(cfg, key, low=low, optional=optional)


def number(cfg: DictConfig, key: str, low: float | None = None, high: float | None = None,
           optional: bool = False, above: bool = False) -> float | None:
    """A finite number in [low, high] ((low, high] when ``above``; null too when ``optional``)."""
    value = value_of(cfg, key)
    if value is None and optional:
        return None
    want = "a number" + (f" > {low:g}" if above and high is None else _bounds(low, high)) + (
        " or null" if optional else "")
    if not _is_number(value) or (low is not None and (value <= low if above else value < low)) or (
            high is not None and value > high):
        raise _bad(key, want, value)
    return float(value)


def number_range(cfg: DictConfig, key: str, low: float = 0.0, high: float = math.inf) -> tuple[float, float]:
    """A ``[min, max]`` pair (or one number: min = max) with low < min <= max <= high."""
    value = value_of(cfg, key)
    pair = [value, value] if _is_number(value) else value
    want = f"[min, max] with {low:g} < min <= max" + ("" if math.isinf(high) else f" <= {high:g}")
    if (not isinstance(pair, Sequence) or isinstance(pair, str) or len(pair) != 2
            or not all(_is_number(v) for v in pair) or not low < pair[0] <= pair[1] <= high):
        raise _bad(key, want, value)
    return float(pair[0]), float(pair[1])


def boolean(cfg: DictConfig, key: str) -> bool:
    value = value_of(cfg, key)
    if not isinstance(value, bool):
        raise _bad(key, "true or false", value)
    return value


def choice(cfg: DictConfig, key: str, choices: Sequence[Any], optional: bool = False) -> Any:
    """One of ``choices`` (null too when ``optional``)."""
    value = value_of(cfg, key)
    if (value is None and optional) or value in choices:
        return value
    raise _bad(key, " | ".join(str(c).lower() if isinstance(c, bool) else str(c) for c in choices), value)


def existing_path(cfg: DictConfig, key: str, optional: bool = False, kind: str = "any") -> Path | None:
    """A path that exists (a ``file``, a ``dir`` or ``any``); null too when ``optional``."""
    value = value_of(cfg, key)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise _bad(key, "a path", value)
    path = Path(value)
    exists = {"file": path.is_file, "dir": path.is_dir, "any": path.exists}[kind]()
    if not exists:
        what = {"file": "no such file", "dir": "no such directory", "any": "no such file or directory"}[kind]
        raise ConfigError(f"{what}: {value}", key, f"check {key}")
    return path


def runtime(cfg: DictConfig) -> None:
    """The runtime keys every command that computes takes: ``device``, ``precision``, ``threads``."""
    device = value_of(cfg, "device")
    if not isinstance(device, str) or not DEVICE.fullmatch(device):
        raise _bad("device", "auto | cpu | cuda | cuda:N", device)
    choice(cfg, "precision", ("auto", "fp32", "bf16"))
    if value_of(cfg, "threads") != "auto":
        integer(cfg, "threads", low=1, optional=True)


def multiple_of(cfg: DictConfig, key: str, divisor: int, divisor_key: str) -> None:
    """``key`` a positive multiple of ``divisor`` (the value at ``divisor_key``)."""
    value = integer(cfg, key, low=1)
    if value % divisor:
        raise ConfigError(f"must be a multiple of {divisor_key} = {divisor}, got {value}", key,
                          f"set {key}={max(divisor, value // divisor * divisor)}")


def changed_leaves(old: Any, new: Any, name: str = "") -> list[tuple[str, Any, Any]]:
    """``(dotted key, old value, new value)`` for every leaf where two nested mappings differ (a key one of them
    lacks: None there)."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        return [leaf for k in sorted(set(old) | set(new))
                for leaf in changed_leaves(old.get(k), new.get(k), f"{name}.{k}" if name else str(k))]
    return [] if old == new else [(name, old, new)]


__all__ = ["boolean", "changed_leaves", "choice", "existing_path", "integer", "integers", "multiple_of", "number",
           "number_range", "runtime", "value_of"]
