"""Object-store operations on output locations, local or ``s3://``, through fsspec.

S3 endpoints and credentials come from the standard AWS environment: ``AWS_ENDPOINT_URL`` for
S3-compatible servers (MinIO, Ceph, a local test server), keys, profiles, web identity or the
container's role for credentials. Nothing here is specific to one store, so the same calls serve
local folders (tests, the demo) and buckets (deployments).

Remote writes are made atomic at the granularity S3 offers (see :func:`upload`): a file is one
PUT, which readers see whole or not at all; a folder is uploaded under a temporary sibling
prefix and only then copied into place, so a failing writer never touches the published
folder.
"""

from __future__ import annotations

import os
import posixpath
import uuid
from pathlib import Path

import fsspec
from fsspec.implementations.local import LocalFileSystem

from ocr_assets.storage.paths import StorageError, is_remote


def endpoint_url() -> str | None:
    """The S3-compatible endpoint named by ``AWS_ENDPOINT_URL`` (``None``: AWS itself)."""
    return os.environ.get("AWS_ENDPOINT_URL") or None


def filesystem(location: str) -> tuple[fsspec.AbstractFileSystem, str]:
    """The filesystem of ``location`` and the path on it.

    Filesystems are fsspec's cached instances, one per endpoint (``AWS_ENDPOINT_URL`` is part of
    the key, so pointing it elsewhere takes effect at once); creating an S3 client per call
    would cost more than most of the requests made with it.
    """
    if not is_remote(location):
        return LocalFileSystem(), str(location)
    protocol = location.split("://", 1)[0]
    options: dict[str, object] = {}
    if protocol == "s3" and endpoint_url():
        options["endpoint_url"] = endpoint_url()
    fs = fsspec.filesystem(protocol, **options)
    return fs, fs._strip_protocol(location)


def exists(location: str) -> bool:
    """True when a file, folder or prefix exists at ``location``."""
    fs, path = filesystem(location)
    return bool(fs.exists(path))


def size(location: str) -> int:
    """Bytes of the file at ``location``, or of every file under the folder at ``location``."""
    fs, path = filesystem(location)
    if fs.isdir(path):
        return int(sum(fs.du(path, total=False).values())) if fs.find(path) else 0
    return int(fs.size(path))


def modified(location: str) -> float | None:
    """POSIX time the file at ``location`` was last written (``None`` when unknown)."""
    fs, path = filesystem(location)
    try:
        stamp = fs.modified(path)
    except (NotImplementedError, IsADirectoryError, FileNotFoundError):
        return None
    return stamp.timestamp()


def remove(location: str) -> None:
    """Delete the file or folder at ``location`` (nothing when absent)."""
    fs, path = filesystem(location)
    if fs.exists(path):
        fs.rm(path, recursive=True)


def ensure_writable_remote(location: str) -> None:
    """Prove that objects can be created (and deleted) under the prefix ``location``.

    Raises:
        StorageError: naming the location and the store's reason.
    """
    fs, path = filesystem(location)
    probe = posixpath.join(path, f".write-probe-{uuid.uuid4().hex}")
    try:
        fs.pipe_file(probe, b"")
        fs.rm_file(probe)
    except Exception as error:  # botocore / aiobotocore raise many types; all mean "cannot write"
        raise StorageError(f"cannot write to {location}: {error}") from error


def upload(source: Path, location: str) -> None:
    """Publish the local file or folder ``source`` at the remote ``location``.

    A file goes up in one PUT (atomic on S3). A folder goes up under a temporary sibling prefix
    ``.{name}.tmp-{token}``; only when every file is there is the previous folder removed and
    the new one copied into place server-side, then the temporary prefix is deleted. A failed
    upload therefore leaves the published folder as it was; readers listing the folder during
    the short server-side copy can see it incomplete.
    """
    fs, target = filesystem(location)
    if source.is_file():
        fs.put_file(str(source), target)
        return
    parent, name = posixpath.split(target)
    staging = posixpath.join(parent, f".{name}.tmp-{uuid.uuid4().hex[:12]}")
    relative = [p.relative_to(source).as_posix() for p in source.rglob("*") if p.is_file()]
    try:
        # Lists of paths: s3fs sends the requests concurrently.
        if relative:
            fs.put(
                [str(source / name) for name in relative],
                [posixpath.join(staging, name) for name in relative],
            )
        if fs.exists(target):
            fs.rm(target, recursive=True)
        if relative:
            fs.copy(
                [posixpath.join(staging, name) for name in relative],
                [posixpath.join(target, name) for name in relative],
            )
    finally:
        if fs.exists(staging):
            fs.rm(staging, recursive=True)


def download(location: str, destination: Path) -> Path:
    """Copy the file or folder at ``location`` to the local ``destination``; return it."""
    fs, path = filesystem(location)
    destination.parent.mkdir(parents=True, exist_ok=True)
    if fs.isdir(path):
        fs.get(path.rstrip("/") + "/", str(destination), recursive=True)
    else:
        fs.get_file(path, str(destination))
    return destination
