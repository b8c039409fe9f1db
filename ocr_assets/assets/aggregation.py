"""Phase 02: building GeoParquet, summary statistics, analysis files, regional tiles, pyramid.

Thin assets over :mod:`ocr_assets.rollups`. Each asset's work is a module-level function
(:func:`statistics_partial`, :func:`consolidated_buildings`, :func:`summary_statistics`,
:func:`analysis_files`, :func:`statistics_pmtiles`, :func:`pyramid`) that runs on the asset's
own cluster (``ComputeResource.run``), reads and writes storage there and returns a small
summary; the asset returns :class:`dagster.MaterializeResult` with row counts, sizes, timing
and the region partitions it was built from.

What is incremental
    ``region_statistics_partials`` is partitioned by region: it assigns one region's buildings
    to the census polygons of every level and writes that region's partial aggregates.
    ``region_summary_stats`` merges the partials of all regions (cheap: sums, plus exact
    medians of the polygons shared by several regions), so re-materializing one region redoes
    only that region's partial. ``buildings_geoparquet`` (a streamed copy of every region
    file), ``region_analysis_files``, ``regional_pmtiles`` and ``risk_pyramid`` are rebuilt
    whole each time (see the library modules for why).

The optional branches ``risk_pyramid`` and ``region_analysis_files`` are always in the graph;
:mod:`ocr_assets.branches` decides whether the jobs select them.
"""

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from ocr_assets.assets.errors import final_on_bad_input
from ocr_assets.assets.regions import REGION_RETRY_POLICY, RegionAssets
from ocr_assets.assets.rollup_support import (
    asset_name,
    census_levels,
    dataset_metadata,
    existing_region_outputs,
    folder_size,
    partition_region_ids,
    pmtiles_metadata,
    region_buildings_files,
    regions_metadata,
    require_regions,
    upstream_regions,
)
from ocr_assets.preview import preview_url
from ocr_assets.regions import Bounds
from ocr_assets.resources import ComputeResource, InputCatalogResource, OutputStorage
from ocr_assets.rollups import (
    LEVELS,
    AnalysisFiles,
    ConsolidatedBuildings,
    PMTilesSummary,
    PyramidSummary,
    RegionPartial,
    SummaryStatistics,
    consolidate_buildings,
    level_for_resolution,
    regional_pmtiles,
    write_analysis_files,
    write_region_partial,
    write_risk_pyramid,
    write_summary_statistics,
)
from ocr_assets.rollups.pyramid import ZARR_JS_MAX_LEVEL
from ocr_assets.rollups.schema import ANALYSIS_FOLDERS
from ocr_assets.storage import StorageError, atomic_output, objects, store_window
from ocr_assets.storage.guard import parquet_rows, published_rows, published_sum

GROUP = "phase02"

#: Census polygons are read for the region's bounds grown by this much (degrees), so polygons
#: touching a building centroid on the region's edge are included.
CENSUS_MARGIN_DEG = 1e-6
#: Finest pyramid resolution (metres), as the published pyramid (``zoom_for_res(30)``).
PYRAMID_RESOLUTION_M = 30.0
#: Pixels per pyramid tile side (and chunk side of every level), as the published pyramid: with
#: the levels zarr-js can open (``ZARR_JS_MAX_LEVEL``), the finest pixels are about 38 m.
PYRAMID_PIXELS_PER_TILE = 512
#: The variables of the pyramid.
PYRAMID_VARIABLES: tuple[str, ...] = ("rps_2011", "rps_2047")


@dataclass(frozen=True)
class AggregationAssets:
    """The phase 02 assets."""

    statistics_partials: dg.AssetsDefinition
    buildings_geoparquet: dg.AssetsDefinition
    summary_stats: dg.AssetsDefinition
    analysis_files: dg.AssetsDefinition
    regional_pmtiles: dg.AssetsDefinition
    risk_pyramid: dg.AssetsDefinition

    @property
    def all(self) -> list[dg.AssetsDefinition]:
        """Every phase 02 asset."""
        return [
            self.statistics_partials,
            self.buildings_geoparquet,
            self.summary_stats,
            self.analysis_files,
            self.regional_pmtiles,
            self.risk_pyramid,
        ]


