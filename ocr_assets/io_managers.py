"""IO managers: where every asset's result is stored, and how assets downstream read it.

Asset bodies return their result (usually a :class:`~ocr_assets.outputs.Deferred`, see
:mod:`ocr_assets.outputs`); the IO manager of the output persists it and loads it again. Four
kinds, one per storage format, each on local folders or ``s3://`` alike (the ``storage``
resource's root):

==========================  ==========================================  =====================
IO manager (resource key)   assets                                      persisted as
==========================  ==========================================  =====================
``wind_io_manager``         ``wind_direction_distribution``             Zarr v3 folder
``raster_io_manager``       ``region_risk_rasters`` (per region)        one Icechunk commit
``geoparquet_io_manager``   ``region_buildings`` (per region)           GeoParquet 1.1 file
``files_io_manager``        partials, tile features and every roll-up   files and folders
==========================  ==========================================  =====================

Persisting runs where the result is computed: a ``Deferred`` result is evaluated *and* written
by one task on the asset's cluster (``ComputeResource.run`` with the asset's key, so each asset
keeps its own sized cluster), and only its small metadata comes back; a plain value (the wind
distribution, computed by its asset on the cluster) is written in place. Either way the
writes keep their guarantees:

- files and folders appear complete or not at all (:func:`~ocr_assets.storage.atomic_output`:
  a temporary sibling renamed into place, or a temporary prefix copied into place on S3), and
  a replaced one never vanishes; a roll-up losing most of the published content is refused
  (``OutputStorage.check_loss``) before anything is replaced;
- a region's rasters are one Icechunk commit with bounded, conflict-aware retries
  (:class:`~ocr_assets.storage.RasterStore`), tagged with the run, version and input identities.

Loading returns handles, never data in the orchestrating process: a ``Deferred`` reader (wind
distribution, region rasters) or the output's location (files); several partitions (a roll-up
reading every region) load as ``{region_id: handle}``, after checking that each is there.
Failures that no retry can fix (bad input: a missing upstream output, a store built for another
grid) become final ``dagster.Failure`` s naming the culprit; transient ones stay retryable.
"""

from __future__ import annotations

import posixpath
import time
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import dagster as dg
import geopandas as gpd
import xarray as xr

from ocr_assets.deploy.layout import Layout
from ocr_assets.errors import final_on_bad_input
from ocr_assets.outputs import Deferred, Metadata, RegionRasters
from ocr_assets.regions import RegionGrid
from ocr_assets.resources import ComputeResource, InputCatalogResource, OutputStorage
from ocr_assets.rollups import LEVELS, DatasetMetadata
from ocr_assets.storage import (
    RasterStore,
    StorageError,
    atomic_output,
    objects,
    store_window,
    write_geoparquet,
)
from ocr_assets.storage.guard import published_rows, published_sum
from ocr_assets.storage.raster_store import stored_grid
from ocr_assets.storage.staleness import INPUT_VERSIONS_KEY

WIND_IO_MANAGER = "wind_io_manager"
RASTER_IO_MANAGER = "raster_io_manager"
GEOPARQUET_IO_MANAGER = "geoparquet_io_manager"
FILES_IO_MANAGER = "files_io_manager"

#: The files and folders of each file-kind asset: output name -> location, for a partition
#: (region ID) or ``None``. The IO manager hands the asset's function one temporary path per
#: name (its ``outputs`` argument) and publishes each to its location.
FILE_OUTPUTS: dict[str, Callable[[Layout, str | None], dict[str, str]]] = {
    "region_statistics_partials": lambda paths, r: {
        "partial": paths.region_statistics_partial(str(r))
    },
    "region_tile_features": lambda paths, r: {"features": paths.tile_features(str(r))},
    "buildings_geoparquet": lambda paths, _: {
        "consolidated": paths.consolidated_buildings,
        "hive": paths.partitioned_buildings,
    },
    "region_summary_stats": lambda paths, _: {"statistics": paths.region_summary_stats_dir},
    "region_analysis_files": lambda paths, _: {"analysis": paths.region_analysis_dir},
    "regional_pmtiles": lambda paths, _: {"pmtiles": paths.regional_pmtiles},
    "building_pmtiles": lambda paths, _: {"pmtiles": paths.building_pmtiles},
    "building_centroid_pmtiles": lambda paths, _: {"pmtiles": paths.building_centroid_pmtiles},
    "risk_pyramid": lambda paths, _: {"pyramid": paths.risk_pyramid},
}


