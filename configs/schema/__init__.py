"""Structured configs: every command's keys, with their types, defaults and one-line docs, in one place.

Each command's root config is a dataclass registered here under ``<command>_schema``; its YAML
(``configs/<command>.yaml``) names the schema first in its defaults list and keeps only presets and choices:

    defaults:
      - pretrain_schema
      - model: vit_tiny
      - _self_

Hydra then type-checks every override and refuses unknown keys, code reads ``cfg.key`` (never
``cfg.get(key, default)``: the default lives in the dataclass), and ``python -m configs.schema.reference`` writes
the configuration reference page from the same fields. A field is declared with `doc`:

    steps: int = doc(1000, "optimiser steps of the whole run")

Each schema module also holds its command's start-up checks (``check(cfg)``: ranges, choices, paths, keys that
must agree), and a console script runs under `vjepa.runtime.command`, which reports hydra's own refusals (a value
of the wrong type, an unknown key, a missing preset) as the same one-line errors. A run's saved config is read
through `merged`, so that a run from before a key existed gets the key's default.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import MISSING, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

SCHEMAS: dict[str, type] = {}  # schema name -> root dataclass (the reference page lists them by name)


def doc(default: Any = MISSING, text: str = "") -> Any:
    """A dataclass field with its default and a one-line doc (lists, dicts and dataclasses are copied per
    instance). No default (``MISSING``): the key must be given, on the command line or by a preset."""
    if default is MISSING:
        return field(metadata={"doc": text})
    if isinstance(default, (list, dict)) or hasattr(default, "__dataclass_fields__"):
        return field(default_factory=lambda: copy.deepcopy(default), metadata={"doc": text})
    return field(default=default, metadata={"doc": text})


def register(name: str, node: type) -> type:
    """Store ``node`` as the schema ``name`` (a command's YAML lists it first in its defaults); returns ``node``."""
    ConfigStore.instance().store(name=name, node=node)
    SCHEMAS[name] = node
    return node


def merged(node: type, saved: Mapping[str, Any]) -> DictConfig:
    """``saved`` (a run's saved config, or part of one) merged onto the schema ``node``: keys it lacks (a run from
    before they existed) take the schema's defaults, top-level keys the schema lacks are kept, values are
    type-checked."""
    base = OmegaConf.structured(node)
    OmegaConf.set_struct(base, False)
    return OmegaConf.merge(base, saved)
