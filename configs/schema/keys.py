"""Keys a structured config does not declare: hydra refuses ``key=value`` for them, but ``+key=value`` adds them."""

from __future__ import annotations

import dataclasses

from omegaconf import DictConfig, OmegaConf

from vjepa.runtime.errors import ConfigError


def refuse_unknown_keys(cfg: DictConfig, where: str = "") -> None:
    """A `ConfigError` naming the first key of ``cfg`` (at ``where``) that its dataclass does not declare; free-form
    mappings (``dict[str, Any]`` fields) take any key."""
    node_type = OmegaConf.get_type(cfg)
    if dataclasses.is_dataclass(node_type):
        declared = [f.name for f in dataclasses.fields(node_type)]
        for key in cfg:
            if key not in declared:
                raise ConfigError("unknown key", f"{where}{key}", f"drop it; {where.rstrip('.') or 'the config'} takes "
                                                                  f"{', '.join(declared)}")
    for key in cfg:
        child = cfg._get_node(key)
        if isinstance(child, DictConfig) and not child._is_missing() and not child._is_none():
            refuse_unknown_keys(child, f"{where}{key}.")