def file_outputs(asset: str, paths: Layout, partition: str | None = None) -> dict[str, str]:
    """The locations of a file-kind asset's outputs (see :data:`FILE_OUTPUTS`).

    Raises:
        KeyError: naming ``asset`` when it is not a file-kind asset.
    """
    if asset not in FILE_OUTPUTS:
        raise KeyError(f"{asset} is not stored by the {FILES_IO_MANAGER}")
    return FILE_OUTPUTS[asset](paths, partition)


def _value(value: Any) -> Any:
    """Identity: wraps an already computed value as a :class:`Deferred`."""
    return value


def _require_regions(region_ids: list[str], present: set[str], asset: str, where: str) -> None:
    """Fail, naming them, when some regions lack ``asset``'s output (or none is asked for)."""
    if not region_ids:
        raise StorageError(f"no region partitions to read {asset} from")
    missing = [region_id for region_id in region_ids if region_id not in present]
    if missing:
        raise StorageError(
            f"{asset} is missing for region(s) {', '.join(missing)} (looked under {where}); "
            f"materialize {asset} for them first"
        )


def _existing(locations: dict[str, str], asset: str) -> dict[str, str]:
    """``locations`` (region ID -> output), after checking each exists (a final failure)."""
    with final_on_bad_input():
        present = {r for r, location in locations.items() if objects.exists(location)}
        where = posixpath.dirname(next(iter(locations.values()), ""))
        _require_regions(list(locations), present, asset, where)
    return locations


class StorageIOManager(dg.ConfigurableIOManager):
    """Common part of the IO managers: persist a result on the asset's cluster, record metadata.

    Attributes:
        storage: Where outputs go (root, environment, version; the loss guard's settings).
        compute: The clusters; a ``Deferred`` result is computed and written on the asset's.
    """

    storage: OutputStorage
    compute: ComputeResource

    def persister(self) -> Callable[..., Metadata]:
        """The module-level function ``(storage, result, asset, partition, run_id) -> metadata``."""
        raise NotImplementedError

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        """Compute and persist ``obj`` (on the asset's cluster when deferred); record metadata."""
        asset = context.asset_key.to_user_string()
        partition = context.partition_key if context.has_partition_key else None
        run_id = context.run_id
        with final_on_bad_input():
            if isinstance(obj, Deferred):
                metadata = self.compute.run(
                    asset, self.persister(), self.storage, obj, asset, partition, run_id
                )
            else:
                metadata = self.persister()(
                    self.storage, Deferred(_value, (obj,)), asset, partition, run_id
                )
        context.add_output_metadata(metadata)

    def _partitions(self, context: dg.InputContext) -> list[str] | None:
        """The upstream partitions an input reads (``None``: an unpartitioned upstream)."""
        if not context.has_asset_partitions:
            return None
        return list(context.asset_partition_keys)


# --------------------------------------------------------------------------- wind (Zarr)
def write_wind_distribution(distribution: xr.DataArray, location: str) -> None:
    """Write the coarse wind-direction distribution to ``location`` as Zarr v3, atomically."""
    # Direction labels as variable-length strings: Zarr v3 has a specification for those,
    # not for numpy's fixed-width unicode.
    labels = distribution["wind_direction"].values.astype(object)
    with atomic_output(location) as tmp:
        distribution.assign_coords(wind_direction=labels).to_dataset(
            name="wind_distribution"
        ).to_zarr(tmp, mode="w", consolidated=False, zarr_format=3)


def read_wind_distribution(location: str) -> xr.DataArray:
    """The wind-direction distribution written by :func:`write_wind_distribution`.

    Raises:
        FileNotFoundError: naming the location, when the asset has not been materialized.
    """
    if not objects.exists(location):
        raise FileNotFoundError(
            f"{location} does not exist: materialize wind_direction_distribution first"
        )
    fs, path = objects.filesystem(location)
    return xr.open_zarr(fs.get_mapper(path), consolidated=False, chunks=None, decode_coords="all")[
        "wind_distribution"
    ].load()


def persist_wind(
    storage: OutputStorage, result: Deferred, asset: str, partition: str | None, run_id: str
) -> Metadata:
    """Compute the distribution (when deferred) and write it; its metadata and location."""
    distribution = result.compute()
    storage.ensure_writable()
    location = storage.paths.wind_distribution
    write_wind_distribution(distribution, location)
    return {**result.metadata(distribution), "path": dg.MetadataValue.path(location)}


class WindIOManager(StorageIOManager):
    """``wind_direction_distribution``: a Zarr v3 folder; loads as a ``Deferred`` reader."""

    def persister(self) -> Callable[..., Metadata]:
        """:func:`persist_wind`."""
        return persist_wind

    def load_input(self, context: dg.InputContext) -> Deferred:
        """A reader of the stored distribution (read where the consumer computes)."""
        return Deferred(read_wind_distribution, (self.storage.paths.wind_distribution,))


