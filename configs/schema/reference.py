"""Write the configuration reference page from the registered schemas: ``python -m configs.schema.reference``
prints it (``docs/reference/configuration.md`` holds it; a test checks the page is current)."""

from __future__ import annotations

import dataclasses
import sys
import typing
from typing import Any

from omegaconf import MISSING

import configs.schema.commands  # noqa: F401  (registers every command's schema)
from configs.schema import SCHEMAS


def type_name(tp: Any) -> str:
    """``int``, ``str | None``, ``list[float]``... as a reader writes them."""
    if isinstance(tp, type):
        return tp.__name__
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Union:
        return " | ".join("None" if a is type(None) else type_name(a) for a in args)
    if origin is not None:
        return f"{getattr(origin, '__name__', str(origin))}[{', '.join(type_name(a) for a in args)}]"
    return str(tp).replace("typing.", "")


def default_text(f: dataclasses.Field) -> str:
    if f.default == MISSING:  # omegaconf's "???": a key given on the command line or by a preset
        return "**required**"
    if f.default is not dataclasses.MISSING:
        return "`null`" if f.default is None else f"`{f.default!r}`"
    if f.default_factory is not dataclasses.MISSING:
        value = f.default_factory()
        return "" if dataclasses.is_dataclass(value) else f"`{value!r}`"
    return "**required**"


def rows(node: type, prefix: str = "") -> list[str]:
    """One table row per leaf key of ``node``, nested dataclasses flattened as ``group.key``."""
    out = []
    hints = typing.get_type_hints(node)
    for f in dataclasses.fields(node):
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            out += rows(tp, f"{prefix}{f.name}.")
        else:
            out.append(f"| `{prefix}{f.name}` | {type_name(tp)} | {default_text(f)} | {f.metadata.get('doc', '')} |")
    return out


def page() -> str:
    lines = [
        "# Configuration reference",
        "",
        "Generated from the structured configs in `configs/schema/` by `python -m configs.schema.reference`;",
        "every key can be overridden on the command line (`vjepa-pretrain steps=2000 model=vit_small`).",
    ]
    for name, node in SCHEMAS.items():
        command = name.removesuffix("_schema").replace("_", "-")
        lines += ["", f"## `vjepa-{command}`", "", (node.__doc__ or "").strip().splitlines()[0], "",
                  "| key | type | default | what it is |", "| --- | --- | --- | --- |", *rows(node)]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(page())
