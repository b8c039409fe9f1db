"""Phase 02: every region's buildings in one GeoParquet file, and a hive-partitioned copy.

Rebuilt whole on every run (a streamed DuckDB copy of every region file, on its own cluster),
and refused when it would lose most of the published buildings (the loss guard).
"""

from collections.abc import Sequence
from typing import Any

import dagster as dg

from ocr_assets.orchestration.assets.regions import BUILDINGS
from ocr_assets.orchestration.assets.rollups import every_region, rollup_regions, rollup_result
from ocr_assets.orchestration.assets.statistics import GROUP
from ocr_assets.orchestration.readable import size_text
from ocr_assets.orchestration.resources import ComputeResource, OutputStorage
from ocr_assets.rollups import ConsolidatedBuildings, DatasetMetadata, consolidate_buildings
from ocr_assets.storage import Layout, Published, publish
from ocr_assets.storage.guard import LossGuard, published_rows

ASSET = "buildings_geoparquet"


def consolidated_buildings(
    files: Sequence[str], layout: Layout, guard: LossGuard, metadata: DatasetMetadata
) -> Published[ConsolidatedBuildings]:
    """Stream every region's buildings into the consolidated and hive outputs; publish both
    unless the consolidated file would lose most of the published buildings (its cluster)."""
    outputs = layout.outputs(ASSET)

    def write(staged: dict[str, str]) -> ConsolidatedBuildings:
        return consolidate_buildings(files, staged["consolidated"], staged["hive"], metadata)

    def check(written: ConsolidatedBuildings) -> None:
        location = outputs["consolidated"]
        guard.check(location, published_rows(location), written.rows, "buildings")

    return publish(outputs, write, check)


def describe_consolidated(written: ConsolidatedBuildings) -> dict[str, Any]:
    """Materialization metadata of the consolidated buildings."""
    return {
        "dagster/row_count": written.rows,
        "consolidated_size": size_text(written.consolidated_bytes),
        "hive_size": size_text(written.hive_bytes),
        "hive_files": written.hive_files,
        "counties": written.counties,
    }


@dg.asset(
    deps=[every_region(BUILDINGS)],
    group_name=GROUP,
    kinds={"duckdb", "parquet"},
    code_version="2",
    description=(
        "Every region's buildings in one GeoParquet 1.1 file, and a copy hive-partitioned "
        "by state_fips / county_fips with a _common_metadata sidecar (dataset metadata)."
    ),
)
def buildings_geoparquet(
    context: dg.AssetExecutionContext, storage: OutputStorage, compute: ComputeResource
) -> dg.MaterializeResult:
    """Every region's building file, streamed into the consolidated and hive outputs."""
    regions = rollup_regions(context, storage, BUILDINGS)
    layout = storage.layout
    files = [layout.region_buildings(region_id) for region_id in regions]
    published = compute.run(
        ASSET, consolidated_buildings, files, layout, storage.guard, storage.dataset_metadata
    )
    return rollup_result(
        context, storage, published, regions, describe_consolidated(published.result)
    )