# --------------------------------------------------------------------------- rasters (Icechunk)
@dataclass(frozen=True)
class StoredRegions:
    """Several regions of the raster store: what a roll-up over every region partition loads.

    Attributes:
        location: The raster store.
        region_ids: The regions (each committed to the store), in partition order.
    """

    location: str
    region_ids: tuple[str, ...]

    def open(self) -> xr.Dataset:
        """The whole store, lazily."""
        return RasterStore(self.location).open()


def read_region_rasters(location: str, region_id: str) -> RegionRasters:
    """A region's rasters read back from the raster store at ``location`` (on its grid).

    Raises:
        StorageError: naming the store when the region has not been committed to it.
    """
    store = RasterStore(location)
    if region_id not in store.committed_regions():
        raise StorageError(
            f"region {region_id} is not in the raster store {location}: "
            "materialize region_risk_rasters for it first"
        )
    whole = store.open()
    grid = RegionGrid(**stored_grid(whole.attrs))
    latitude, longitude = store_window(grid, region_id)
    return RegionRasters(region_id, grid, whole.isel(latitude=latitude, longitude=longitude).load())


def persist_rasters(
    storage: OutputStorage, result: Deferred, asset: str, region_id: str | None, run_id: str
) -> Metadata:
    """Compute a region's rasters and commit them to the raster store; the metadata.

    Raises:
        StorageError: the result is another region's, or the store was built for another grid.
    """
    started = time.perf_counter()
    rasters: RegionRasters = result.compute()
    computed = time.perf_counter()
    if rasters.region_id != region_id:
        raise StorageError(f"{asset}: partition {region_id} got the rasters of {rasters.region_id}")
    storage.ensure_writable()
    data = rasters.data.copy()
    data.attrs.update(storage.dataset_attrs)
    store = storage.raster_store()
    # The store's attributes: the published raster metadata dict (CC-BY-4.0).
    store.ensure_layout(rasters.grid, data, DatasetMetadata.for_version(storage.version).raster())
    snapshot_id = store.write_region(
        rasters.grid,
        region_id,
        data,
        metadata={
            "dagster_run_id": run_id,
            "environment": storage.environment,
            "version": storage.dataset_version,
            INPUT_VERSIONS_KEY: dict(rasters.input_versions),
        },
    )
    return {
        **result.metadata(rasters),
        "snapshot_id": snapshot_id,
        "raster_store": dg.MetadataValue.path(store.location),
        "compute_seconds": round(computed - started, 3),
        "commit_seconds": round(time.perf_counter() - computed, 3),
    }


class RasterIOManager(StorageIOManager):
    """``region_risk_rasters``: one Icechunk commit per region partition of the raster store."""

    def persister(self) -> Callable[..., Metadata]:
        """:func:`persist_rasters`."""
        return persist_rasters

    def load_input(self, context: dg.InputContext) -> Deferred | StoredRegions:
        """One region: a ``Deferred`` reader of its rasters; several: the checked store."""
        location = self.storage.paths.raster_store
        region_ids = self._partitions(context)
        if region_ids is None:
            raise StorageError("region_risk_rasters is partitioned: read it per region")
        if len(region_ids) == 1 and context.has_partition_key:
            return Deferred(read_region_rasters, (location, region_ids[0]))
        with final_on_bad_input():
            committed = set(self.storage.raster_store().committed_regions())
            _require_regions(region_ids, committed, "region_risk_rasters", location)
        return StoredRegions(location, tuple(region_ids))


# --------------------------------------------------------------------------- GeoParquet
def persist_geoparquet(
    storage: OutputStorage, result: Deferred, asset: str, region_id: str | None, run_id: str
) -> Metadata:
    """Compute a region's table and write it as GeoParquet 1.1 (atomically); the metadata."""
    table: gpd.GeoDataFrame = result.compute()
    metadata = result.metadata(table)
    # ``attrs`` carry provenance for the metadata; pandas would write them into the file.
    table.attrs.clear()
    storage.ensure_writable()
    location = storage.paths.region_buildings(str(region_id))
    size = write_geoparquet(table, location)
    return {
        **metadata,
        "path": dg.MetadataValue.path(location),
        "dagster/row_count": len(table),
        "file_size_bytes": size,
    }


class GeoParquetIOManager(StorageIOManager):
    """``region_buildings``: one GeoParquet 1.1 file per region; loads as its location."""

    def persister(self) -> Callable[..., Metadata]:
        """:func:`persist_geoparquet`."""
        return persist_geoparquet

    def load_input(self, context: dg.InputContext) -> str | dict[str, str]:
        """One region: its file's location; several: ``{region_id: location}``, all checked."""
        paths = self.storage.paths
        region_ids = self._partitions(context) or []
        locations = _existing(
            {region_id: paths.region_buildings(region_id) for region_id in region_ids},
            "region_buildings",
        )
        if context.has_partition_key and len(locations) == 1:
            return next(iter(locations.values()))
        return locations


