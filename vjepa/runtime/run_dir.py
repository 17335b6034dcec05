"""Run directories: one run at a time, nothing written for a run that did not start, no stale temporaries.

Every command that writes a run (or output) directory goes through `RunDir`::

    with RunDir(cfg.run_dir, "vjepa-pretrain", enabled=dist.is_main, watch=("latest.pt",)) as run:
        ...                   # start-up checks: nothing is written yet (a live run there is refused already)
        run.claim(cfg)        # lock, remove stale temporaries, save the config
        ...                   # the run
    # released: the lock file removed; a directory this run created and left empty removed too

The lock is ``run_dir/.lock``: held with ``fcntl.flock`` (the kernel frees it when its process dies, so a lock
left by a killed run is simply taken over) and holding the holder's pid, host, command and start time, which the
message refusing a second run names. `atomic_write` is how the toolkit replaces files in a run directory (a
temporary ``.<name>.<random>.tmp`` beside the file, fsync, ``os.replace``), with the mode an ordinary ``open``
would give; `RunDir.claim` removes the temporaries a killed write left behind.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from vjepa.runtime.errors import RunDirError

LOCK = ".lock"
CONFIG_DIR = "hydra"  # run_dir/hydra/config.yaml, overrides.yaml: where hydra itself wrote them before
TEMPORARY = ".*.tmp"  # what `atomic_write` leaves behind when killed mid-write


# ------------------------------------------------------------------------------------------ atomic files
def umask() -> int:
    """This process's umask (read without changing it where /proc shows it)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path`` for writing; on leaving the block it is flushed, fsynced and renamed
    onto ``path`` (readers see the old file or the new one, never a part), with the permissions ``open`` would
    have given it (mkstemp's are 0600). On an error the temporary is removed and ``path`` left as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~umask())
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8", "newline": ""})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Replace ``path``'s contents with ``text`` atomically (`atomic_write`)."""
    with atomic_write(path, "w") as f:
        f.write(text)
    return Path(path)


def remove_temporaries(directory: str | Path) -> list[tuple[Path, int]]:
    """Remove the temporaries (``.*.tmp``) killed `atomic_write` calls left in ``directory``; returns them with
    their sizes. Only safe while no live writer uses the directory: under a `RunDir` claim."""
    removed = []
    for tmp in sorted(Path(directory).glob(TEMPORARY)):
        with contextlib.suppress(FileNotFoundError):
            if tmp.is_file() and not tmp.is_symlink():
                size = tmp.stat().st_size
                tmp.unlink()
                removed.append((tmp, size))
    return removed


# ------------------------------------------------------------------------------------------- the lock
def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _holder(text: str) -> dict[str, Any]:
    try:
        info = json.loads(text)
    except ValueError:
        return {}
    return info if isinstance(info, dict) else {}


def describe_holder(info: dict[str, Any]) -> str:
    """'pid 1234 on host h (vjepa-pretrain, started 2025-01-02 10:11:12)' from a lock file's contents."""
    if not info:
        return "another process"
    text = f"pid {info.get('pid', '?')} on host {info.get('host', '?')}"
    detail = [str(info["command"])] if info.get("command") else []
    if info.get("started"):
        detail.append(f"started {info['started']}")
    return text + (f" ({', '.join(detail)})" if detail else "")


def _read_fd(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", "replace")


class RunDir:
    """A run directory claimed by one run: see the module docstring. ``key``: the config key naming it (for
    messages); ``enabled=False`` (DDP ranks > 0) makes every method a no-op; ``watch``: files (names in the
    directory) the run reads before it claims the directory, such as the checkpoint it resumes from: a claim
    refuses when another run rewrote one of them in between."""

    def __init__(self, path: str | Path, command: str, *, key: str = "run_dir", enabled: bool = True,
                 watch: Iterable[str] = (), config_name: str | None = None) -> None:
        self.path = Path(path)
        self.command = command
        self.key = key  # the config key that names the directory, for messages
        self.enabled = enabled
        self.config_name = config_name or command.removeprefix("vjepa-").replace("-", "_")
        self.removed: list[tuple[Path, int]] = []  # stale temporaries the claim removed, with their sizes
        self._watch = {name: self._stat(name) for name in watch} if enabled else {}
        self._fd: int | None = None
        self._created: list[Path] = []  # directories the claim created, deepest first

    # context manager: enter checks, exit releases
    def __enter__(self) -> RunDir:
        self.check_free()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    @property
    def lock_path(self) -> Path:
        return self.path / LOCK

    @property
    def claimed(self) -> bool:
        return self._fd is not None

    def _stat(self, name: str) -> tuple[int, int, int] | None:
        try:
            st = (self.path / name).stat()
        except OSError:
            return None
        return st.st_ino, st.st_mtime_ns, st.st_size

    def _refuse(self, info: dict[str, Any]) -> RunDirError:
        holder = describe_holder(info)
        if info.get("host") == socket.gethostname() and isinstance(info.get("pid"), int) \
                and not _pid_alive(info["pid"]):
            holder += " — it has exited but a child process of it still holds the lock"
        return RunDirError(f"{self.key} {self.path} is in use by {holder}", self.key,
                           f"wait for it, or choose another {self.key}")

    def check_free(self) -> None:
        """Refuse now, leaving nothing behind, when the directory cannot be written (an `OSError` naming it) or a
        live run holds it (the claim checks again)."""
        if not self.enabled or self.claimed:
            return
        self._check_writable()
        try:
            fd = os.open(self.lock_path, os.O_RDONLY)
        except OSError:
            return  # no lock file (or no directory): free
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise self._refuse(_holder(_read_fd(fd))) from None
        finally:
            os.close(fd)  # frees the probe's lock

    def _check_writable(self) -> None:
        """Make and remove a probe directory where the claim will write: in the run directory, or in its nearest
        existing parent when it does not exist yet (permissions alone do not tell: root, read-only mounts)."""
        missing = self._missing_dirs()
        where = missing[-1].parent if missing else self.path
        if not where.is_dir():
            return  # the claim names a file where the directory should be
        try:
            os.rmdir(tempfile.mkdtemp(dir=where, prefix=".vjepa-probe."))
        except OSError as err:
            raise OSError(err.errno, err.strerror, str(self.path)) from None

    def claim(self, cfg: Any = None, overrides: Sequence[str] | None = None) -> RunDir:
        """Take the directory for this run (once its start-up checks passed): the lock (refusing a live holder,
        taking over a dead one's), then remove stale temporaries and save ``cfg`` (resolved) and the command
        line's ``overrides`` (default: hydra's, when this command's config is hydra's job) to
        ``hydra/config.yaml`` and ``hydra/overrides.yaml``."""
        if not self.enabled or self.claimed:
            return self
        self._make_dirs()
        self._lock()
        try:
            for name, before in self._watch.items():
                if self._stat(name) != before:
                    raise RunDirError(f"{self.path / name} was rewritten by another run while this one started",
                                      self.key, "run again to start from it")
            self.removed = remove_temporaries(self.path) + remove_temporaries(self.path / CONFIG_DIR)
            if self.removed:
                size = sum(size for _, size in self.removed)
                print(f"{self.command}: removed {len(self.removed)} temporary files ({size / 1e6:.1f} MB) that "
                      f"interrupted writes left in {self.path}", file=sys.stderr)
            if cfg is not None:
                self.save_config(cfg, overrides)
        except BaseException:
            self.release()
            raise
        return self

    def save_config(self, cfg: Any, overrides: Sequence[str] | None = None) -> None:
        """``hydra/config.yaml`` (``cfg`` resolved) and ``hydra/overrides.yaml`` (when known), atomically."""
        from omegaconf import OmegaConf

        text = OmegaConf.to_yaml(cfg, resolve=True) if OmegaConf.is_config(cfg) else OmegaConf.to_yaml(
            OmegaConf.create(cfg))
        write_text_atomic(self.path / CONFIG_DIR / "config.yaml", text)
        if overrides is None:
            overrides = hydra_overrides(self.config_name)
        if overrides is not None:
            write_text_atomic(self.path / CONFIG_DIR / "overrides.yaml", OmegaConf.to_yaml(list(overrides)))

    def release(self) -> None:
        """Remove the lock file and free the lock; remove the directories the claim created if still empty."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):  # unlinked while held: a waiting claimer sees the file is gone
            if os.path.samestat(os.fstat(fd), os.stat(self.lock_path)):
                self.lock_path.unlink()
        os.close(fd)
        for directory in self._created:
            with contextlib.suppress(OSError):
                directory.rmdir()  # only when empty

    def _make_dirs(self) -> None:
        if self.path.exists() and not self.path.is_dir():
            raise RunDirError(f"{self.path} is a file, not a directory", self.key, "choose a directory")
        missing = self._missing_dirs()
        self.path.mkdir(parents=True, exist_ok=True)
        self._created = missing

    def _missing_dirs(self) -> list[Path]:
        """The run directory and those of its parents that do not exist yet, deepest first."""
        missing = []
        for directory in (self.path, *self.path.parents):
            if directory.exists():
                break
            missing.append(directory)
        return missing

    def _lock(self) -> None:
        info = {"pid": os.getpid(), "host": socket.gethostname(), "command": self.command,
                "started": time.strftime("%Y-%m-%d %H:%M:%S"), "argv": sys.argv}
        tries = 5  # a moment's patience for another process's `check_free`, which holds the lock for a moment
        while True:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as err:
                held = err.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES)
                text = _read_fd(fd)
                os.close(fd)
                if not held:
                    raise
                tries -= 1
                if tries == 0:
                    raise self._refuse(_holder(text)) from None
                time.sleep(0.05)
                continue
            try:  # the file may have been unlinked by a releasing holder between our open and flock
                current = os.stat(self.lock_path)
            except FileNotFoundError:
                current = None
            if current is None or not os.path.samestat(os.fstat(fd), current):
                os.close(fd)
                continue
            break
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, (json.dumps(info) + "\n").encode())
        self._fd = fd


def hydra_overrides(config_name: str) -> list[str] | None:
    """The command line's overrides when hydra's job runs ``config_name`` (not, say, the demo calling a stage);
    else None."""
    try:
        from hydra.core.hydra_config import HydraConfig

        if not HydraConfig.initialized():
            return None
        hydra_cfg = HydraConfig.get()
    except Exception:  # noqa: BLE001 — no hydra job: nothing to record
        return None
    if hydra_cfg.job.config_name != config_name:
        return None
    return list(hydra_cfg.overrides.task)


__all__ = ["RunDir", "atomic_write", "describe_holder", "hydra_overrides", "remove_temporaries", "umask",
           "write_text_atomic"]
