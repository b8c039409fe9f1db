"""Scratch folders that do not outlive their process, even a killed one.

``tempfile.TemporaryDirectory`` cleans up when its ``with`` block exits, which a killed process
never does: tippecanoe's scratch space (gigabytes at full size) then stays in the system temp
folder for good. :func:`scratch_dir` names its folder after this host and process, removes it on
every exit path of the block, and first removes the scratch folders that dead processes of this
host left behind with the same prefix.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ocr_assets.storage.atomic import HOST, process_alive


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
