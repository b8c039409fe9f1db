"""Atomic writes: outputs appear complete or not at all, and a replaced output never vanishes.

Writers get a temporary sibling of the target (same folder, so the final move is a rename on the
same file system); only after the writer returns is it moved into place. A failing writer leaves
nothing behind, and readers never see a half-written file or Zarr folder.

Replacing. A file is replaced with one atomic ``os.replace``. A folder cannot be renamed over a
non-empty folder, so on Linux the new and the old folder are swapped in one atomic
``renameat2(RENAME_EXCHANGE)``: readers see the old complete folder or the new one, never none,
whenever the process dies. Elsewhere (or on file systems without the call) the old folder is
renamed aside and the new one renamed in; a process killed between the two renames leaves the
old folder aside, and the next write to that folder puts it back before doing anything else.

Leftovers. Temporary names carry the writing host and process: ``.{name}.tmp-{host}-{pid}-
{token}`` (and ``.old-`` for a folder renamed aside). Each write first sweeps the leftovers of
dead processes of this host from the target's folder, so a killed run's temporary files do not
outlive the next run; those of live processes (concurrent region writers) are left alone.

Remote locations (``s3://``) are written the same way from the writer's point of view: it gets a
local temporary path, which is uploaded when it returns (:func:`ocr_assets.storage.objects.upload`:
one PUT for a file, a temporary prefix copied into place for a folder).
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import json
import os
import posixpath
import re
import shutil
import socket
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from ocr_assets.storage import objects
from ocr_assets.storage.errors import StorageError
from ocr_assets.storage.layout import is_remote, local_path

#: This host in temporary names (hostnames may hold characters a file name should not).
HOST = hashlib.sha1(socket.gethostname().encode()).hexdigest()[:8]
_LEFTOVER = re.compile(
    r"^\.(?P<name>.+)\.(?P<kind>tmp|old)-(?P<host>[0-9a-f]{8})-(?P<pid>\d+)-[0-9a-f]+$"
)

T = TypeVar("T")

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _load_renameat2() -> object | None:
    try:
        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    function.argtypes = [
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_uint,
    ]
    function.restype = ctypes.c_int
    return function


_renameat2 = _load_renameat2()


def exchange(first: Path, second: Path) -> bool:
    """Atomically swap two existing paths; ``False`` when the platform or file system cannot.

    Raises:
        OSError: for any other failure (naming ``first``).
    """
    if _renameat2 is None:
        return False
    if (
        _renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE)
        == 0
    ):
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(first))


def process_alive(pid: int) -> bool:
    """True when a process ``pid`` runs on this host (or may: not ours to signal)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def leftover_name(target: Path, kind: str = "tmp") -> Path:
    """A temporary sibling of ``target`` naming this host and process."""
    return target.with_name(f".{target.name}.{kind}-{HOST}-{os.getpid()}-{uuid.uuid4().hex[:12]}")


def sweep(folder: Path) -> list[Path]:
    """Remove the leftovers of dead processes of this host from ``folder``; return them.

    A folder renamed aside (``.old-``) whose output is missing is put back instead: it is the
    last complete output, left there by a process killed between the two renames of a swap.
    """
    swept: list[Path] = []
    try:
        entries = list(folder.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return swept
    for entry in sorted(entries):
        match = _LEFTOVER.match(entry.name)
        if not match or match["host"] != HOST or process_alive(int(match["pid"])):
            continue
        target = folder / match["name"]
        if match["kind"] == "old" and not target.exists():
            os.rename(entry, target)
        else:
            _remove(entry)
        swept.append(entry)
    return swept


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


def _replace_folder(tmp: Path, target: Path) -> None:
    """Put the folder ``tmp`` in place of the existing ``target``; ``tmp`` then holds the old."""
    if exchange(tmp, target):
        return
    aside = leftover_name(target, "old")
    os.rename(target, aside)
    try:
        os.rename(tmp, target)
    except OSError:
        os.rename(aside, target)
        raise
    os.rename(aside, tmp)


@contextmanager
def atomic_output(location: str) -> Iterator[Path]:
    """Yield a temporary path to write a file or folder to; move it to ``location`` on success.

    An existing output is replaced (see the module docstring): readers see the old output or
    the new one, whenever the process dies. A remote ``location`` gets a path in a local
    temporary folder, uploaded on success.
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
    sweep(target.parent)
    tmp = leftover_name(target)
    try:
        yield tmp
        if not tmp.exists():
            raise StorageError(f"writer for {target} produced nothing")
        if tmp.is_dir() and target.exists():
            _replace_folder(tmp, target)
        else:
            os.replace(tmp, target)
    finally:
        _remove(tmp)


def write_json(location: str, document: Any) -> None:
    """Write ``document`` as indented JSON to ``location``, whole or not at all."""
    with atomic_output(location) as tmp:
        tmp.write_text(json.dumps(document, indent=2), encoding="utf-8")


@contextmanager
def publishing(locations: Mapping[str, str]) -> Iterator[dict[str, Path]]:
    """Yield a temporary path per output name; publish every one of them when the block returns.

    For outputs written together by one tool (a DuckDB copy, a tippecanoe run): nothing is
    published unless the whole block succeeds (a check raising inside it, e.g. the loss guard,
    leaves every published output as it was). Each is then published as
    :func:`atomic_output` does.
    """
    with ExitStack() as stack:
        yield {name: stack.enter_context(atomic_output(loc)) for name, loc in locations.items()}


@dataclass(frozen=True)
class Published(Generic[T]):
    """What :func:`publish` published: the writer's result, and where and how big each output is.

    Attributes:
        result: What the writer returned.
        locations: Output name -> location.
        sizes: Output name -> bytes (a folder: every file under it).
    """

    result: T
    locations: dict[str, str]
    sizes: dict[str, int]

    @property
    def bytes(self) -> int:
        """Bytes of every output."""
        return sum(self.sizes.values())


def publish(
    outputs: Mapping[str, str],
    write: Callable[[dict[str, str]], T],
    check: Callable[[T], None] | None = None,
) -> Published[T]:
    """Run ``write`` on temporary paths (output name -> path), ``check`` its result, publish.

    The outputs of a tool that writes its files itself (DuckDB, tippecanoe, the pyramid writer):
    nothing is published when ``write`` or ``check`` (e.g. the loss guard) raises, and every
    output is published whole (:func:`publishing`).
    """
    with publishing(outputs) as staged:
        result = write({name: str(path) for name, path in staged.items()})
        if check is not None:
            check(result)
    return Published(
        result,
        dict(outputs),
        {name: objects.size(location) for name, location in outputs.items()},
    )
