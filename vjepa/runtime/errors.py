"""User errors and the one handler every console script runs under.

A `UserError` is a problem with what the user gave — a config value, a file, a directory — not a bug. The handler
prints it as one line, ``error: <what> (<key or file>) — <what to do>``, and exits with status 2; the traceback
appears only when ``VJEPA_DEBUG=1`` or ``HYDRA_FULL_ERROR=1`` is set. Operating-system errors a user causes and can
fix (a read-only directory, a full disk, a missing file) are reported the same way. Anything else is a bug and
keeps its traceback.
"""

from __future__ import annotations

import errno
import functools
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

DEBUG_VARIABLES = ("VJEPA_DEBUG", "HYDRA_FULL_ERROR")
USER_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOENT, errno.EISDIR,
               errno.ENOTDIR}
USER_OS_FIXES = {
    errno.ENOSPC: "free disk space or write elsewhere",
    errno.EDQUOT: "free disk space or write elsewhere",
    errno.EACCES: "make it writable or choose another path",
    errno.EPERM: "make it writable or choose another path",
    errno.EROFS: "the file system is read-only: choose another path",
    errno.ENOENT: "check the path",
    errno.EISDIR: "give a file, not a directory",
    errno.ENOTDIR: "give a directory",
}


class UserError(Exception):
    """Something the user gave is wrong: ``what`` went wrong, ``where`` (the config key or file at fault) and
    ``fix`` (what to do). Printed as one line by `user_errors`."""

    def __init__(self, what: str, where: str | None = None, fix: str | None = None) -> None:
        self.what, self.where, self.fix = what, where, fix
        super().__init__(what + (f" ({where})" if where else "") + (f" — {fix}" if fix else ""))


class ConfigError(UserError, ValueError):
    """A config value that is missing, of the wrong type, out of range or inconsistent with another."""


class DataError(UserError, ValueError):
    """Input data (a dataset, a video folder, an episode file) that is malformed or lacks what was asked for."""


class MissingFileError(UserError, FileNotFoundError):
    """A file or directory the user named, or that a dataset lists, is not there."""


class RunDirError(UserError):
    """A run directory that cannot be used: taken by a live run, or holding another run's checkpoint."""


def debugging() -> bool:
    """Whether the user asked for tracebacks (``VJEPA_DEBUG=1`` or ``HYDRA_FULL_ERROR=1``)."""
    return any(os.environ.get(name, "") not in ("", "0") for name in DEBUG_VARIABLES)


def error_line(err: BaseException) -> str | None:
    """The one line a user sees for ``err``, or None when it is not a user error (a bug: keep the traceback)."""
    if isinstance(err, UserError):
        return f"error: {err}"
    if isinstance(err, OSError) and err.errno in USER_ERRNOS:
        where = err.filename if err.filename is not None else "?"
        return f"error: {err.strerror or err} ({where}) — {USER_OS_FIXES[err.errno]}"
    return None


def user_errors(main: F) -> F:
    """Run a console script's main so that a user error ends it with one line on stderr and exit status 2."""

    @functools.wraps(main)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            return main(*args, **kwargs)
        except (UserError, OSError) as err:
            line = error_line(err)
            if line is None or debugging():
                raise
            sys.stdout.flush()
            print(line, file=sys.stderr, flush=True)
            raise SystemExit(2) from None

    return guarded  # type: ignore[return-value]


__all__ = ["ConfigError", "DataError", "MissingFileError", "RunDirError", "UserError", "debugging", "error_line",
           "user_errors"]
