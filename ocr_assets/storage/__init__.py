"""Output storage: the path layout, atomic writes, GeoParquet and the Icechunk raster store.

Assets call these helpers and never build paths or open stores themselves, so moving the outputs
(another root, another environment, object storage) changes this package only. Locations are
local folders or ``s3://`` URIs; :mod:`~ocr_assets.storage.objects` holds the operations on both.
"""

from ocr_assets.storage import objects
from ocr_assets.storage.atomic import atomic_output, ensure_writable
from ocr_assets.storage.geoparquet import write_geoparquet
from ocr_assets.storage.paths import (
    OutputPaths,
    StorageError,
    StorageUnavailableError,
    is_remote,
    join,
    local_path,
)
from ocr_assets.storage.raster_store import (
    RasterStore,
    RasterStoreConflictError,
    store_window,
)

__all__ = [
    "OutputPaths",
    "RasterStore",
    "RasterStoreConflictError",
    "StorageError",
    "StorageUnavailableError",
    "atomic_output",
    "ensure_writable",
    "is_remote",
    "join",
    "local_path",
    "objects",
    "store_window",
    "write_geoparquet",
]