def grown(bounds: Bounds, margin: float) -> Bounds:
    """``bounds`` grown by ``margin`` on every side."""
    west, south, east, north = bounds
    return (west - margin, south - margin, east + margin, north + margin)


def statistics_files(storage: OutputStorage) -> dict[str, str]:
    """The summary statistics file of every level, after checking that each exists.

    Raises:
        StorageError: naming the missing files.
    """
    files = {level: storage.paths.region_summary_stats(level) for level in LEVELS}
    missing = [path for path in files.values() if not objects.exists(path)]
    if missing:
        raise StorageError(f"{', '.join(missing)} missing: materialize region_summary_stats first")
    return files


def statistics_partial(
    catalog: InputCatalogResource, storage: OutputStorage, region_id: str
) -> tuple[RegionPartial, dict[str, int], Bounds]:
    """Write one region's building assignments and partial aggregates (on the region cluster).

    Returns:
        The partial, the number of census polygons read per level, and the region's bounds.
    """
    paths = storage.paths
    storage.ensure_writable()
    (buildings,) = region_buildings_files(paths, [region_id])
    inputs = catalog.catalog()
    bounds = inputs.grid.bounds(region_id)
    census = census_levels(inputs, bbox=grown(bounds, CENSUS_MARGIN_DEG))
    partial = write_region_partial(buildings, census, paths.region_statistics_partial(region_id))
    return partial, {level: len(polygons.frame) for level, polygons in census.items()}, bounds


def consolidated_buildings(
    storage: OutputStorage, region_ids: Sequence[str]
) -> ConsolidatedBuildings:
    """Stream every region's buildings into the consolidated and hive outputs (on its cluster).

    Raises:
        OutputLossError: the new file would lose too many of the published buildings.
    """
    paths = storage.paths
    storage.ensure_writable()
    files = region_buildings_files(paths, region_ids)
    storage.check_loss(
        paths.consolidated_buildings,
        published_rows(paths.consolidated_buildings),
        sum(parquet_rows(location) for location in files),
        "buildings",
    )
    return consolidate_buildings(
        files, paths.consolidated_buildings, paths.partitioned_buildings, dataset_metadata(storage)
    )


def summary_statistics(
    catalog: InputCatalogResource, storage: OutputStorage, region_ids: Sequence[str]
) -> list[SummaryStatistics]:
    """Merge the regions' partials into the statistics of every level (on its cluster).

    All levels appear together: written into a fresh folder swapped in at the end.
    """
    paths = storage.paths
    storage.ensure_writable()
    partials = existing_region_outputs(
        region_ids,
        paths.region_statistics_partial,
        "region_statistics_partials",
        paths.region_statistics_partials_dir,
    )
    census = census_levels(catalog.catalog())
    with atomic_output(paths.region_summary_stats_dir) as folder:
        written = [
            write_summary_statistics(
                partials, census[level], str(folder / Path(paths.region_summary_stats(level)).name)
            )
            for level in LEVELS
        ]
        storage.check_loss(
            paths.region_summary_stats_dir,
            published_sum(
                [paths.region_summary_stats(level) for level in LEVELS], "building_count"
            ),
            sum(w.buildings for w in written),
            "buildings (summed over the levels)",
        )
    return written


def analysis_files(storage: OutputStorage) -> list[AnalysisFiles]:
    """Write the analysis files of every level from the summary statistics (on its cluster)."""
    paths = storage.paths
    storage.ensure_writable()
    stats = statistics_files(storage)
    metadata = dataset_metadata(storage)
    with atomic_output(paths.region_analysis_dir) as folder:
        return [
            write_analysis_files(
                stats[level], str(folder / ANALYSIS_FOLDERS[level]), level, metadata
            )
            for level in LEVELS
        ]


