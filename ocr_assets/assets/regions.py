"""Phase 01 per region: the 30 m risk rasters and the region's buildings with sampled risk.

Both assets are partitioned by region ID. Their work (:func:`region_rasters`,
:func:`region_buildings`) runs on the region cluster (``ComputeResource.run``), writes the
outputs to storage there and returns only the metadata of :class:`dagster.MaterializeResult`; ``region_buildings`` reads the rasters back from the
raster store, so each partition can run (and be retried) on its own.

The partitions definition depends on the inputs (which regions hold data), so the assets are
built by :func:`build_region_assets` for a given partitions definition.
"""

import time
from dataclasses import dataclass
from typing import Any

import dagster as dg
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import xarray as xr

from ocr_assets import science
from ocr_assets.assets.checks import (
    RegionValidationError,
    region_check_outcomes,
    regridded_wind,
    require_passing,
)
from ocr_assets.assets.errors import final_on_bad_input
from ocr_assets.assets.inputs import REGION_INPUT_ASSETS
from ocr_assets.assets.metadata import thumbnail_markdown, variable_summary
from ocr_assets.assets.rollup_support import asset_name, dataset_metadata
from ocr_assets.assets.wind import GROUP, wind_direction_distribution
from ocr_assets.catalog import BUILDING_TAGS
from ocr_assets.preview import preview_url
from ocr_assets.regions import RegionGrid
from ocr_assets.resources import ComputeResource, InputCatalogResource, OutputStorage
from ocr_assets.rollups.schema import RISK_VARIABLES
from ocr_assets.storage import StorageError, write_geoparquet
from ocr_assets.storage.staleness import INPUT_VERSIONS_KEY, region_input_versions

#: Region retries as the published pipeline does them: waits of 5 s x attempt number.
REGION_RETRY_POLICY = dg.RetryPolicy(max_retries=2, delay=5, backoff=dg.Backoff.LINEAR)

#: The region table's risk columns, in the published order (float32).
REGION_VARIABLES: tuple[str, ...] = RISK_VARIABLES
#: The region table's tag columns and the tagged-buildings columns they come from, as published
#: (``block_geoid AS GEOID, state_abbrev AS state, county_name AS county``).
REGION_TAGS: dict[str, str] = dict(zip(("GEOID", "state", "county"), BUILDING_TAGS, strict=True))


@dataclass(frozen=True)
class RegionAssets:
    """The region-partitioned assets of phase 01."""

    rasters: dg.AssetsDefinition
    buildings: dg.AssetsDefinition


def sample_buildings(
    buildings: gpd.GeoDataFrame, rasters: xr.Dataset, grid: RegionGrid, region_id: str
) -> tuple[gpd.GeoDataFrame, int]:
    """The region's buildings with every raster variable sampled at their centroid.

    A building belongs to the region when its footprint centroid lies in the region's
    half-open pixel-edge box ``[west, east) x [south, north)`` (the grid's outer east and north
    edges closed; :meth:`RegionGrid.region_indices`), so every building of the grid belongs to
    exactly one region, also on a border (the published selection loses some).
    Values come from the pixel nearest to the centroid; buildings with any NaN value are
    dropped.

    Returns:
        The table, columns in the published order: :data:`REGION_VARIABLES` (float32), then
        ``GEOID``, ``state``, ``county`` (from the buildings' :data:`REGION_TAGS` columns) and
        ``geometry``; and the number of buildings dropped for NaN values.
    """
    centroids = shapely.centroid(np.asarray(buildings.geometry.values))
    x, y = shapely.get_x(centroids), shapely.get_y(centroids)
    inside = grid.contains(region_id, x, y)
    # The nearest pixel *of the region*: a centroid on the region's west or south edge (or on
    # the grid's outer edge) is equally near the neighbour's pixel.
    lon, lat = rasters["longitude"].values, rasters["latitude"].values
    values = science.sample_nearest(
        rasters,
        np.clip(x[inside], lon.min(), lon.max()),
        np.clip(y[inside], lat.min(), lat.max()),
    )
    complete = np.all([np.isfinite(values[name]) for name in REGION_VARIABLES], axis=0)
    tags = buildings.loc[inside, list(REGION_TAGS.values())]
    table = gpd.GeoDataFrame(
        {
            **{name: values[name][complete].astype(np.float32) for name in REGION_VARIABLES},
            # Typed strings even when no building is left (an empty object column is null).
            **{
                name: pd.array(tags[column].to_numpy()[complete], dtype="str")
                for name, column in REGION_TAGS.items()
            },
        },
        geometry=buildings.geometry.values[inside][complete],
        crs=buildings.crs,
    )
    return table, int(np.count_nonzero(~complete))


