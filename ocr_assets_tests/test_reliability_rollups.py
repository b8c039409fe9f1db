"""The loss guard on the roll-up assets: a published output that would lose most of its
buildings is kept, with a failure giving both counts, unless forced (issue 11, items 2-3)."""

from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq

from ocr_assets.assets import (
    build_aggregation_assets,
    build_region_assets,
    wind_direction_distribution,
)
from ocr_assets.deployment import step_failures
from ocr_assets.io_managers import pipeline_resources
from ocr_assets.resources import OutputStorage
from ocr_assets_tests.rollups_cases import BUILDINGS, building_frame, write_region

NO_RETRIES = dg.RetryPolicy(max_retries=0)


def consolidate(storage: OutputStorage, regions: dict[str, list[str]]) -> dg.ExecuteInProcessResult:
    """Write the regions' building files, then materialize ``buildings_geoparquet`` over them."""
    for region_id, ids in regions.items():
        path = Path(storage.paths.region_buildings(region_id))
        path.parent.mkdir(parents=True, exist_ok=True)
        write_region(building_frame(ids), path)
    partitions = dg.StaticPartitionsDefinition(sorted(regions))
    region_assets = build_region_assets(partitions, retry_policy=NO_RETRIES)
    aggregation = build_aggregation_assets(partitions, region_assets, retry_policy=NO_RETRIES)
    return dg.materialize(
        [
            wind_direction_distribution,
            region_assets.rasters,
            region_assets.buildings,
            aggregation.buildings_geoparquet,
        ],
        selection=[aggregation.buildings_geoparquet],
        resources=pipeline_resources(str(storage.root), storage),
        raise_on_error=False,
    )


def test_consolidated_buildings_refuse_to_lose_most_buildings(tmp_path: Path) -> None:
    first = sorted(b for b in BUILDINGS if b.startswith("a"))
    second = sorted(b for b in BUILDINGS if b.startswith("b"))
    assert len(second) / (len(first) + len(second)) < 0.5  # keeping only `second` loses most
    storage = OutputStorage(root=str(tmp_path / "data"))
    published = storage.paths.consolidated_buildings
    assert consolidate(storage, {"y0_x0": first, "y0_x1": second}).success
    total = len(first) + len(second)
    assert pq.ParquetFile(published).metadata.num_rows == total

    result = consolidate(storage, {"y0_x1": second})
    assert not result.success
    message = step_failures(result)["buildings_geoparquet"]
    assert f"holds {total} buildings, the new output {len(second)}" in message
    assert "OCR_FORCE" in message
    assert pq.ParquetFile(published).metadata.num_rows == total  # the published file is kept

    forced = OutputStorage(root=storage.root, force=True)
    assert consolidate(forced, {"y0_x1": second}).success
    assert pq.ParquetFile(published).metadata.num_rows == len(second)
