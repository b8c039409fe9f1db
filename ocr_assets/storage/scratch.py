"""Scratch folders that do not outlive their process, even a killed one.

``tempfile.TemporaryDirectory`` cleans up when its ``with`` block exits, which a killed process
never does: tippecanoe's scratch space (gigabytes at full size) then stays in the system temp
folder for good. :func:`scratch_dir` names its folder after this host and process, removes it on
every exit path of the block, and first removes the scratch folders that dead processes of this
host left behind with the same prefix.

A scratch folder on a full disk: :func:`require_space` refuses to start work whose estimated
needs exceed the folder's free space, and :func:`reporting_full_disk` turns a write that fails
with ``ENOSPC`` into the same :class:`ScratchSpaceError`, naming the folder, the space needed
and the space available.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ocr_assets.storage.atomic import HOST, process_alive
from ocr_assets.storage.errors import StorageError


class ScratchSpaceError(StorageError):
    """A scratch folder has not the space a tool needs; the message names the folder, the
    space needed and the space available (final: a retry would find the same disk)."""

    def __init__(
        self,
        what: str,
        folder: Path,
        needed: int,
        available: int,
        detail: str = "",
        at_least: bool = False,
    ) -> None:
        """``what`` failed or was refused in ``folder`` (``detail``: the error that ran out;
        ``at_least``: ``needed`` is a lower bound, not an estimate)."""
        self.folder, self.needed, self.available = folder, needed, available
        happened = f"ran out of space ({detail})" if detail else "has not enough space"
        needs = "more than" if at_least else "about"
        super().__init__(
            f"{what}: the scratch folder {folder} {happened}: needs {needs} {_size(needed)}, "
            f"{_size(available)} available; free space there, or point the system temp folder "
            "(TMPDIR) at a larger disk"
        )


def _size(count: int) -> str:
    """``1.5 GB (1500000000 bytes)``."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= scale:
            return f"{count / scale:.1f} {unit} ({count} bytes)"
    return f"{count} bytes"


def free_space(folder: str | Path) -> int:
    """Bytes free for this process in the file system holding ``folder``."""
    return shutil.disk_usage(folder).free


def require_space(folder: Path, needed: int, what: str) -> int:
    """The free space of ``folder``, or :class:`ScratchSpaceError` when under ``needed``."""
    available = free_space(folder)
    if available < needed:
        raise ScratchSpaceError(what, folder, needed, available)
    return available


@contextmanager
def reporting_full_disk(
    folder: Path, needed: int, available: int | None, what: str, at_least: bool = False
) -> Iterator[None]:
    """Re-raise an ``OSError`` of errno ``ENOSPC`` in the block as :class:`ScratchSpaceError`
    (``available``: the free space when the work started, measured now when ``None``;
    ``at_least``: ``needed`` is a lower bound)."""
    if available is None:
        available = free_space(folder)
    try:
        yield
    except OSError as error:
        if error.errno != errno.ENOSPC:
            raise
        detail = os.strerror(error.errno)
        raise ScratchSpaceError(what, folder, needed, available, detail, at_least) from error


def sweep_scratch(prefix: str, parent: Path) -> list[Path]:
    """Remove the ``{prefix}`` scratch folders of dead processes of this host under ``parent``."""
    pattern = re.compile(rf"^{re.escape(prefix)}{HOST}-(\d+)-[0-9a-f]+$")
    swept = []
    for entry in sorted(parent.glob(f"{prefix}{HOST}-*")):
        match = pattern.match(entry.name)
        if match and not process_alive(int(match[1])):
            shutil.rmtree(entry, ignore_errors=True)
            swept.append(entry)
    return swept


@contextmanager
def scratch_dir(prefix: str, parent: str | Path | None = None) -> Iterator[Path]:
    """A fresh folder ``{parent}/{prefix}{host}-{pid}-{token}``, removed when the block exits.

    ``parent`` defaults to the system temp folder. Stale folders of dead processes with the
    same prefix are swept first.
    """
    base = Path(parent) if parent is not None else Path(tempfile.gettempdir())
    base.mkdir(parents=True, exist_ok=True)
    sweep_scratch(prefix, base)
    folder = base / f"{prefix}{HOST}-{os.getpid()}-{uuid.uuid4().hex[:12]}"
    folder.mkdir()
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
