"""Atomic writes: outputs appear complete or not at all.

Writers get a temporary sibling of the target (same folder, so the final move is a rename on the
same file system); only after the writer returns is it moved into place. A failing writer leaves
nothing behind, and readers never see a half-written file or Zarr folder.

Remote locations (``s3://``) are written the same way from the writer's point of view: it gets a
local temporary path, which is uploaded when it returns (:func:`ocr_assets.storage.objects.upload`:
one PUT for a file, a temporary prefix copied into place for a folder).
"""

from __future__ import annotations

import os
import posixpath
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ocr_assets.storage import objects
from ocr_assets.storage.paths import StorageError, is_remote, local_path


def ensure_writable(location: str) -> Path | None:
    """Create the folder ``location`` if needed and prove that files can be created in it.

    For a remote prefix, a probe object is written and deleted; nothing is returned.

    Raises:
        StorageError: naming the folder and the operating system's (or store's) reason.
    """
    if is_remote(location):
        objects.ensure_writable_remote(location)
        return None
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
    fails, the old folder is put back). A remote ``location`` gets a path in a local temporary
    folder, uploaded on success.
    """
    if is_remote(location):
        with tempfile.TemporaryDirectory(prefix="ocr-upload-") as staging:
            tmp = Path(staging) / posixpath.basename(location.rstrip("/"))
            yield tmp
            if not tmp.exists():
                raise StorageError(f"writer for {location} produced nothing")
            objects.upload(tmp, location)
        return
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
