"""Phase 02: building GeoParquet, summary statistics, analysis files, regional tiles, pyramid.

Thin assets over :mod:`ocr_assets.rollups`. Each asset's work is a module-level function
(:func:`statistics_partial`, :func:`consolidated_buildings`, :func:`summary_statistics`,
:func:`analysis_files`, :func:`statistics_pmtiles`, :func:`pyramid`) that takes its inputs as
locations (loaded by the upstream IO managers) and writes its files into the paths it is given
(``outputs``). The asset body returns it as a :class:`~ocr_assets.outputs.Deferred`; the
``files_io_manager`` runs it on the asset's own cluster and publishes the files atomically
(refusing a roll-up that would lose most of the published buildings), recording the
metadata of its ``describe_*`` function and the region partitions it was built from.

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

import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg

from ocr_assets.assets.regions import REGION_RETRY_POLICY, RegionAssets
from ocr_assets.assets.rollup_support import (
    census_levels,
    dataset_metadata,
    pmtiles_metadata,
    regions_metadata,
    upstream_regions,
)
from ocr_assets.catalog import InputCatalog
from ocr_assets.io_managers import FILES_IO_MANAGER, StoredRegions
from ocr_assets.outputs import Deferred
from ocr_assets.preview import preview_url
from ocr_assets.regions import Bounds
from ocr_assets.resources import InputCatalogResource, OutputStorage
from ocr_assets.rollups import (
    LEVELS,
    AnalysisFiles,
    ConsolidatedBuildings,
    DatasetMetadata,
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
from ocr_assets.rollups._sources import TableSource
from ocr_assets.rollups.pyramid import ZARR_JS_MAX_LEVEL
from ocr_assets.rollups.schema import ANALYSIS_FOLDERS
from ocr_assets.storage import OutputPaths, join, store_window

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


def statistics_files(folder: str, names: Mapping[str, str]) -> dict[str, str]:
    """The summary statistics file of every level in the ``region_summary_stats`` folder."""
    return {level: join(folder, names[level]) for level in LEVELS}


def statistics_names(paths: OutputPaths) -> dict[str, str]:
    """The file name of every level's summary statistics (inside their folder)."""
    return {level: posixpath.basename(paths.region_summary_stats(level)) for level in LEVELS}


def statistics_partial(
    input_root: str, buildings: TableSource, region_id: str, *, outputs: Mapping[str, str]
) -> tuple[RegionPartial, dict[str, int], Bounds]:
    """Assign one region's buildings to census polygons; write the partial aggregates.

    Runs on the region cluster (``files_io_manager``), into ``outputs["partial"]``.

    Returns:
        The partial, the number of census polygons read per level, and the region's bounds.
    """
    inputs = InputCatalog(input_root)
    bounds = inputs.grid.bounds(region_id)
    census = census_levels(inputs, bbox=grown(bounds, CENSUS_MARGIN_DEG))
    partial = write_region_partial(buildings, census, outputs["partial"])
    return partial, {level: len(polygons.frame) for level, polygons in census.items()}, bounds


def describe_partial(summary: tuple[RegionPartial, dict[str, int], Bounds]) -> dict[str, Any]:
    """Materialization metadata of a region's partial aggregates."""
    partial, polygons, bounds = summary
    return {
        "preview": dg.MetadataValue.url(preview_url(bounds)),
        "dagster/row_count": partial.buildings,
        "unassigned_per_level": dg.MetadataValue.json(partial.unassigned),
        "census_polygons_per_level": dg.MetadataValue.json(polygons),
    }


def consolidated_buildings(
    files: Sequence[str], metadata: DatasetMetadata, *, outputs: Mapping[str, str]
) -> ConsolidatedBuildings:
    """Stream every region's buildings into the consolidated and hive outputs (its cluster)."""
    return consolidate_buildings(files, outputs["consolidated"], outputs["hive"], metadata)


def describe_consolidated(written: ConsolidatedBuildings) -> dict[str, Any]:
    """Materialization metadata of the consolidated buildings."""
    return {
        "dagster/row_count": written.rows,
        "consolidated_bytes": written.consolidated_bytes,
        "hive_bytes": written.hive_bytes,
        "hive_files": written.hive_files,
        "counties": written.counties,
    }


def summary_statistics(
    input_root: str,
    partials: Sequence[str],
    names: Mapping[str, str],
    *,
    outputs: Mapping[str, str],
) -> list[SummaryStatistics]:
    """Merge the regions' partials into the statistics of every level (on its cluster).

    All levels appear together: written into one folder (``outputs["statistics"]``), which
    the IO manager publishes whole.
    """
    census = census_levels(InputCatalog(input_root))
    folder = Path(outputs["statistics"])
    folder.mkdir(parents=True)
    return [
        write_summary_statistics(partials, census[level], str(folder / names[level]))
        for level in LEVELS
    ]


