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
    """``int``, ``str | None``, ``list[float]``... as a reader writes them (``Any``: a value of several kinds, e.g.
    a number or a [min, max] pair)."""
    if isinstance(tp, type):
        return tp.__name__
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Union:
        return " | ".join("None" if a is type(None) else type_name(a) for a in args)
    if origin is not None:
        return f"{getattr(origin, '__name__', str(origin))}[{', '.join(type_name(a) for a in args)}]"
    return str(tp).replace("typing.", "")


def yaml_text(value: Any) -> str:
    """A value as it is written in YAML or on the command line: ``true``, ``null``, ``[0.5, 1.0]``, ``auto``."""
    if isinstance(value, bool):
        return str(value).lower()
    if value is None:
        return "null"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(yaml_text(v) for v in value) + "]"
    return str(value)


def default_text(f: dataclasses.Field) -> str:
    if f.default == MISSING:  # omegaconf's "???": a key given on the command line or by a preset
        return "**required**"
    if f.default is not dataclasses.MISSING:
        return f"`{yaml_text(f.default)}`"
    if f.default_factory is not dataclasses.MISSING:
        value = f.default_factory()
        return "" if dataclasses.is_dataclass(value) else f"`{yaml_text(value)}`"
    return "**required**"


def nested(tp: Any) -> tuple[type | None, str]:
    """The dataclass a field holds (directly, as an Optional or as list items) and the key suffix of its keys."""
    if dataclasses.is_dataclass(tp):
        return tp, "."
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if typing.get_origin(tp) is typing.Union and len(args) == 1 and dataclasses.is_dataclass(args[0]):
        return args[0], "."
    if typing.get_origin(tp) is list and args and dataclasses.is_dataclass(args[0]):
        return args[0], "[]."
    return None, ""


def cell(text: str) -> str:
    return text.replace("|", "\\|")


def rows(node: type, prefix: str = "", skip: frozenset[str] = frozenset()) -> list[str]:
    """One table row per key of ``node`` but ``skip``, nested dataclasses flattened as ``group.key`` (list items as
    ``group[].key``) after a row for the group itself."""
    out = []
    hints = typing.get_type_hints(node)
    for f in dataclasses.fields(node):
        if f.name in skip:
            continue
        tp = hints[f.name]
        out.append(f"| `{prefix}{f.name}` | {cell(type_name(tp))} | {cell(default_text(f))} | "
                   f"{cell(f.metadata.get('doc', ''))} |")
        inner, joint = nested(tp)
        if inner is not None:
            out += rows(inner, f"{prefix}{f.name}{joint}") + kind_rows(inner, f"{prefix}{f.name}{joint}")
    return out


def kinds(node: type) -> list[type]:
    """The leaf subclasses of ``node`` that name their kind (a ``name`` key): the kinds a group's presets choose
    between (``planner=cem | mppi | ...``)."""
    named = [sub for sub in node.__subclasses__() if "name" in {f.name for f in dataclasses.fields(sub)}]
    return [leaf for sub in named for leaf in (kinds(sub) or [sub])]


def kind_rows(node: type, prefix: str) -> list[str]:
    """One row per key the kinds of ``node`` add to it, marked with the kinds (their ``name``) that take it."""
    base = {f.name for f in dataclasses.fields(node)}
    taken: dict[tuple[str, str, str, str], list[str]] = {}
    for kind in kinds(node):
        hints = typing.get_type_hints(kind)
        for f in dataclasses.fields(kind):
            if f.name not in base:
                row = (f.name, type_name(hints[f.name]), default_text(f), f.metadata.get("doc", ""))
                taken.setdefault(row, []).append(getattr(kind, "name", kind.__name__))
    return [f"| `{prefix}{key}` | {cell(tp)} | {cell(default)} | ({', '.join(names)}) {cell(text)} |"
            for (key, tp, default, text), names in taken.items()]


def page() -> str:
    lines = [
        "# Configuration reference",
        "",
        "Generated from the structured configs in `configs/schema/` by `python -m configs.schema.reference`;",
        "every key can be overridden on the command line (`vjepa-pretrain steps=2000 model=vit_small`).",
    ]
    commands = {node: command_name(name) for name, node in SCHEMAS.items()}
    for name, node in sorted(SCHEMAS.items()):  # by command name
        summary = " ".join(line.strip() for line in (node.__doc__ or "").strip().split("\n\n")[0].splitlines())
        lines += ["", f"## `{commands[node]}`", "", summary, ""]
        base = next((b for b in node.__mro__[1:] if b in commands), None)  # a command whose keys it takes too
        skip = frozenset(f.name for f in dataclasses.fields(base)) if base else frozenset()
        if base:
            lines += [f"Every key of [`{commands[base]}`](#{commands[base]}), and:", ""]
        lines += ["| key | type | default | what it is |", "| --- | --- | --- | --- |", *rows(node, skip=skip)]
    return "\n".join(lines) + "\n"


def command_name(schema: str) -> str:
    """``pretrain_schema`` -> ``vjepa-pretrain``."""
    return "vjepa-" + schema.removesuffix("_schema").replace("_", "-")


if __name__ == "__main__":
    sys.stdout.write(page())
