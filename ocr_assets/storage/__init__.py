"""Output storage: the layout, atomic writes, GeoParquet, the Icechunk raster store, the limits.

Everything that decides where an output lives or how it is written is here, so moving the outputs
(another root, another environment, object storage) changes this package only. Locations are
local folders or ``s3://`` URIs; :mod:`~ocr_assets.storage.objects` holds the operations on both.

==========================  ======================================================================
module                      what
==========================  ======================================================================
:mod:`.layout`              where every output lives (:class:`Layout`), one table of assets
:mod:`.config`              time-outs, attempts and endpoint of every object-store call
:mod:`.objects`             bounded, retried operations on local folders and ``s3://``
:mod:`.atomic`              outputs that appear whole or not at all
:mod:`.guard`               the loss guard: no roll-up silently replaced by a much smaller one
:mod:`.geoparquet`          GeoParquet 1.1 files
:mod:`.tables`              named Parquet tables in one folder
:mod:`.raster_store`        the Icechunk raster store, one commit per region
:mod:`.scratch`             scratch folders that do not outlive their process
:mod:`.lease`               the deployment lease: one deployment of an environment at a time
==========================  ======================================================================

Imports only the layers below it (``regions``); see ``docs/architecture.md``.
"""

from ocr_assets.storage import objects
from ocr_assets.storage.atomic import (
    Published,
    atomic_output,
    ensure_writable,
    publish,
    publishing,
    write_json,
)
from ocr_assets.storage.config import StorageConfig
from ocr_assets.storage.errors import StorageError, StorageUnavailableError
from ocr_assets.storage.geoparquet import write_geoparquet
from ocr_assets.storage.layout import Layout, is_remote, join, local_path
from ocr_assets.storage.raster_store import (
    RasterStore,
    RasterStoreConflictError,
    store_window,
)

__all__ = [
    "Layout",
    "Published",
    "RasterStore",
    "RasterStoreConflictError",
    "StorageConfig",
    "StorageError",
    "StorageUnavailableError",
    "atomic_output",
    "ensure_writable",
    "is_remote",
    "join",
    "local_path",
    "objects",
    "publish",
    "publishing",
    "store_window",
    "write_geoparquet",
    "write_json",
]
