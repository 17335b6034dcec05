"""A config against its schema: values of the declared types and no undeclared keys (hydra refuses ``key=value``
for an undeclared key, but ``+key=value`` adds it), each fault a `ConfigError` naming the key."""

from __future__ import annotations

import dataclasses
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, OmegaConfBaseException

from vjepa.runtime.errors import ConfigError


def refuse_unknown_keys(cfg: DictConfig, where: str = "") -> None:
    """A `ConfigError` naming the first key of ``cfg`` (at ``where``) that its dataclass does not declare; free-form
    mappings (``dict[str, Any]`` fields) take any key."""
    node_type = OmegaConf.get_type(cfg)
    if dataclasses.is_dataclass(node_type):
        declared = [f.name for f in dataclasses.fields(node_type)]
        for key in cfg:
            if key not in declared:
                raise ConfigError("unknown key", f"{where}{key}",
                                  f"drop it; {where.rstrip('.') or 'the config'} takes {', '.join(declared)}")
    for key in cfg:
        child = cfg._get_node(key)
        if isinstance(child, DictConfig) and not child._is_missing() and not child._is_none():
            refuse_unknown_keys(child, f"{where}{key}.")


def typed(schema: type, cfg: Any, where: str = "") -> DictConfig:
    """``cfg`` (a dataclass, a mapping or a config; its keys under ``where`` in the command's config) merged onto the
    dataclass ``schema``, so that its values have the declared types and its keys are declared ones."""
    try:
        node = OmegaConf.merge(OmegaConf.structured(schema), cfg)
    except OmegaConfBaseException as e:
        key = ".".join(k for k in (where, str(e.key or "")) if k) or "config"
        fix = (f"{where or 'the config'} takes {', '.join(f.name for f in dataclasses.fields(schema))}"
               if isinstance(e, ConfigKeyError) else "give a value of the key's type")
        raise ConfigError(str(e).splitlines()[0], key, fix) from None
    refuse_unknown_keys(node, f"{where}." if where else "")
    return node
