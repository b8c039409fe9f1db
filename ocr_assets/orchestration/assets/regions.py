"""Phase 01 per region: the 30 m risk rasters and the region's buildings with sampled risk.

Both assets are partitioned by region
(:data:`~ocr_assets.orchestration.partitions.REGION_PARTITIONS`). Each body does its work on
the region's cluster (``compute.persist``) and returns the result: the rasters as an
``xarray.Dataset``, the buildings as a ``GeoDataFrame``. On the process's own cluster (local
runs, tests) those are the values themselves; on a remote cluster they stay there as lazy
values and the output's IO manager stores them there (one Icechunk commit; one GeoParquet
file), so a region's gigabyte of rasters never passes through the process running the step.
``region_buildings`` reads the rasters through the raster IO manager (lazily), so each
partition can run, and be retried, on its own. With ``dagster.InMemoryIOManager`` the same
assets run without any storage.

The rasters are checked before they are returned (:func:`region_rasters` raises
:class:`~ocr_assets.orchestration.assets.region_checks.RegionValidationError`), so a failing
region is never committed; the blocking asset checks then record the verdict per partition.
"""

from collections.abc import Mapping
from typing import Any

import dagster as dg
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import xarray as xr

from ocr_assets import science
from ocr_assets.catalog import BUILDING_TAGS, InputCatalog
from ocr_assets.catalog.staleness import ASSET_ROW_INPUTS, region_input_versions
from ocr_assets.orchestration.assets.inputs import REGION_INPUT_ASSETS, ROW_INPUT_ASSETS
from ocr_assets.orchestration.assets.metadata import thumbnail_metadata, variable_summary
from ocr_assets.orchestration.assets.region_checks import (
    RegionValidationError,
    region_check_outcomes,
    regridded_wind,
    require_passing,
)
from ocr_assets.orchestration.assets.wind import GROUP, wind_direction_distribution
from ocr_assets.orchestration.io_managers import GEOPARQUET_IO_MANAGER, RASTER_STORE_IO_MANAGER
from ocr_assets.orchestration.partitions import REGION_PARTITIONS
from ocr_assets.orchestration.readable import rounded, significant
from ocr_assets.orchestration.resources import ComputeResource, InputCatalogResource
from ocr_assets.orchestration.types import RegionRasters, RegionTable
from ocr_assets.preview import preview_url
from ocr_assets.regions import RegionGrid
from ocr_assets.rollups.schema import RISK_VARIABLES
from ocr_assets.storage.geoparquet import BUILT_FROM
from ocr_assets.storage.raster_store import region_attrs, region_of

RASTERS = "region_risk_rasters"
BUILDINGS = "region_buildings"

#: The region table's risk columns, in the published order (float32).
REGION_VARIABLES: tuple[str, ...] = RISK_VARIABLES
#: The region table's tag columns and the tagged-buildings columns they come from, as published
#: (``block_geoid AS GEOID, state_abbrev AS state, county_name AS county``).
REGION_TAGS: dict[str, str] = dict(zip(("GEOID", "state", "county"), BUILDING_TAGS, strict=True))


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


def region_rasters(input_root: str, wind: xr.DataArray, region_id: str) -> xr.Dataset:
    """Compute one region's risk rasters from its buffered inputs (on the region's cluster).

    The region checks run on the result first: rasters failing them raise
    :class:`RegionValidationError` (bad input), so a failing region is never committed. The
    result carries the region, its grid and its inputs' identities as attributes
    (:func:`~ocr_assets.storage.raster_store.region_attrs`).

    Args:
        input_root: The inputs (``InputCatalogResource.root``).
        wind: The coarse wind-direction distribution (``wind_direction_distribution``).
        region_id: The region.
    """
    catalog = InputCatalog(input_root)
    grid = catalog.grid
    inputs = catalog.region_inputs(region_id)
    window_wind = regridded_wind(wind, inputs)
    risk = science.region_risk(
        riley_270m=inputs.riley_270m,
        riley_30m=inputs.riley_30m,
        crps=inputs.crps,
        rps=inputs.rps,
        wind_distribution=window_wind,
        bounds=inputs.bounds,
    )
    # Gate: the blocking region checks run on the result before it can be committed (the
    # store's own grid is checked when committing).
    require_passing(
        region_id,
        region_check_outcomes(risk, grid.to_dict(), grid, region_id, inputs, window_wind),
    )
    risk.attrs.update(region_attrs(grid, region_id, region_input_versions(catalog)))
    return risk