def statistics_pmtiles(storage: OutputStorage) -> PMTilesSummary:
    """Tile the statistics polygons of every level into one archive (on its cluster)."""
    storage.ensure_writable()
    return regional_pmtiles(
        statistics_files(storage), storage.paths.regional_pmtiles, dataset_metadata(storage)
    )


def pyramid(
    catalog: InputCatalogResource, storage: OutputStorage, region_ids: Sequence[str]
) -> PyramidSummary:
    """Reproject the regions' RPS rasters to Web Mercator, every zoom level (on its cluster)."""
    storage.ensure_writable()
    store = storage.raster_store()
    require_regions(region_ids, store.committed_regions(), "region_risk_rasters", store.location)
    grid = catalog.catalog().grid
    windows = [store_window(grid, region_id) for region_id in region_ids]
    latitude = slice(min(w[0].start for w in windows), max(w[0].stop for w in windows))
    longitude = slice(min(w[1].start for w in windows), max(w[1].stop for w in windows))
    rasters = (
        store.open()[list(PYRAMID_VARIABLES)]
        .isel(latitude=latitude, longitude=longitude)
        # One dask chunk per region: the reprojection reads the store lazily.
        .chunk({"latitude": grid.region_rows, "longitude": grid.region_cols})
    )
    max_level = min(
        level_for_resolution(PYRAMID_RESOLUTION_M, PYRAMID_PIXELS_PER_TILE), ZARR_JS_MAX_LEVEL
    )
    return write_risk_pyramid(
        rasters,
        storage.paths.risk_pyramid,
        dataset_metadata(storage).raster(),
        max_level=max_level,
        pixels_per_tile=PYRAMID_PIXELS_PER_TILE,
        variables=PYRAMID_VARIABLES,
    )


def _all_regions(asset: dg.AssetsDefinition) -> dg.AssetDep:
    return dg.AssetDep(asset, partition_mapping=dg.AllPartitionMapping())