def region_rasters(
    catalog: InputCatalogResource, storage: OutputStorage, region_id: str, run_id: str
) -> dict[str, Any]:
    """Compute one region's risk rasters and commit them; return the materialization metadata.

    The work of a ``region_risk_rasters`` partition, run on the region cluster
    (:meth:`ComputeResource.run`): reads the inputs and commits to the raster store there. The
    region checks run on the result before the commit, which records the identities of the
    inputs read; rasters failing the checks raise :class:`RegionValidationError` (bad input).
    """
    storage.ensure_writable()
    inputs_catalog = catalog.catalog()
    grid = inputs_catalog.grid
    started = time.perf_counter()
    inputs = inputs_catalog.region_inputs(region_id)
    wind = regridded_wind(storage, inputs)
    risk = science.region_risk(
        riley_270m=inputs.riley_270m,
        riley_30m=inputs.riley_30m,
        crps=inputs.crps,
        rps=inputs.rps,
        wind_distribution=wind,
        bounds=inputs.bounds,
    )
    risk.attrs.update(storage.dataset_attrs)
    computed = time.perf_counter()
    store = storage.raster_store()
    # The store's attributes: the published raster metadata dict (CC-BY-4.0).
    store.ensure_layout(grid, risk, dataset_metadata(storage).raster())
    # Gate: the blocking region checks run on the result before anything reaches main.
    require_passing(
        region_id,
        region_check_outcomes(risk, store.grid_parameters(), grid, region_id, inputs, wind),
    )
    snapshot_id = store.write_region(
        grid,
        region_id,
        risk,
        metadata={
            "dagster_run_id": run_id,
            "environment": storage.environment,
            "version": storage.dataset_version,
            INPUT_VERSIONS_KEY: region_input_versions(inputs_catalog),
        },
    )
    written = time.perf_counter()
    return {
        "snapshot_id": snapshot_id,
        "raster_store": dg.MetadataValue.path(store.location),
        "shape": dg.MetadataValue.json(dict(risk.sizes)),
        "bounds": dg.MetadataValue.json(list(inputs.bounds)),
        "preview": dg.MetadataValue.url(preview_url(inputs.bounds)),
        "variables": variable_summary(risk),
        "rps_2011_nan_share": float(risk["rps_2011"].isnull().mean()),
        "compute_seconds": round(computed - started, 3),
        "commit_seconds": round(written - computed, 3),
        "rps_2011": thumbnail_markdown(risk["rps_2011"], f"rps_2011 of {region_id}"),
    }


def region_buildings(
    catalog: InputCatalogResource, storage: OutputStorage, region_id: str
) -> dict[str, Any]:
    """Sample one region's rasters at its buildings and write the table; return the metadata.

    The work of a ``region_buildings`` partition, run on the region cluster. Raises
    :class:`~ocr_assets.storage.StorageError` for a region missing from the raster store and
    :class:`RegionValidationError` when every building was dropped for NaN values.
    """
    path = storage.paths.region_buildings(region_id)
    storage.ensure_writable()
    inputs_catalog = catalog.catalog()
    grid = inputs_catalog.grid
    bounds = grid.bounds(region_id)
    store = storage.raster_store()
    if region_id not in store.committed_regions():
        raise StorageError(
            f"region {region_id} is not in the raster store {store.location}: "
            "materialize region_risk_rasters for it first"
        )
    candidates = inputs_catalog.buildings(bbox=bounds)
    rasters = store.read_region(grid, region_id)[list(science.VARIABLES)].load()
    table, dropped = sample_buildings(candidates, rasters, grid, region_id)
    if dropped and table.empty:
        raise RegionValidationError(
            f"region {region_id}: all {dropped} buildings dropped for NaN risk values, "
            f"refusing to write an empty table to {path}; check the region's rasters"
        )
    size = write_geoparquet(table, path)
    return {
        "path": dg.MetadataValue.path(path),
        "preview": dg.MetadataValue.url(preview_url(bounds)),
        "dagster/row_count": len(table),
        "dropped_nan_rows": dropped,
        "candidate_rows": len(candidates),
        "file_size_bytes": size,
    }


def build_region_assets(
    partitions_def: dg.PartitionsDefinition,
    retry_policy: dg.RetryPolicy = REGION_RETRY_POLICY,
) -> RegionAssets:
    """Build ``region_risk_rasters`` and ``region_buildings`` over ``partitions_def``."""

    @dg.asset(
        partitions_def=partitions_def,
        deps=[wind_direction_distribution, *REGION_INPUT_ASSETS],
        retry_policy=retry_policy,
        group_name=GROUP,
        kinds={"icechunk", "zarr"},
        code_version="1",
        description=(
            "The 8 risk variables (docs/science.md) on the region's 30 m window, committed to the "
            "Icechunk raster store (one commit per region)."
        ),
    )
    def region_risk_rasters(
        context: dg.AssetExecutionContext,
        catalog: InputCatalogResource,
        storage: OutputStorage,
        compute: ComputeResource,
    ) -> dg.MaterializeResult:
        """Compute the region's risk rasters from its buffered inputs and commit them."""
        region_id = context.partition_key
        with final_on_bad_input():
            metadata = compute.run(
                asset_name(context),
                region_rasters,
                catalog,
                storage,
                region_id,
                # Not the deprecated ``context.run_id``; the op context's id is the run's.
                context.op_execution_context.run_id,
            )
        context.log.info(
            f"region {region_id}: computed in {metadata['compute_seconds']:.1f} s, committed "
            f"snapshot {metadata['snapshot_id']} in {metadata['commit_seconds']:.1f} s"
        )
        return dg.MaterializeResult(metadata=metadata)

    @dg.asset(
        name="region_buildings",
        partitions_def=partitions_def,
        deps=[region_risk_rasters],
        retry_policy=retry_policy,
        group_name=GROUP,
        kinds={"geopandas", "parquet"},
        code_version="2",
        description=(
            "The region's buildings (centroid in the region's half-open box: every building in "
            "exactly one region) with the 8 "
            "risk variables of the nearest 30 m pixel; GeoParquet 1.1."
        ),
    )
    def region_buildings_asset(
        context: dg.AssetExecutionContext,
        catalog: InputCatalogResource,
        storage: OutputStorage,
        compute: ComputeResource,
    ) -> dg.MaterializeResult:
        """Sample the region's rasters at its buildings and write the table."""
        region_id = context.partition_key
        with final_on_bad_input():
            metadata = compute.run(
                asset_name(context), region_buildings, catalog, storage, region_id
            )
        context.log.info(
            f"region {region_id}: {metadata['dagster/row_count']} buildings written, "
            f"{metadata['dropped_nan_rows']} dropped for NaN"
        )
        return dg.MaterializeResult(metadata=metadata)

    return RegionAssets(rasters=region_risk_rasters, buildings=region_buildings_asset)
