"""The ledger's files: checking a SQLite file's header, creating one atomically, the writer lock.

- :func:`check_file` reads the 100-byte SQLite header and the file length, so that a
  file which is not SQLite, or was cut short, is refused before SQLite opens it.
- :func:`create_atomically` builds a new file under a temporary name in the same folder,
  syncs it, renames it into place and syncs the folder: a process killed at any point
  leaves either no file or the whole one, never a 0-byte or half-built ledger.
- :class:`WriterLock` is an exclusive ``flock`` on ``<name>.lock`` beside the file, held
  for a writer's lifetime. The kernel drops it when the process dies, so a killed
  writer never leaves a stale lock; two opens in one process conflict too.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
from collections.abc import Callable
from pathlib import Path

from catallax.exchange.ledger.errors import CorruptStore, WriterLocked

__all__ = ["WriterLock", "check_file", "create_atomically"]

_MAGIC = b"SQLite format 3\x00"


def _step(name: str) -> None:
    """Called after each step of :func:`create_atomically`; tests replace it to kill there."""


def _header_problem(path: Path) -> tuple[str | None, str | None]:
    """(what is wrong with the header, what is wrong with the length), or Nones."""
    try:
        with path.open("rb") as handle:
            header = handle.read(100)
        length = path.stat().st_size
    except OSError as exc:
        return f"{path}: cannot read ({exc.strerror or exc})", None
    if len(header) < 100 or not header.startswith(_MAGIC):
        return f"{path}: not a SQLite database (bad or truncated header)", None
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    if page_size < 512 or page_size & (page_size - 1):
        return f"{path}: corrupted header (page size {page_size})", None
    pages = int.from_bytes(header[28:32], "big")
    header_valid = header[24:28] == header[92:96]
    if length % page_size:
        return None, f"{path}: truncated ({length} bytes is not a whole number of pages)"
    if header_valid and length < pages * page_size:
        return None, (
            f"{path}: truncated ({length} bytes, the header says {pages} pages of {page_size})"
        )
    return None, None


def _wal_in_use(path: Path) -> bool:
    wal = path.with_name(path.name + "-wal")
    try:
        return wal.stat().st_size > 0
    except OSError:
        return False


def check_file(path: Path) -> None:
    """Check the file header and length; :class:`CorruptStore` if not a whole SQLite file.

    While a write-ahead log is in use, a checkpoint may be copying pages into the file
    (page 1 first), so for a moment the file is shorter than its header says; the
    length is then left to SQLite, which reads the log too. If the log has just gone,
    the file is read again.
    """
    for _ in range(2):
        bad_header, bad_length = _header_problem(path)
        if bad_header:
            raise CorruptStore(bad_header)
        if bad_length is None or _wal_in_use(path):
            return
    raise CorruptStore(bad_length)


def _fsync(path: Path, flags: int = os.O_RDONLY) -> None:
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _temporaries(path: Path) -> list[Path]:
    return sorted(path.parent.glob(f".{path.name}.*.tmp*"))


def create_atomically(path: Path, build: Callable[[Path], None]) -> None:
    """Make ``path`` by ``build(temporary path)``, then sync and rename it into place.

    The caller holds the :class:`WriterLock`, so no other creator runs; leftovers of a
    creation that was killed (``.<name>.<token>.tmp`` and its ``-wal``/``-shm``) are
    removed first. If ``path`` appeared meanwhile, it is left as it is.
    """
    for stale in _temporaries(path):
        stale.unlink(missing_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        build(temporary)  # calls _step between its own steps
        _fsync(temporary)
        _step("synced")
        if path.exists():
            return
        os.rename(temporary, path)
        _step("renamed")
        _fsync(path.parent, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        _step("folder synced")
    finally:
        for leftover in _temporaries(path):
            leftover.unlink(missing_ok=True)


class WriterLock:
    """An exclusive, non-blocking ``flock`` on ``<file without suffix>.lock``."""

    def __init__(self, path: Path) -> None:
        self.path = path.with_suffix(".lock")
        folder = path.parent
        self._fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.release()
            raise WriterLocked(f"another writer holds {folder}") from None
        except BaseException:
            self.release()
            raise

    def release(self) -> None:
        """Drop the lock (closing the descriptor releases it); idempotent."""
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
