"""The region grid: IDs, windows, bounds, point lookup and coordinates."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ocr_assets.regions import CONUS_GRID, RegionGrid, demo_grid


def test_conus_grid_shape() -> None:
    g = CONUS_GRID
    assert (g.n_region_rows, g.n_region_cols, g.region_rows, g.region_cols) == (15, 45, 6000, 4500)
    assert (g.height, g.width) == (90000, 202500)
    assert g.pixel_size == 1 / 3600
    assert len(g.all_region_ids()) == 675
    assert g.total_bounds == pytest.approx((-125.0, 25.0, -68.75, 50.0))


def test_demo_grid_layout() -> None:
    g = demo_grid()
    assert (g.n_region_rows, g.n_region_cols, g.region_rows, g.region_cols) == (3, 4, 600, 450)
    assert (g.west, g.north, g.buffer_degrees) == (-121.0, 40.0, 0.15)
    assert g.total_bounds == pytest.approx((-121.0, 39.5, -120.5, 40.0))
    small = demo_grid(region_rows=60, region_cols=45)
    assert (small.region_rows, small.region_cols, small.n_region_rows) == (60, 45, 3)


def test_ids_round_trip_in_grid_order() -> None:
    g = demo_grid()
    ids = g.all_region_ids()
    assert ids[:5] == ["y0_x0", "y0_x1", "y0_x2", "y0_x3", "y1_x0"]
    for region_id in ids:
        assert g.region_id(*g.parse(region_id)) == region_id


@pytest.mark.parametrize("bad", ["foo", "y99_x0", "y1x2", "y0_x4", "y-1_x0", " y1_x2", "Y1_X2", ""])
def test_bad_ids_name_the_id_format_and_ranges(bad: str) -> None:
    with pytest.raises(ValueError) as err:
        demo_grid().parse(bad)
    message = str(err.value)
    assert repr(bad) in message
    assert "y{row}_x{col}" in message
    assert "rows 0..2, cols 0..3" in message


def test_region_id_out_of_range() -> None:
    with pytest.raises(ValueError, match=r"\(3, 0\).*rows 0..2"):
        demo_grid().region_id(3, 0)


def test_windows_tile_the_grid() -> None:
    g = demo_grid(region_rows=6, region_cols=5)
    covered = np.zeros((g.height, g.width), dtype=int)
    for region_id in g.all_region_ids():
        rows, cols = g.window(region_id)
        assert (rows.stop - rows.start, cols.stop - cols.start) == (6, 5)
        covered[rows, cols] += 1
    assert (covered == 1).all()
    assert g.window("y2_x3") == (slice(12, 18), slice(15, 20))


def test_bounds_window_and_region_at_round_trip() -> None:
    g = CONUS_GRID
    for region_id in ("y0_x0", "y7_x22", "y14_x44", "y3_x40"):
        west, south, east, north = g.bounds(region_id)
        assert east - west == pytest.approx(4500 / 3600)
        assert north - south == pytest.approx(6000 / 3600)
        assert g.window_for_bounds(g.bounds(region_id)) == g.window(region_id)
        assert g.region_at((west + east) / 2, (south + north) / 2) == region_id
        # The west and north edges belong to the region, the east and south to neighbours.
        assert g.region_at(west, north) == region_id
    assert g.region_at(*g.bounds("y7_x22")[2:0:-1]) == "y8_x23"


def test_region_at_outside_the_grid() -> None:
    g = demo_grid()
    for lon, lat in ((-121.5, 39.8), (-120.7, 40.2), (-120.5, 39.8), (-120.7, 39.5)):
        with pytest.raises(ValueError, match="outside the grid"):
            g.region_at(lon, lat)


def test_buffered_bounds_and_windows() -> None:
    g = CONUS_GRID
    west, south, east, north = g.bounds("y7_x22")
    assert g.buffered_bounds("y7_x22") == pytest.approx(
        (west - 0.15, south - 0.15, east + 0.15, north + 0.15)
    )
    rows, cols = g.buffered_window("y7_x22")
    assert (rows.stop - rows.start, cols.stop - cols.start) == (7080, 5580)
    assert (rows.start, cols.start) == (7 * 6000 - 540, 22 * 4500 - 540)
    # Clipped at the grid's corners.
    assert g.buffered_window("y0_x0") == (slice(0, 6540), slice(0, 5040))
    assert g.buffered_window("y14_x44") == (slice(84000 - 540, 90000), slice(198000 - 540, 202500))
    # On the demo grid the 540 px buffer is nearly a region wide, clipped at the west edge.
    assert demo_grid().buffered_window("y1_x1") == (slice(60, 1740), slice(0, 1440))


def test_window_for_bounds_outside_and_invalid() -> None:
    g = demo_grid()
    rows, cols = g.window_for_bounds((-130.0, 10.0, -129.0, 11.0))
    assert rows.start == rows.stop or cols.start == cols.stop
    with pytest.raises(ValueError, match="west, south, east, north"):
        g.window_for_bounds((-120.0, 39.6, -120.9, 39.9))


def test_coordinates_are_ascending_pixel_centres() -> None:
    g = demo_grid()
    lat, lon = g.latitude(), g.longitude()
    assert lat.dtype == lon.dtype == np.float64
    assert lat.shape == (1800,) and lon.shape == (1800,)
    assert (np.diff(lat) > 0).all() and (np.diff(lon) > 0).all()
    np.testing.assert_allclose(np.diff(lon), 1 / 3600, rtol=0, atol=1e-12)
    assert lon[0] == pytest.approx(-121.0 + 0.5 / 3600, abs=1e-12)
    assert lat[-1] == pytest.approx(40.0 - 0.5 / 3600, abs=1e-12)
    assert lat[0] == pytest.approx(39.5 + 0.5 / 3600, abs=1e-12)


def test_latitude_index_maps_rows_from_the_north() -> None:
    g = demo_grid()
    rows, cols = g.window("y0_x1")
    lat = g.latitude()[g.latitude_index(rows)]
    west, south, east, north = g.bounds("y0_x1")
    assert lat.size == 600
    assert lat[0] == pytest.approx(south + 0.5 / 3600) and lat[-1] == pytest.approx(north - 0.5 / 3600)
    lon = g.longitude()[cols]
    assert lon[0] == pytest.approx(west + 0.5 / 3600) and lon[-1] == pytest.approx(east - 0.5 / 3600)


def test_grid_validation_and_dict_round_trip() -> None:
    with pytest.raises(ValueError, match="region_rows"):
        RegionGrid(west=0.0, north=0.0, region_rows=0)
    with pytest.raises(ValueError, match="pixel_size"):
        RegionGrid(west=0.0, north=0.0, pixel_size=-1.0)
    assert RegionGrid(**CONUS_GRID.to_dict()) == CONUS_GRID


@given(
    lon=st.floats(min_value=-125.0, max_value=-68.750001),
    lat=st.floats(min_value=25.000001, max_value=50.0),
)
def test_region_at_lies_in_its_bounds(lon: float, lat: float) -> None:
    region_id = CONUS_GRID.region_at(lon, lat)
    west, south, east, north = CONUS_GRID.bounds(region_id)
    tol = 1e-9
    assert west - tol <= lon <= east + tol
    assert south - tol <= lat <= north + tol
