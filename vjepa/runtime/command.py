"""The hydra entry point of every configured console script: ``@command("pretrain")`` composes
configs/pretrain.yaml (its schema first) with the command line and runs the decorated function under `user_errors`.

An override hydra refuses while composing — a value of the wrong type (``steps=abc``), a key the schema lacks, a
preset that does not exist — is a user error too: one line, exit status 2, as the start-up checks report theirs.
"""

from __future__ import annotations

import functools
import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import hydra
from hydra.errors import HydraException, MissingConfigException
from omegaconf import DictConfig
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException, ValidationError

from vjepa.runtime.errors import ConfigError, debugging, user_errors

FULL_ERROR = "HYDRA_FULL_ERROR"  # set while hydra composes, so that its errors reach `command` unprinted
TYPE_NAMES = {"Integer": "an integer", "Float": "a number", "Boolean": "true or false", "Bool": "true or false",
              "String": "a string"}


def composition_error(err: BaseException) -> ConfigError:
    """The one-line `ConfigError` for an error hydra raised while composing the config."""
    cause = err.__cause__ if isinstance(err.__cause__, OmegaConfBaseException) else err
    key = getattr(cause, "full_key", None) or None
    text = str(cause).strip().splitlines()
    if isinstance(cause, ValidationError) and key:
        value = re.match(r"Value '(.*?)'", text[0])
        want = re.search(r"converted to (\w+)", text[0]) or re.search(r"not a valid (bool)", text[0])
        if value and want:
            want_text = TYPE_NAMES.get(want.group(1).capitalize(), want.group(1))
            return ConfigError(f"must be {want_text}, got {value.group(1)!r}", key, f"set {key} to {want_text}")
        return ConfigError(text[0], key, f"check {key}")
    if isinstance(cause, (ConfigKeyError, ConfigAttributeError)) and key:
        return ConfigError("no such key", key, "check its spelling (--cfg job prints every key)")
    if isinstance(cause, MissingConfigException) and cause.missing_cfg_file and cause.options:
        group, _, option = cause.missing_cfg_file.rpartition("/")
        return ConfigError(f"no preset {option!r}", group or None, f"choose one of {', '.join(cause.options)}")
    return ConfigError(text[0] if text else type(err).__name__, None, "check the command line")


def command(config_name: str) -> Callable[[Callable[[DictConfig], Any]], Callable[[], Any]]:
    """Decorate a console script's ``main(cfg)``: hydra composes ``configs/<config_name>.yaml`` with the command
    line, then ``main`` runs under `user_errors`; errors composing the config are one line too."""

    def decorate(main: Callable[[DictConfig], Any]) -> Callable[[], Any]:
        guarded = user_errors(main)
        state: dict[str, Any] = {}

        @functools.wraps(main)
        def task(cfg: DictConfig) -> Any:
            if "before" in state:
                _restore(state["before"])  # the task sees the user's environment (tracebacks as they asked)
                state["composed"] = True
            return guarded(cfg)

        hydra_main = hydra.main(config_path="pkg://configs", config_name=config_name, version_base="1.3")(task)

        @functools.wraps(main)
        def run() -> Any:
            state.clear()
            if debugging():
                return hydra_main()
            state.update(before=os.environ.get(FULL_ERROR), composed=False)
            try:
                with _hydra_raises(state["before"]):
                    return hydra_main()
            except (HydraException, OmegaConfBaseException) as err:
                if state["composed"]:
                    raise
                sys.stdout.flush()
                print(f"error: {composition_error(err)}", file=sys.stderr, flush=True)
                raise SystemExit(2) from None

        return run

    return decorate


@contextmanager
def _hydra_raises(before: str | None) -> Iterator[None]:
    os.environ[FULL_ERROR] = "1"
    try:
        yield
    finally:
        _restore(before)


def _restore(before: str | None) -> None:
    if before is None:
        os.environ.pop(FULL_ERROR, None)
    else:
        os.environ[FULL_ERROR] = before


__all__ = ["command", "composition_error"]
