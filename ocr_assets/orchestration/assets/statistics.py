"""Phase 02 statistics: per-region partials, summary statistics per census level, analysis files.

What is incremental
    ``region_statistics_partials`` is partitioned by region: it assigns one region's buildings
    to the census polygons of every level and aggregates them per polygon (two tables, stored
    by the tables IO manager). ``region_summary_stats`` merges the partials of every region
    (cheap: sums, plus exact medians of the polygons shared by several regions), so
    re-materializing one region redoes only that region's partial. ``region_analysis_files``
    is rebuilt whole from the statistics.

The two roll-ups run their tool (DuckDB) on their own cluster and write their folder through
:func:`~ocr_assets.storage.publish`: the summary statistics are refused when they would lose
most of the published buildings (the loss guard). Their blocking checks
(:mod:`~ocr_assets.orchestration.assets.statistics_checks`) gate every tile.
"""

import posixpath
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc

from ocr_assets.catalog import InputCatalog
from ocr_assets.catalog.staleness import ASSET_ROW_INPUTS
from ocr_assets.orchestration.assets.inputs import ROW_INPUT_ASSETS
from ocr_assets.orchestration.assets.regions import BUILDINGS, region_buildings
from ocr_assets.orchestration.assets.rollups import (
    census_levels,
    every_region,
    rollup_regions,
    rollup_result,
)
from ocr_assets.orchestration.io_managers import TABLES_IO_MANAGER
from ocr_assets.orchestration.partitions import REGION_PARTITIONS
from ocr_assets.orchestration.readable import size_text
from ocr_assets.orchestration.resources import (
    ComputeResource,
    InputCatalogResource,
    OutputStorage,
)
from ocr_assets.orchestration.types import Tables
from ocr_assets.preview import preview_url
from ocr_assets.regions import Bounds
from ocr_assets.rollups import (
    LEVELS,
    AnalysisFiles,
    DatasetMetadata,
    SummaryStatistics,
    write_analysis_files,
    write_summary_statistics,
)
from ocr_assets.rollups.schema import ANALYSIS_FOLDERS
from ocr_assets.rollups.stats import ASSIGNMENTS, region_partial
from ocr_assets.storage import Layout, Published, join, publish
from ocr_assets.storage.geoparquet import with_built_from
from ocr_assets.storage.guard import LossGuard, published_sum

GROUP = "phase02"
PARTIALS = "region_statistics_partials"
SUMMARY_STATS = "region_summary_stats"
ANALYSIS_FILES = "region_analysis_files"

#: The partial's table whose file records what the partial was built from.
BUILT_FROM_TABLE = ASSIGNMENTS
#: Census polygons are read for the region's bounds grown by this much (degrees), so polygons
#: touching a building centroid on the region's edge are included.
CENSUS_MARGIN_DEG = 1e-6


def grown(bounds: Bounds, margin: float) -> Bounds:
    """``bounds`` grown by ``margin`` on every side."""
    west, south, east, north = bounds
    return (west - margin, south - margin, east + margin, north + margin)


def statistics_names(layout: Layout) -> dict[str, str]:
    """The file name of every level's summary statistics (inside their folder)."""
    return {level: posixpath.basename(layout.region_summary_stats(level)) for level in LEVELS}


def statistics_files(folder: str, names: Mapping[str, str]) -> dict[str, str]:
    """The summary statistics file of every level in the ``region_summary_stats`` folder."""
    return {level: join(folder, names[level]) for level in LEVELS}


# --------------------------------------------------------------------------- partials
def statistics_partial(
    input_root: str, buildings: Any, region_id: str, built_from: Mapping[str, str]
) -> dict[str, pa.Table]:
    """Assign one region's buildings to census polygons and aggregate them (region's cluster).

    Returns the partial's tables (``assignments``, ``aggregates``); the assignments carry
    ``built_from`` (the identities of the region's census rows) in their schema metadata, which
    their file keeps.
    """
    inputs = InputCatalog(input_root)
    census = census_levels(inputs, bbox=grown(inputs.grid.bounds(region_id), CENSUS_MARGIN_DEG))
    tables = dict(region_partial(buildings, census).tables)
    tables[BUILT_FROM_TABLE] = with_built_from(tables[BUILT_FROM_TABLE], built_from)
    return tables


def describe_partial(tables: Mapping[str, pa.Table], bounds: Bounds) -> dict[str, Any]:
    """Materialization metadata of a region's partial: buildings, unassigned per level."""
    assignments = tables["assignments"]
    unassigned = {level: assignments[level].null_count for level in LEVELS}
    return {
        "preview": dg.MetadataValue.url(preview_url(bounds)),
        "dagster/row_count": assignments.num_rows,
        "unassigned_per_level": dg.MetadataValue.json(unassigned),
        "polygons_per_level": dg.MetadataValue.json(
            {
                level: int(pc.sum(pc.equal(tables["aggregates"]["level"], level)).as_py() or 0)
                for level in LEVELS
            }
        ),
    }


@dg.asset(
    partitions_def=REGION_PARTITIONS,
    ins={"buildings": dg.AssetIn(region_buildings.key)},
    deps=[ROW_INPUT_ASSETS[name] for name in ASSET_ROW_INPUTS[PARTIALS]],
    io_manager_key=TABLES_IO_MANAGER,
    dagster_type=Tables,
    group_name=GROUP,
    kinds={"duckdb", "parquet"},
    code_version="2",
    description=(
        "The region's buildings assigned to the census polygons of every level (the one "
        "containing the footprint centroid), scored, and aggregated per polygon: the "
        "partial statistics region_summary_stats merges."
    ),
)
def region_statistics_partials(
    context: dg.AssetExecutionContext,
    catalog: InputCatalogResource,
    compute: ComputeResource,
    buildings: Any,
) -> dg.Output[Any]:
    """The region's building assignments and partial aggregates, on the region's cluster."""
    region_id = context.partition_key
    # The rows' identities are computed here (once per process), not on every worker.
    built_from = catalog.catalog().row_versions(ASSET_ROW_INPUTS[PARTIALS], region_id)
    tables = compute.persist(
        PARTIALS, statistics_partial, catalog.root, buildings, region_id, built_from
    )
    bounds = catalog.catalog().grid.bounds(region_id)
    return dg.Output(tables, metadata=compute.run(PARTIALS, describe_partial, tables, bounds))