def describe_rasters(input_root: str, rasters: xr.Dataset) -> dict[str, Any]:
    """Materialization metadata of a region's rasters: the states it covers, shape, extent,
    value summary, thumbnail."""
    grid, region_id = region_of(rasters)
    bounds = grid.bounds(region_id)
    return {
        "states": ", ".join(InputCatalog(input_root).states_covering(bounds)),
        "shape": dg.MetadataValue.json(dict(rasters.sizes)),
        "bounds": dg.MetadataValue.json(rounded(list(bounds), 6)),
        "preview": dg.MetadataValue.url(preview_url(bounds)),
        "variables": variable_summary(rasters),
        "rps_2011_nan_share": significant(float(rasters["rps_2011"].isnull().mean())),
        **thumbnail_metadata(rasters["rps_2011"], "rps_2011"),
    }


def region_table(
    input_root: str, rasters: xr.Dataset, built_from: Mapping[str, str]
) -> gpd.GeoDataFrame:
    """Sample one region's rasters at its buildings (on the region's cluster).

    The table's ``attrs`` carry ``bounds``, ``candidate_rows`` and ``dropped_nan_rows`` for the
    materialization metadata (files never hold them), and ``built_from`` (the identity of the
    region's rows of the buildings file, computed where the step runs: once per process, not
    on every worker), which its file keeps.

    Raises:
        RegionValidationError: when every building was dropped for NaN values.
    """
    grid, region_id = region_of(rasters)
    catalog = InputCatalog(input_root)
    candidates = catalog.buildings(bbox=grid.bounds(region_id))
    table, dropped = sample_buildings(candidates, rasters[list(science.VARIABLES)], grid, region_id)
    if dropped and table.empty:
        raise RegionValidationError(
            f"region {region_id}: all {dropped} buildings dropped for NaN risk values, "
            "refusing to write an empty table; check the region's rasters"
        )
    table.attrs.update(
        bounds=list(grid.bounds(region_id)),
        candidate_rows=len(candidates),
        dropped_nan_rows=dropped,
        # What the table is built from, stored in its file (staleness of its rows).
        **{BUILT_FROM: dict(built_from)},
    )
    return table


def describe_buildings(table: gpd.GeoDataFrame) -> dict[str, Any]:
    """Materialization metadata of a region's buildings (from the table's ``attrs``)."""
    return {
        "preview": dg.MetadataValue.url(preview_url(table.attrs.get("bounds"))),
        "dropped_nan_rows": int(table.attrs.get("dropped_nan_rows", 0)),
        "candidate_rows": int(table.attrs.get("candidate_rows", len(table))),
        "built_from": dg.MetadataValue.json(table.attrs.get(BUILT_FROM, {})),
    }


@dg.asset(
    partitions_def=REGION_PARTITIONS,
    ins={"wind": dg.AssetIn(wind_direction_distribution.key)},
    deps=REGION_INPUT_ASSETS,
    io_manager_key=RASTER_STORE_IO_MANAGER,
    dagster_type=RegionRasters,
    group_name=GROUP,
    kinds={"icechunk", "zarr"},
    code_version="2",
    description=(
        "The 8 risk variables (docs/science.md) on the region's 30 m window, checked, then "
        "committed to the Icechunk raster store (one commit per region)."
    ),
)
def region_risk_rasters(
    context: dg.AssetExecutionContext,
    catalog: InputCatalogResource,
    compute: ComputeResource,
    wind: xr.DataArray,
) -> dg.Output[xr.Dataset]:
    """Compute the region's risk rasters on the region's cluster."""
    rasters = compute.persist(RASTERS, region_rasters, catalog.root, wind, context.partition_key)
    return dg.Output(
        rasters, metadata=compute.run(RASTERS, describe_rasters, catalog.root, rasters)
    )


@dg.asset(
    partitions_def=REGION_PARTITIONS,
    ins={"rasters": dg.AssetIn(region_risk_rasters.key)},
    deps=[ROW_INPUT_ASSETS[name] for name in ASSET_ROW_INPUTS[BUILDINGS]],
    io_manager_key=GEOPARQUET_IO_MANAGER,
    dagster_type=RegionTable,
    group_name=GROUP,
    kinds={"geopandas", "parquet"},
    code_version="2",
    description=(
        "The region's buildings (centroid in the region's half-open box: every building in "
        "exactly one region) with the 8 risk variables of the nearest 30 m pixel; "
        "GeoParquet 1.1."
    ),
)
def region_buildings(
    context: dg.AssetExecutionContext,
    catalog: InputCatalogResource,
    compute: ComputeResource,
    rasters: xr.Dataset,
) -> dg.Output[Any]:
    """Sample the region's rasters at its buildings, on the region's cluster."""
    rows = ASSET_ROW_INPUTS[BUILDINGS]
    built_from = catalog.catalog().row_versions(rows, context.partition_key)
    table = compute.persist(BUILDINGS, region_table, catalog.root, rasters, built_from)
    return dg.Output(table, metadata=compute.run(BUILDINGS, describe_buildings, table))
