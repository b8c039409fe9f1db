"""One region end to end on a cut-out of the real grid.

The inputs' grid is a window of the published grid: the published pixel size and pixel lattice
(its origin is the south-west corner of the published region ``y5_x14``), 200 x 230 pixels in
regions of 120 x 90, so the last region row (80 px) and column (50 px) are partial chunks. The
catalog reads that grid from the CRPS store, computes its valid regions, and the partial
north-east region runs through the whole phase 01 graph (wind distribution, rasters through
``science.region_risk``, checks, buildings).
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely

from ocr_assets import science
from ocr_assets.catalog import InputCatalog
from ocr_assets.catalog.grid import same_geometry
from ocr_assets.orchestration.assets.regions import region_buildings, region_risk_rasters
from ocr_assets.orchestration.assets.wind import wind_direction_distribution
from ocr_assets.orchestration.resources import OutputStorage
from ocr_assets.regions import CONUS_GRID, RegionGrid
from ocr_assets.synthetic import generate_inputs
from ocr_assets_tests.helpers import materialize_region

#: Pixel offset of the cut-out's south-west corner on the published grid (``y5_x14``).
OFFSET_ROWS, OFFSET_COLS = 5 * 6000, 14 * 4500
CUT_OUT = RegionGrid(
    west=CONUS_GRID.west + OFFSET_COLS * CONUS_GRID.pixel_size,
    south=CONUS_GRID.south + OFFSET_ROWS * CONUS_GRID.pixel_size,
    pixel_size=CONUS_GRID.pixel_size,
    height=200,
    width=230,
    region_rows=120,
    region_cols=90,
)
#: The partial north-east region: 80 x 50 pixels.
REGION = "y1_x2"


@pytest.fixture(scope="module")
def cut_out_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cut-out-inputs")
    generate_inputs(root, grid=CUT_OUT, n_buildings=1500, hours=240)
    return root


def test_catalog_reads_the_cut_out_grid(cut_out_root: Path) -> None:
    catalog = InputCatalog(str(cut_out_root))
    grid = catalog.grid
    assert same_geometry(grid, CUT_OUT) and grid != CONUS_GRID
    assert (grid.n_region_rows, grid.n_region_cols) == (2, 3)
    assert grid.window(REGION) == (slice(120, 200), slice(180, 230))
    # Its pixel centres are the published grid's.
    scott = catalog.scott()
    np.testing.assert_allclose(
        scott["latitude"].values,
        CONUS_GRID.latitude()[OFFSET_ROWS : OFFSET_ROWS + 200],
        rtol=0,
        atol=1e-9,
    )
    np.testing.assert_allclose(
        scott["longitude"].values,
        CONUS_GRID.longitude()[OFFSET_COLS : OFFSET_COLS + 230],
        rtol=0,
        atol=1e-9,
    )
    assert REGION in catalog.valid_region_ids()
    assert "y0_x0" not in catalog.valid_region_ids()  # all ocean


@pytest.mark.integration
def test_partial_region_end_to_end(cut_out_root: Path, tmp_path: Path) -> None:
    storage = OutputStorage(root=str(tmp_path))
    result = materialize_region(
        [wind_direction_distribution, region_risk_rasters, region_buildings],
        REGION,
        cut_out_root,
        storage,
    )
    assert result.success
    assert all(e.passed for e in result.get_asset_check_evaluations())

    grid = InputCatalog(str(cut_out_root)).grid
    stored = storage.raster_store().region(REGION).load()
    assert stored.sizes == {"latitude": 80, "longitude": 50}
    assert set(stored.data_vars) == set(science.VARIABLES)
    assert float(stored["crps_scott"].notnull().mean()) > 0.5
    full = storage.raster_store().open()
    assert full.sizes == {"latitude": 200, "longitude": 230}
    assert full["rps_2011"].encoding["chunks"] == (120, 90)

    table = gpd.read_parquet(storage.layout.region_buildings(REGION))
    assert len(table) > 0
    centroids = shapely.centroid(np.asarray(table.geometry.values))
    assert grid.contains(REGION, shapely.get_x(centroids), shapely.get_y(centroids)).all()