# --------------------------------------------------------------------------- files and folders
def _guard_consolidated(storage: OutputStorage, locations: Mapping[str, str], summary: Any) -> None:
    storage.check_loss(
        locations["consolidated"],
        published_rows(locations["consolidated"]),
        summary.rows,
        "buildings",
    )


def _guard_statistics(storage: OutputStorage, locations: Mapping[str, str], summary: Any) -> None:
    folder = locations["statistics"]
    storage.check_loss(
        folder,
        published_sum(
            [storage.paths.region_summary_stats(level) for level in LEVELS], "building_count"
        ),
        sum(level.buildings for level in summary),
        "buildings (summed over the levels)",
    )


#: Roll-ups that must not silently shrink: checked after writing, before publishing.
LOSS_GUARDS: dict[str, Callable[[OutputStorage, Mapping[str, str], Any], None]] = {
    "buildings_geoparquet": _guard_consolidated,
    "region_summary_stats": _guard_statistics,
}


def persist_files(
    storage: OutputStorage, result: Deferred, asset: str, partition: str | None, run_id: str
) -> Metadata:
    """Run a file-kind asset's function into temporary paths; publish them; the metadata.

    Every output is published only after the function returned and the loss guard passed, so a
    failure leaves the published outputs as they were.
    """
    storage.ensure_writable()
    locations = file_outputs(asset, storage.paths, partition)
    with ExitStack() as stack:
        staged = {
            name: str(stack.enter_context(atomic_output(location)))
            for name, location in locations.items()
        }
        summary = result.compute(outputs=staged)
        if asset in LOSS_GUARDS:
            LOSS_GUARDS[asset](storage, locations, summary)
    paths: Metadata = (
        {"path": dg.MetadataValue.path(next(iter(locations.values())))}
        if len(locations) == 1
        else {"paths": dg.MetadataValue.json(locations)}
    )
    sizes = {name: objects.size(location) for name, location in locations.items()}
    return {**result.metadata(summary), **paths, "file_size_bytes": sum(sizes.values())}


class FilesIOManager(StorageIOManager):
    """Files and folders made by tools (:data:`FILE_OUTPUTS`); loads as their locations."""

    def persister(self) -> Callable[..., Metadata]:
        """:func:`persist_files`."""
        return persist_files

    def load_input(self, context: dg.InputContext) -> str | dict[str, str]:
        """The upstream output's location (or ``{name: location}`` for several outputs).

        Several region partitions load as ``{region_id: location}``, after checking that every
        one exists.
        """
        asset = context.asset_key.to_user_string()
        paths = self.storage.paths
        region_ids = self._partitions(context)
        if region_ids is None or (context.has_partition_key and len(region_ids) == 1):
            locations = file_outputs(asset, paths, region_ids[0] if region_ids else None)
            with final_on_bad_input():
                missing = [loc for loc in locations.values() if not objects.exists(loc)]
                if missing:
                    raise StorageError(f"{', '.join(missing)} missing: materialize {asset} first")
            return next(iter(locations.values())) if len(locations) == 1 else locations
        return _existing(
            {r: next(iter(file_outputs(asset, paths, r).values())) for r in region_ids}, asset
        )


def io_managers(storage: OutputStorage, compute: ComputeResource) -> dict[str, Any]:
    """The IO manager resources of the code location, by resource key."""
    return {
        WIND_IO_MANAGER: WindIOManager(storage=storage, compute=compute),
        RASTER_IO_MANAGER: RasterIOManager(storage=storage, compute=compute),
        GEOPARQUET_IO_MANAGER: GeoParquetIOManager(storage=storage, compute=compute),
        FILES_IO_MANAGER: FilesIOManager(storage=storage, compute=compute),
    }


def pipeline_resources(
    catalog: str | InputCatalogResource,
    storage: OutputStorage,
    compute: ComputeResource | None = None,
) -> dict[str, Any]:
    """Every resource the assets and checks use, by key: inputs, storage, compute, IO managers.

    ``catalog`` may be the input root; ``compute`` defaults to local clusters.
    """
    compute = compute or ComputeResource(environment=storage.environment)
    return {
        "catalog": catalog
        if isinstance(catalog, InputCatalogResource)
        else InputCatalogResource(root=catalog),
        "storage": storage,
        "compute": compute,
        **io_managers(storage, compute),
    }