def build_aggregation_assets(
    partitions_def: dg.PartitionsDefinition,
    region: RegionAssets,
    retry_policy: dg.RetryPolicy = REGION_RETRY_POLICY,
) -> AggregationAssets:
    """Build the phase 02 assets over the region partitions ``partitions_def``."""

    @dg.asset(
        partitions_def=partitions_def,
        deps=[region.buildings],
        retry_policy=retry_policy,
        group_name=GROUP,
        kinds={"duckdb", "parquet"},
        code_version="1",
        description=(
            "The region's buildings assigned to the census polygons of every level (the one "
            "containing the footprint centroid), scored, and aggregated per polygon: the "
            "partial statistics region_summary_stats merges."
        ),
    )
    def region_statistics_partials(
        context: dg.AssetExecutionContext,
        catalog: InputCatalogResource,
        storage: OutputStorage,
        compute: ComputeResource,
    ) -> dg.MaterializeResult:
        """Write the region's building assignments and partial aggregates."""
        region_id = context.partition_key
        started = time.perf_counter()
        with final_on_bad_input():
            partial, polygons, bounds = compute.run(
                asset_name(context), statistics_partial, catalog, storage, region_id
            )
        seconds = time.perf_counter() - started
        context.log.info(
            f"region {region_id}: {partial.buildings} buildings assigned in {seconds:.1f} s"
        )
        return dg.MaterializeResult(
            metadata={
                "path": dg.MetadataValue.path(partial.location),
                "preview": dg.MetadataValue.url(preview_url(bounds)),
                "dagster/row_count": partial.buildings,
                "unassigned_per_level": dg.MetadataValue.json(partial.unassigned),
                "census_polygons_per_level": dg.MetadataValue.json(polygons),
                "file_size_bytes": folder_size(partial.location),
                "seconds": round(seconds, 3),
            }
        )

    @dg.asset(
        deps=[_all_regions(region.buildings)],
        group_name=GROUP,
        kinds={"geopandas", "parquet"},
        code_version="1",
        description=(
            "Every region's buildings in one GeoParquet 1.1 file, and a copy hive-partitioned "
            "by state_fips / county_fips with a _common_metadata sidecar (dataset metadata)."
        ),
    )
    def buildings_geoparquet(
        context: dg.AssetExecutionContext, storage: OutputStorage, compute: ComputeResource
    ) -> dg.MaterializeResult:
        """Stream all region building files into the consolidated and hive outputs."""
        started = time.perf_counter()
        region_ids = partition_region_ids(context, partitions_def)
        with final_on_bad_input():
            written = compute.run(asset_name(context), consolidated_buildings, storage, region_ids)
        seconds = time.perf_counter() - started
        context.log.info(
            f"{written.rows} buildings from {len(region_ids)} regions in {seconds:.1f} s "
            f"({written.rows / max(seconds, 1e-9):.0f} buildings/s)"
        )
        return dg.MaterializeResult(
            metadata={
                "consolidated": dg.MetadataValue.path(written.consolidated),
                "hive": dg.MetadataValue.path(written.hive),
                "preview": dg.MetadataValue.url(preview_url()),
                "dagster/row_count": written.rows,
                "consolidated_bytes": written.consolidated_bytes,
                "hive_bytes": written.hive_bytes,
                "hive_files": written.hive_files,
                "counties": written.counties,
                "seconds": round(seconds, 3),
                **regions_metadata(region_ids),
            }
        )

    @dg.asset(
        deps=[_all_regions(region_statistics_partials)],
        group_name=GROUP,
        kinds={"duckdb", "parquet"},
        code_version="1",
        description=(
            "Building count, mean and median of the 7 building variables and both risk-score "
            "histograms for every census block, tract, county, state and the nation with "
            "buildings (published columns); one GeoParquet per level, merged from the region "
            "partials."
        ),
    )
    def region_summary_stats(
        context: dg.AssetExecutionContext,
        catalog: InputCatalogResource,
        storage: OutputStorage,
        compute: ComputeResource,
    ) -> dg.MaterializeResult:
        """Merge every region's partial aggregates into the statistics of each level."""
        started = time.perf_counter()
        paths = storage.paths
        region_ids = partition_region_ids(context, partitions_def)
        with final_on_bad_input():
            written = compute.run(
                asset_name(context), summary_statistics, catalog, storage, region_ids
            )
        seconds = time.perf_counter() - started
        levels = [
            dg.TableRecord(
                {
                    "level": w.level,
                    "polygons": w.rows,
                    "buildings": w.buildings,
                    "bytes": w.bytes,
                }
            )
            for w in written
        ]
        schema = dg.TableSchema(
            columns=[
                dg.TableColumn("level", "string"),
                dg.TableColumn("polygons", "int", description="polygons with buildings"),
                dg.TableColumn("buildings", "int", description="sum of building_count"),
                dg.TableColumn("bytes", "int"),
            ]
        )
        return dg.MaterializeResult(
            metadata={
                "path": dg.MetadataValue.path(paths.region_summary_stats_dir),
                "levels": dg.MetadataValue.table(levels, schema=schema),
                "preview": dg.MetadataValue.url(preview_url()),
                "dagster/row_count": sum(w.rows for w in written),
                "file_size_bytes": sum(w.bytes for w in written),
                "seconds": round(seconds, 3),
                **regions_metadata(region_ids),
            }
        )

    @dg.asset(
        deps=[region_summary_stats],
        group_name=GROUP,
        kinds={"csv", "geojson", "parquet"},
        code_version="1",
        description=(
            "Optional (OCR_WRITE_REGIONAL_STATS): per census level (folders block, tracts, "
            "counties, states, nation), stats.csv with a '# key: value' metadata header, "
            "stats.geojson and stats.parquet."
        ),
    )
    def region_analysis_files(
        context: dg.AssetExecutionContext, storage: OutputStorage, compute: ComputeResource
    ) -> dg.MaterializeResult:
        """Write the analysis files of every level from the summary statistics."""
        started = time.perf_counter()
        paths = storage.paths
        with final_on_bad_input():
            written = compute.run(asset_name(context), analysis_files, storage)
        seconds = time.perf_counter() - started
        return dg.MaterializeResult(
            metadata={
                "path": dg.MetadataValue.path(paths.region_analysis_dir),
                "preview": dg.MetadataValue.url(preview_url()),
                "rows_per_level": dg.MetadataValue.json({w.level: w.rows for w in written}),
                "bytes_per_level": dg.MetadataValue.json({w.level: w.bytes for w in written}),
                "dagster/row_count": sum(w.rows for w in written),
                "file_size_bytes": sum(sum(w.bytes.values()) for w in written),
                "seconds": round(seconds, 3),
                **regions_metadata(upstream_regions(context, region_summary_stats.key)),
            }
        )

    @dg.asset(
        name="regional_pmtiles",
        deps=[region_summary_stats],
        group_name=GROUP,
        kinds={"pmtiles", "tippecanoe"},
        code_version="1",
        description=(
            "One PMTiles archive with a layer per census level (counties, tracts, blocks, "
            "states, nation); properties '0'..'10': building count, RPS means and medians, "
            "histograms, GEOID, bbox, NAME, STUSPS."
        ),
    )
    def regional_pmtiles_asset(
        context: dg.AssetExecutionContext, storage: OutputStorage, compute: ComputeResource
    ) -> dg.MaterializeResult:
        """Tile the statistics polygons of every level into one archive."""
        started = time.perf_counter()
        with final_on_bad_input():
            summary = compute.run(asset_name(context), statistics_pmtiles, storage)
        seconds = time.perf_counter() - started
        return dg.MaterializeResult(
            metadata={
                **pmtiles_metadata(summary),
                "preview": dg.MetadataValue.url(preview_url()),
                "seconds": round(seconds, 3),
                **regions_metadata(upstream_regions(context, region_summary_stats.key)),
            }
        )

    @dg.asset(
        deps=[_all_regions(region.rasters)],
        group_name=GROUP,
        kinds={"zarr"},
        code_version="1",
        description=(
            "Optional (OCR_CREATE_PYRAMID): multiscale Web-Mercator Zarr of rps_2011 and "
            "rps_2047 from the raster store, for the web map."
        ),
    )
    def risk_pyramid(
        context: dg.AssetExecutionContext,
        catalog: InputCatalogResource,
        storage: OutputStorage,
        compute: ComputeResource,
    ) -> dg.MaterializeResult:
        """Reproject the regions' RPS rasters to Web Mercator and write every zoom level."""
        started = time.perf_counter()
        region_ids = partition_region_ids(context, partitions_def)
        with final_on_bad_input():
            summary = compute.run(asset_name(context), pyramid, catalog, storage, region_ids)
        seconds = time.perf_counter() - started
        return dg.MaterializeResult(
            metadata={
                "path": dg.MetadataValue.path(summary.location),
                "preview": dg.MetadataValue.url(preview_url()),
                "levels": f"{summary.levels[0]}..{summary.levels[-1]}",
                "max_level": summary.levels[-1],
                "pixels_per_tile": summary.pixels_per_tile,
                "variables": dg.MetadataValue.json(list(summary.variables)),
                "finest_level_window": dg.MetadataValue.json(
                    list(summary.windows[summary.levels[-1]])
                ),
                "file_size_bytes": folder_size(summary.location),
                "seconds": round(seconds, 3),
                **regions_metadata(region_ids),
            }
        )

    return AggregationAssets(
        statistics_partials=region_statistics_partials,
        buildings_geoparquet=buildings_geoparquet,
        summary_stats=region_summary_stats,
        analysis_files=region_analysis_files,
        regional_pmtiles=regional_pmtiles_asset,
        risk_pyramid=risk_pyramid,
    )