# --------------------------------------------------------------------------- summary statistics
def summary_statistics(
    input_root: str,
    partials: Sequence[str],
    layout: Layout,
    guard: LossGuard,
) -> Published[list[SummaryStatistics]]:
    """Merge the regions' partials into the statistics of every level; publish the folder.

    All levels appear together (one folder, published whole), and only if they do not lose
    most of the published buildings (``guard``). Runs on the statistics' cluster.
    """
    census = census_levels(InputCatalog(input_root))
    names = statistics_names(layout)
    outputs = layout.outputs(SUMMARY_STATS)

    def write(staged: dict[str, str]) -> list[SummaryStatistics]:
        folder = Path(staged["statistics"])
        folder.mkdir(parents=True)
        return [
            write_summary_statistics(partials, census[level], str(folder / names[level]))
            for level in LEVELS
        ]

    def check(written: list[SummaryStatistics]) -> None:
        guard.check(
            outputs["statistics"],
            published_sum(
                [layout.region_summary_stats(level) for level in LEVELS], "building_count"
            ),
            sum(level.buildings for level in written),
            "buildings (summed over the levels)",
        )

    return publish(outputs, write, check)


def describe_statistics(written: Sequence[SummaryStatistics]) -> dict[str, Any]:
    """Materialization metadata of the summary statistics: a table of the levels."""
    levels = [
        dg.TableRecord(
            {
                "level": w.level,
                "polygons": w.rows,
                "buildings": w.buildings,
                "size": size_text(w.bytes),
            }
        )
        for w in written
    ]
    schema = dg.TableSchema(
        columns=[
            dg.TableColumn("level", "string"),
            dg.TableColumn("polygons", "int", description="polygons with buildings"),
            dg.TableColumn("buildings", "int", description="sum of building_count"),
            dg.TableColumn("size", "string"),
        ]
    )
    return {
        "levels": dg.MetadataValue.table(levels, schema=schema),
        "dagster/row_count": sum(w.rows for w in written),
    }


@dg.asset(
    deps=[every_region(PARTIALS)],
    group_name=GROUP,
    kinds={"duckdb", "parquet"},
    code_version="2",
    description=(
        "Building count, mean and median of the 7 building variables and both risk-score "
        "histograms for every census block, tract, county, state and the nation with "
        "buildings (published columns); one GeoParquet per level, merged from the region "
        "partials of every region in the raster store."
    ),
)
def region_summary_stats(
    context: dg.AssetExecutionContext,
    catalog: InputCatalogResource,
    storage: OutputStorage,
    compute: ComputeResource,
) -> dg.MaterializeResult:
    """Every region's partial aggregates, merged into the statistics of each level."""
    regions = rollup_regions(context, storage, BUILDINGS, PARTIALS)
    layout = storage.layout
    partials = [layout.region_statistics_partial(region_id) for region_id in regions]
    published = compute.run(
        SUMMARY_STATS, summary_statistics, catalog.root, partials, layout, storage.guard
    )
    return rollup_result(
        context, storage, published, regions, describe_statistics(published.result)
    )


# --------------------------------------------------------------------------- analysis files
def analysis_files(layout: Layout, metadata: DatasetMetadata) -> Published[list[AnalysisFiles]]:
    """Write the analysis files of every level from the summary statistics; publish them."""
    stats = statistics_files(layout.region_summary_stats_dir, statistics_names(layout))

    def write(staged: dict[str, str]) -> list[AnalysisFiles]:
        folder = Path(staged["analysis"])
        folder.mkdir(parents=True)
        return [
            write_analysis_files(
                stats[level], str(folder / ANALYSIS_FOLDERS[level]), level, metadata
            )
            for level in LEVELS
        ]

    return publish(layout.outputs(ANALYSIS_FILES), write)


def describe_analysis(written: Sequence[AnalysisFiles]) -> dict[str, Any]:
    """Materialization metadata of the analysis files: rows and size per level."""
    return {
        "rows_per_level": dg.MetadataValue.json({w.level: w.rows for w in written}),
        "size_per_level": dg.MetadataValue.json(
            {w.level: {name: size_text(size) for name, size in w.bytes.items()} for w in written}
        ),
        "dagster/row_count": sum(w.rows for w in written),
    }


@dg.asset(
    deps=[region_summary_stats],
    group_name=GROUP,
    kinds={"csv", "geojson", "parquet"},
    code_version="2",
    description=(
        "Optional (OCR_WRITE_REGIONAL_STATS): per census level (folders block, tracts, "
        "counties, states, nation), stats.csv with a '# key: value' metadata header, "
        "stats.geojson and stats.parquet."
    ),
)
def region_analysis_files(
    context: dg.AssetExecutionContext, storage: OutputStorage, compute: ComputeResource
) -> dg.MaterializeResult:
    """The analysis files of every level, from the summary statistics."""
    regions = rollup_regions(context, storage, BUILDINGS, PARTIALS)
    published = compute.run(
        ANALYSIS_FILES, analysis_files, storage.layout, storage.dataset_metadata
    )
    return rollup_result(context, storage, published, regions, describe_analysis(published.result))
