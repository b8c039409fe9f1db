"""IO managers: store each value an asset returns, and load it back for the assets downstream.

They know value types and storage formats, never assets: where a value goes is the layout's
location of the output's asset key and partition (:meth:`~ocr_assets.storage.Layout.location`).
Every format works on local folders and ``s3://`` alike (the ``storage`` resource's root).

=============================  ====================================  ===========================
IO manager (resource key)      value                                 stored as
=============================  ====================================  ===========================
``zarr_io_manager``            an ``xarray.DataArray``               a Zarr v3 folder
``raster_store_io_manager``    a region's ``xarray.Dataset``         one Icechunk commit
``geoparquet_io_manager``      a ``GeoDataFrame``                    a GeoParquet 1.1 file
``tables_io_manager``          ``{name: pyarrow.Table}``             a folder of Parquet files
=============================  ====================================  ===========================

Storing runs where the value is (:func:`~ocr_assets.orchestration.clusters.run_where_it_lives`):
a value the asset kept on its cluster is written by that cluster, so its data never passes
through the process running the step. Files and folders appear whole or not at all
(:func:`~ocr_assets.storage.atomic_output`); a region's rasters are one Icechunk commit with
bounded, conflict-aware retries (:class:`~ocr_assets.storage.RasterStore`), recording the run,
the version and the identities of the inputs the rasters carry.

Loading returns lazy values (dask), read from storage where they are used, after checking that
the value is there: a missing upstream output is a final failure naming it, before any cluster
starts. A roll-up reads every region itself, from storage (its assets depend on the region
assets without loading them), so these load one partition at a time.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import dagster as dg
import dask
import geopandas as gpd
import pyarrow as pa
import xarray as xr
from dask.delayed import Delayed
from zarr.storage import FsspecStore

from ocr_assets.orchestration.clusters import run_where_it_lives
from ocr_assets.orchestration.errors import final_on_bad_input
from ocr_assets.orchestration.readable import size_text
from ocr_assets.orchestration.resources import OutputStorage
from ocr_assets.storage import RasterStore, StorageError, atomic_output, objects, write_geoparquet
from ocr_assets.storage.geoparquet import read_geoparquet
from ocr_assets.storage.layout import is_remote
from ocr_assets.storage.raster_store import REGION_ID
from ocr_assets.storage.reads import BoundedReads
from ocr_assets.storage.tables import read_tables, write_tables

ZARR_IO_MANAGER = "zarr_io_manager"
RASTER_STORE_IO_MANAGER = "raster_store_io_manager"
GEOPARQUET_IO_MANAGER = "geoparquet_io_manager"
TABLES_IO_MANAGER = "tables_io_manager"


def _asset(context: dg.OutputContext | dg.InputContext) -> str:
    return context.asset_key.to_user_string()


def _partition(context: dg.OutputContext | dg.InputContext) -> str | None:
    """The one partition an output writes or an input reads (``None``: unpartitioned).

    Raises:
        StorageError: for an input reading several partitions (roll-ups read those from
            storage themselves).
    """
    if isinstance(context, dg.OutputContext):
        return context.partition_key if context.has_partition_key else None
    if not context.has_asset_partitions:
        return None
    keys = list(context.asset_partition_keys)
    if len(keys) != 1:
        raise StorageError(
            f"{_asset(context)} is read one region at a time; got {len(keys)} partitions"
        )
    return keys[0]


def stored_metadata(location: str, size: int) -> dict[str, dg.RawMetadataValue]:
    """Where a value was stored, and its size for a person to read."""
    return {"path": dg.MetadataValue.path(location), "size": size_text(size)}


class StorageIOManager(dg.ConfigurableIOManager):
    """What the IO managers share: the storage they write to, and the location of a value.

    Attributes:
        storage: Where outputs go (root, environment, version).
    """

    storage: OutputStorage

    def location(self, context: dg.OutputContext | dg.InputContext) -> str:
        """Where the value of the context's asset and partition is stored."""
        partition = _partition(context)
        layout = self.storage.layout
        if partition is None:
            return layout.location(_asset(context))
        return layout.location(_asset(context), partition)

    def existing(self, context: dg.InputContext) -> str:
        """The input's location, after checking it is there (a final failure naming it)."""
        with final_on_bad_input():
            location = self.location(context)
            if not objects.exists(location):
                raise StorageError(
                    f"{_asset(context)} is missing at {location}: materialize "
                    f"{_asset(context)} first"
                )
        return location


# --------------------------------------------------------------------------- Zarr
def write_zarr_array(array: xr.DataArray, location: str) -> int:
    """Write ``array`` to ``location`` as a Zarr v3 folder, atomically; its size in bytes.

    Text coordinates are written as variable-length strings (Zarr v3 specifies those, not
    numpy's fixed-width unicode).
    """
    coords = {
        name: coord.values.astype(object)
        for name, coord in array.coords.items()
        if coord.dtype.kind == "U"
    }
    with atomic_output(location) as tmp:
        array.assign_coords(coords).to_dataset(name=_zarr_name(array)).to_zarr(
            tmp, mode="w", consolidated=False, zarr_format=3
        )
    return objects.size(location)


def _zarr_name(array: xr.DataArray) -> str:
    return str(array.name) if array.name is not None else "data"


