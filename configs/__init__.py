"""Hydra's configs: each command's YAML (presets and choices) over its structured schema (`configs.schema`), which
importing this package registers."""

import configs.schema.commands  # noqa: F401
