"""Input identities: what changes when an input's content does (for staleness).

An Icechunk repository is identified by the snapshot of its branch, a file by its ETag (or a hash
of its size, time of last change and footer), a plain Zarr folder by a hash of its listing.
"""

from __future__ import annotations

import hashlib
from typing import Any

#: Bytes at the end of a file hashed into its identity (a Parquet file's footer: its schema,
#: row groups and column statistics change with any change of content).
FOOTER_BYTES = 64 * 1024


def file_identity(fs: Any, path: str) -> str:
    """A file's identity: its ETag where the store gives one, else a hash of its size, time of
    last change and last :data:`FOOTER_BYTES` bytes."""
    info = fs.info(path)
    etag = info.get("ETag") or info.get("etag")
    if etag:
        return "etag:" + str(etag).strip('"')
    size = int(info["size"])
    stamp = info.get("mtime", info.get("LastModified", ""))
    with fs.open(path, "rb") as handle:
        handle.seek(max(0, size - FOOTER_BYTES))
        footer = handle.read()
    digest = hashlib.sha256(f"{size}:{stamp}:".encode() + footer).hexdigest()
    return f"sha256:{digest}"


def folder_identity(fs: Any, path: str) -> str:
    """A plain folder's (Zarr store's) identity: a hash of every file's name, size and ETag or
    time of last change."""
    listing = fs.find(path, detail=True)
    entries = sorted(
        f"{name}:{info.get('size')}:{info.get('ETag') or info.get('mtime', '')}"
        for name, info in listing.items()
    )
    return "sha256:" + hashlib.sha256("\n".join(entries).encode()).hexdigest()