def read_zarr_array(location: str) -> xr.DataArray:
    """The array written by :func:`write_zarr_array`, lazily (dask, in its stored chunks); every
    read of a remote one is bounded (:func:`~ocr_assets.storage.reads.bounded_reads`)."""
    fs, path = objects.filesystem(location)
    store: Any = fs.get_mapper(path)
    if is_remote(location):
        store = BoundedReads(FsspecStore.from_mapper(store, read_only=True), location)
    dataset = xr.open_zarr(store, consolidated=False, chunks={}, decode_coords="all")
    (name,) = dataset.data_vars
    return dataset[name]


class ZarrIOManager(StorageIOManager):
    """An ``xarray.DataArray`` as a Zarr v3 folder; loads lazily."""

    def handle_output(self, context: dg.OutputContext, obj: xr.DataArray) -> None:
        """Write the array (where it is) and record its location and size."""
        location = self.location(context)
        with final_on_bad_input():
            self.storage.ensure_writable()
            size = run_where_it_lives(write_zarr_array, obj, location)
        context.add_output_metadata(stored_metadata(location, size))

    def load_input(self, context: dg.InputContext) -> xr.DataArray:
        """The stored array, lazily."""
        return read_zarr_array(self.existing(context))


# --------------------------------------------------------------------------- raster store
def commit_rasters(
    data: xr.Dataset,
    location: str,
    attempts: int,
    metadata: Mapping[str, Any],
    store_attrs: Mapping[str, Any],
) -> dict[str, Any]:
    """Commit a region's rasters to the raster store at ``location``; what the commit took."""
    started = time.perf_counter()
    store = RasterStore(location, max_attempts=attempts)
    snapshot_id = store.commit_region(data, metadata, store_attrs)
    return {"snapshot_id": snapshot_id, "commit_seconds": round(time.perf_counter() - started, 3)}


class RasterStoreIOManager(StorageIOManager):
    """A region's ``xarray.Dataset`` as one commit of the Icechunk raster store.

    The dataset says which region it is and carries its inputs' identities
    (:func:`~ocr_assets.storage.raster_store.region_attrs`); the commit records them with the
    run, environment and version. Loads a region lazily from the store.
    """

    def handle_output(self, context: dg.OutputContext, obj: xr.Dataset) -> None:
        """Commit the region's rasters (where they are); record the snapshot."""
        region_id = _partition(context)
        with final_on_bad_input():
            if obj.attrs.get(REGION_ID) != region_id:
                raise StorageError(
                    f"{_asset(context)}: partition {region_id} got the rasters of "
                    f"{obj.attrs.get(REGION_ID)}"
                )
            storage = self.storage
            storage.ensure_writable()
            location = self.location(context)
            committed = run_where_it_lives(
                commit_rasters,
                obj,
                location,
                storage.commit_attempts,
                {
                    "dagster_run_id": context.run_id,
                    "environment": storage.environment,
                    "version": storage.dataset_version,
                },
                storage.dataset_metadata.raster(),
            )
        context.add_output_metadata({**committed, "raster_store": dg.MetadataValue.path(location)})

    def load_input(self, context: dg.InputContext) -> xr.Dataset:
        """The region's rasters, lazily (a final failure naming the store when missing)."""
        region_id = _partition(context)
        if region_id is None:
            raise StorageError(f"{_asset(context)} is partitioned: read it per region")
        with final_on_bad_input():
            return self.storage.raster_store().region(region_id)


# --------------------------------------------------------------------------- GeoParquet
def _write_geoparquet(table: gpd.GeoDataFrame, location: str) -> tuple[int, int]:
    return write_geoparquet(table, location), len(table)


class GeoParquetIOManager(StorageIOManager):
    """A ``GeoDataFrame`` as a GeoParquet 1.1 file; loads lazily (a ``dask.delayed`` reader)."""

    def handle_output(self, context: dg.OutputContext, obj: gpd.GeoDataFrame | Delayed) -> None:
        """Write the table (where it is); record its location, rows and size."""
        location = self.location(context)
        with final_on_bad_input():
            self.storage.ensure_writable()
            size, rows = run_where_it_lives(_write_geoparquet, obj, location)
        context.add_output_metadata({**stored_metadata(location, size), "dagster/row_count": rows})

    def load_input(self, context: dg.InputContext) -> Delayed:
        """A reader of the stored table, computed where it is used."""
        return dask.delayed(read_geoparquet, pure=True)(self.existing(context))


# --------------------------------------------------------------------------- tables
class TablesIOManager(StorageIOManager):
    """``{name: pyarrow.Table}`` as a folder of Parquet files; loads lazily."""

    def handle_output(
        self, context: dg.OutputContext, obj: Mapping[str, pa.Table] | Delayed
    ) -> None:
        """Write the tables (where they are); record the folder and its size."""
        location = self.location(context)
        with final_on_bad_input():
            self.storage.ensure_writable()
            size = run_where_it_lives(write_tables, obj, location)
        context.add_output_metadata(stored_metadata(location, size))

    def load_input(self, context: dg.InputContext) -> Delayed:
        """A reader of the stored tables, computed where they are used."""
        return dask.delayed(read_tables, pure=True)(self.existing(context))


def io_managers(storage: OutputStorage) -> dict[str, StorageIOManager]:
    """The IO managers of the code location, by resource key."""
    return {
        ZARR_IO_MANAGER: ZarrIOManager(storage=storage),
        RASTER_STORE_IO_MANAGER: RasterStoreIOManager(storage=storage),
        GEOPARQUET_IO_MANAGER: GeoParquetIOManager(storage=storage),
        TABLES_IO_MANAGER: TablesIOManager(storage=storage),
    }
