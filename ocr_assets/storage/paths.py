"""Where every output lives under the storage root, for the storage layer.

The layout itself is defined once, in :class:`ocr_assets.deploy.layout.Layout` (pure, no I/O):
the published Open Climate Risk bucket layout, ``{root}/{output|intermediate}/fire-risk/{kind}/
{env}[/v{version}]/...``. :data:`OutputPaths` is that class under the storage layer's name, so
``ocr-assets plan``, the assets and ``ocr-assets verify`` cannot disagree about a location.

Locations are strings (a local path or an ``s3://`` URI); :mod:`ocr_assets.storage.objects`
operates on both, :func:`local_path` is for the few places that need a local file.
"""

from __future__ import annotations

from pathlib import Path

from ocr_assets.deploy.layout import Layout, is_remote, join

__all__ = [
    "OutputPaths",
    "StorageError",
    "StorageUnavailableError",
    "is_remote",
    "join",
    "local_path",
]

#: The output layout of one environment (and optional version) under one storage root.
OutputPaths = Layout


class StorageError(RuntimeError):
    """An output location cannot be used; the message names the location and the reason."""


class StorageUnavailableError(StorageError):
    """The object store did not answer, or kept failing transiently, within the allowed budget.

    Unlike other :class:`StorageError` s this is transient: a later attempt (the step's retry
    policy, a re-run after the endpoint recovers) can succeed.
    """


def local_path(location: str) -> Path:
    """The local path of ``location``.

    Raises:
        StorageError: for a remote location (use :mod:`ocr_assets.storage.objects` for those).
    """
    if is_remote(location):
        raise StorageError(
            f"{location} is remote; this operation needs a local path (read it through "
            "ocr_assets.storage.objects)"
        )
    return Path(location)
