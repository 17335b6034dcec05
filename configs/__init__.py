"""Hydra's configs: command YAMLs and their groups' presets; `configs.schema` holds every key's type, default and
doc (importing the package registers them with hydra)."""

import configs.schema.commands  # noqa: F401
