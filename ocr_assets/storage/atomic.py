"""Atomic writes: outputs appear complete or not at all.

Writers get a temporary sibling of the target (same folder, so the final move is a rename on the
same file system); only after the writer returns is it moved into place. A failing writer leaves
nothing behind, and readers never see a half-written file or Zarr folder.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ocr_assets.storage.paths import StorageError, local_path


def ensure_writable(location: str) -> Path:
    """Create the folder ``location`` if needed and prove that files can be created in it.

    Raises:
        StorageError: naming the folder and the operating system's reason.
    """
    folder = local_path(location)
    probe = folder / f".write-probe-{uuid.uuid4().hex}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe.touch()
        probe.unlink()
    except OSError as error:
        raise StorageError(f"cannot write to {folder}: {error.strerror or error}") from error
    return folder


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@contextmanager
def atomic_output(location: str) -> Iterator[Path]:
    """Yield a temporary path to write a file or folder to; move it to ``location`` on success.

    An existing output is replaced: a file with one atomic ``os.replace``; a folder is first
    renamed aside, then the new one renamed in, then the old one deleted (if the second rename
    fails, the old folder is put back).
    """
    target = local_path(location)
    ensure_writable(str(target.parent))
    token = uuid.uuid4().hex[:12]
    tmp = target.with_name(f".{target.name}.tmp-{token}")
    try:
        yield tmp
        if not tmp.exists():
            raise StorageError(f"writer for {target} produced nothing")
        if tmp.is_dir() and target.exists():
            aside = target.with_name(f".{target.name}.old-{token}")
            os.rename(target, aside)
            try:
                os.rename(tmp, target)
            except OSError:
                os.rename(aside, target)
                raise
            _remove(aside)
        else:
            os.replace(tmp, target)
    finally:
        _remove(tmp)
