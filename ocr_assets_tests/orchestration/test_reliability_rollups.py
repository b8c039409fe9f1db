"""The loss guard on the roll-up assets: a published output that would lose most of its
buildings is kept, with a failure giving both counts, unless forced (issue 11, items 2-3)."""

from pathlib import Path

import dagster as dg
import numpy as np
import pyarrow.parquet as pq
import xarray as xr

from ocr_assets import science
from ocr_assets.deploy.job import step_failures
from ocr_assets.orchestration.assets.geoparquet import buildings_geoparquet
from ocr_assets.orchestration.resources import OutputStorage
from ocr_assets.regions import demo_grid
from ocr_assets_tests.helpers import materialize_region
from ocr_assets_tests.rollups.rollups_cases import BUILDINGS, building_frame, write_region

GRID = demo_grid(region_rows=4, region_cols=4, n_region_rows=1, n_region_cols=2, partial=False)


def commit(storage: OutputStorage, region_id: str) -> None:
    """Commit the region to the raster store (a roll-up reads the regions committed there)."""
    rows, cols = GRID.window(region_id)
    latitude, longitude = GRID.latitude()[rows], GRID.longitude()[cols]
    zeros = np.zeros((latitude.size, longitude.size), dtype=np.float32)
    region = xr.Dataset(
        {name: (("latitude", "longitude"), zeros) for name in science.VARIABLES},
        coords={"latitude": latitude, "longitude": longitude},
    )
    store = storage.raster_store()
    store.ensure_layout(GRID, region, {})
    store.write_region(GRID, region_id, region)


def consolidate(storage: OutputStorage, regions: dict[str, list[str]]) -> dg.ExecuteInProcessResult:
    """Write the regions' building files (committing new regions), then materialize
    ``buildings_geoparquet`` over every region of the raster store."""
    committed = storage.raster_store().committed_regions()
    for region_id, ids in regions.items():
        path = Path(storage.layout.region_buildings(region_id))
        path.parent.mkdir(parents=True, exist_ok=True)
        write_region(building_frame(ids), path)
        if region_id not in committed:
            commit(storage, region_id)
    return materialize_region([buildings_geoparquet], None, storage.root, storage)


def test_consolidated_buildings_refuse_to_lose_most_buildings(tmp_path: Path) -> None:
    first = sorted(b for b in BUILDINGS if b.startswith("a"))
    second = sorted(b for b in BUILDINGS if b.startswith("b"))
    assert len(second) / (len(first) + len(second)) < 0.5  # keeping only `second` loses most
    storage = OutputStorage(root=str(tmp_path / "data"))
    published = storage.layout.consolidated_buildings
    assert consolidate(storage, {"y0_x0": first, "y0_x1": second}).success
    total = len(first) + len(second)
    assert pq.ParquetFile(published).metadata.num_rows == total

    # The first region's buildings went missing (its inputs emptied its rasters, say).
    result = consolidate(storage, {"y0_x0": []})
    assert not result.success
    message = step_failures(result)["buildings_geoparquet"]
    assert f"holds {total} buildings, the new output {len(second)}" in message
    assert "OCR_FORCE" in message
    assert pq.ParquetFile(published).metadata.num_rows == total  # the published file is kept

    forced = OutputStorage(root=storage.root, force=True)
    assert consolidate(forced, {}).success
    assert pq.ParquetFile(published).metadata.num_rows == len(second)
