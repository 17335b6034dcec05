"""A stage's config as a command would compose it (configs/<name>.yaml through hydra's compose API), with
settings merged over it: how `planning.demo` runs each stage and `planning.visualize` composes a plan config."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, OmegaConf

from vjepa.runtime.errors import ConfigError


@contextlib.contextmanager
def _hydra_ready() -> Iterator[None]:
    """Hydra's compose API, initialised on the ``configs`` package unless it already is (inside hydra.main)."""
    if GlobalHydra.instance().is_initialized():
        yield
    else:
        with initialize_config_module(config_module="configs", version_base="1.3"):
            yield


def stage_config(name: str, groups: list[str], settings: Any, fixed: dict[str, Any],
                 runtime: Mapping[str, Any] | None = None) -> DictConfig:
    """Compose configs/<name>.yaml with group choices ``groups``, then merge the ``runtime`` keys (the demo's
    `planning.demo.runtime_settings`), the ``settings`` section (unknown keys are errors) and the ``fixed`` values
    (paths)."""
    with _hydra_ready():
        cfg = compose(config_name=name, overrides=groups)
    settings = OmegaConf.to_container(settings, resolve=True) if isinstance(settings, DictConfig) else settings
    try:
        cfg = OmegaConf.merge(cfg, runtime or {}, settings or {})
    except Exception as e:  # ConfigKeyError and friends: name the stage
        raise ConfigError(f"{name} settings {settings} do not fit configs/{name}.yaml: {e}", name,
                          f"set only keys configs/{name}.yaml takes") from e
    for key, value in fixed.items():
        OmegaConf.update(cfg, key, value, merge=False)
    return cfg