def describe_statistics(written: Sequence[SummaryStatistics]) -> dict[str, Any]:
    """Materialization metadata of the summary statistics: a table of the levels."""
    levels = [
        dg.TableRecord(
            {"level": w.level, "polygons": w.rows, "buildings": w.buildings, "bytes": w.bytes}
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
    return {
        "levels": dg.MetadataValue.table(levels, schema=schema),
        "dagster/row_count": sum(w.rows for w in written),
    }


def analysis_files(
    statistics: str,
    names: Mapping[str, str],
    metadata: DatasetMetadata,
    *,
    outputs: Mapping[str, str],
) -> list[AnalysisFiles]:
    """Write the analysis files of every level from the summary statistics (on its cluster)."""
    stats = statistics_files(statistics, names)
    folder = Path(outputs["analysis"])
    folder.mkdir(parents=True)
    return [
        write_analysis_files(stats[level], str(folder / ANALYSIS_FOLDERS[level]), level, metadata)
        for level in LEVELS
    ]


def describe_analysis(written: Sequence[AnalysisFiles]) -> dict[str, Any]:
    """Materialization metadata of the analysis files: rows and bytes per level."""
    return {
        "rows_per_level": dg.MetadataValue.json({w.level: w.rows for w in written}),
        "bytes_per_level": dg.MetadataValue.json({w.level: w.bytes for w in written}),
        "dagster/row_count": sum(w.rows for w in written),
    }


def statistics_pmtiles(
    statistics: str,
    names: Mapping[str, str],
    metadata: DatasetMetadata,
    *,
    outputs: Mapping[str, str],
) -> PMTilesSummary:
    """Tile the statistics polygons of every level into one archive (on its cluster)."""
    return regional_pmtiles(statistics_files(statistics, names), outputs["pmtiles"], metadata)


def pyramid(
    input_root: str,
    stored: StoredRegions,
    attrs: Mapping[str, Any],
    *,
    outputs: Mapping[str, str],
) -> PyramidSummary:
    """Reproject the regions' RPS rasters to Web Mercator, every zoom level (on its cluster)."""
    grid = InputCatalog(input_root).grid
    windows = [store_window(grid, region_id) for region_id in stored.region_ids]
    latitude = slice(min(w[0].start for w in windows), max(w[0].stop for w in windows))
    longitude = slice(min(w[1].start for w in windows), max(w[1].stop for w in windows))
    rasters = (
        stored.open()[list(PYRAMID_VARIABLES)]
        .isel(latitude=latitude, longitude=longitude)
        # One dask chunk per region: the reprojection reads the store lazily.
        .chunk({"latitude": grid.region_rows, "longitude": grid.region_cols})
    )
    max_level = min(
        level_for_resolution(PYRAMID_RESOLUTION_M, PYRAMID_PIXELS_PER_TILE), ZARR_JS_MAX_LEVEL
    )
    return write_risk_pyramid(
        rasters,
        outputs["pyramid"],
        attrs,
        max_level=max_level,
        pixels_per_tile=PYRAMID_PIXELS_PER_TILE,
        variables=PYRAMID_VARIABLES,
    )


def describe_pyramid(summary: PyramidSummary) -> dict[str, Any]:
    """Materialization metadata of the pyramid: levels, tile size, variables."""
    return {
        "levels": f"{summary.levels[0]}..{summary.levels[-1]}",
        "max_level": summary.levels[-1],
        "pixels_per_tile": summary.pixels_per_tile,
        "variables": dg.MetadataValue.json(list(summary.variables)),
        "finest_level_window": dg.MetadataValue.json(list(summary.windows[summary.levels[-1]])),
    }


def _all_regions(asset: dg.AssetsDefinition) -> dg.AssetIn:
    return dg.AssetIn(asset.key, partition_mapping=dg.AllPartitionMapping())


def build_aggregation_assets(
    partitions_def: dg.PartitionsDefinition,
    region: RegionAssets,
    retry_policy: dg.RetryPolicy = REGION_RETRY_POLICY,
) -> AggregationAssets:
    """Build the phase 02 assets over the region partitions ``partitions_def``."""

    @dg.asset(
        partitions_def=partitions_def,
        ins={"buildings": dg.AssetIn(region.buildings.key)},
        io_manager_key=FILES_IO_MANAGER,
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
        context: dg.AssetExecutionContext, catalog: InputCatalogResource, buildings: Any
    ) -> Deferred:
        """The region's building assignments and partial aggregates."""
        return Deferred(
            statistics_partial, (catalog.root, buildings, context.partition_key), describe_partial
        )

    @dg.asset(
        ins={"buildings": _all_regions(region.buildings)},
        io_manager_key=FILES_IO_MANAGER,
        group_name=GROUP,
        kinds={"geopandas", "parquet"},
        code_version="1",
        description=(
            "Every region's buildings in one GeoParquet 1.1 file, and a copy hive-partitioned "
            "by state_fips / county_fips with a _common_metadata sidecar (dataset metadata)."
        ),
    )
    def buildings_geoparquet(
        storage: OutputStorage, buildings: dict[str, str]
    ) -> dg.Output[Deferred]:
        """Every region's building file, streamed into the consolidated and hive outputs."""
        return dg.Output(
            Deferred(
                consolidated_buildings,
                (list(buildings.values()), dataset_metadata(storage)),
                describe_consolidated,
            ),
            metadata={
                "preview": dg.MetadataValue.url(preview_url()),
                **regions_metadata(buildings),
            },
        )

    @dg.asset(
        ins={"partials": _all_regions(region_statistics_partials)},
        io_manager_key=FILES_IO_MANAGER,
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
        catalog: InputCatalogResource, storage: OutputStorage, partials: dict[str, str]
    ) -> dg.Output[Deferred]:
        """Every region's partial aggregates, merged into the statistics of each level."""
        return dg.Output(
            Deferred(
                summary_statistics,
                (catalog.root, list(partials.values()), statistics_names(storage.paths)),
                describe_statistics,
            ),
            metadata={"preview": dg.MetadataValue.url(preview_url()), **regions_metadata(partials)},
        )

    @dg.asset(
        ins={"statistics": dg.AssetIn(region_summary_stats.key)},
        io_manager_key=FILES_IO_MANAGER,
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
        context: dg.AssetExecutionContext, storage: OutputStorage, statistics: str
    ) -> dg.Output[Deferred]:
        """The analysis files of every level, from the summary statistics."""
        return dg.Output(
            Deferred(
                analysis_files,
                (statistics, statistics_names(storage.paths), dataset_metadata(storage)),
                describe_analysis,
            ),
            metadata={
                "preview": dg.MetadataValue.url(preview_url()),
                **regions_metadata(upstream_regions(context, region_summary_stats.key)),
            },
        )

    @dg.asset(
        name="regional_pmtiles",
        ins={"statistics": dg.AssetIn(region_summary_stats.key)},
        io_manager_key=FILES_IO_MANAGER,
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
        context: dg.AssetExecutionContext, storage: OutputStorage, statistics: str
    ) -> dg.Output[Deferred]:
        """The statistics polygons of every level, tiled into one archive."""
        return dg.Output(
            Deferred(
                statistics_pmtiles,
                (statistics, statistics_names(storage.paths), dataset_metadata(storage)),
                pmtiles_metadata,
            ),
            metadata={
                "preview": dg.MetadataValue.url(preview_url()),
                **regions_metadata(upstream_regions(context, region_summary_stats.key)),
            },
        )

    @dg.asset(
        ins={"stored": _all_regions(region.rasters)},
        io_manager_key=FILES_IO_MANAGER,
        group_name=GROUP,
        kinds={"zarr"},
        code_version="1",
        description=(
            "Optional (OCR_CREATE_PYRAMID): multiscale Web-Mercator Zarr of rps_2011 and "
            "rps_2047 from the raster store, for the web map."
        ),
    )
    def risk_pyramid(
        catalog: InputCatalogResource, storage: OutputStorage, stored: StoredRegions
    ) -> dg.Output[Deferred]:
        """The regions' RPS rasters reprojected to Web Mercator, every zoom level."""
        return dg.Output(
            Deferred(
                pyramid,
                (catalog.root, stored, dataset_metadata(storage).raster()),
                describe_pyramid,
            ),
            metadata={
                "preview": dg.MetadataValue.url(preview_url()),
                **regions_metadata(stored.region_ids),
            },
        )

    return AggregationAssets(
        statistics_partials=region_statistics_partials,
        buildings_geoparquet=buildings_geoparquet,
        summary_stats=region_summary_stats,
        analysis_files=region_analysis_files,
        regional_pmtiles=regional_pmtiles_asset,
        risk_pyramid=risk_pyramid,
    )
