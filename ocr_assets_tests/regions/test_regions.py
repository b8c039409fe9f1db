"""The region grid: IDs, windows with partial chunks, bounds, point lookup and coordinates."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ocr_assets.data import published_valid_region_ids
from ocr_assets.regions import (
    CONUS_GRID,
    DEMO_ORIGIN_PIXELS,
    RegionGrid,
    demo_grid,
    region_sort_key,
)

R = 0.00030799387843671866  # the published pixel size, degrees


def small_partial_grid() -> RegionGrid:
    """3 x 4 regions of 6 x 5 px, the last row 4 px and the last column 2 px high/wide."""
    return RegionGrid(
        west=-100.0, south=40.0, pixel_size=R, height=16, width=17, region_rows=6, region_cols=5
    )


# ----------------------------------------------------------------------------- the real grid
def test_conus_grid_is_the_published_grid() -> None:
    g = CONUS_GRID
    assert (g.height, g.width, g.region_rows, g.region_cols) == (97579, 208881, 6000, 4500)
    assert (g.n_region_rows, g.n_region_cols) == (17, 47)
    assert len(g.all_region_ids()) == 799
    assert g.pixel_size == R and g.buffer_degrees == 0.15
    assert g.total_bounds == pytest.approx((-128.3876, 22.4281, -64.0535, 52.4818), abs=1e-4)
    # The published example region (y0 southernmost).
    west, south, east, north = g.bounds("y5_x14")
    assert (south, north) == pytest.approx((31.66793, 33.51589), abs=1e-5)
    assert (west, east) == pytest.approx((-108.98394, -107.59797), abs=1e-5)


def test_last_regions_are_partial_chunks() -> None:
    g = CONUS_GRID
    assert g.window("y16_x46") == (slice(96000, 97579), slice(207000, 208881))
    assert g.window("y0_x0") == (slice(0, 6000), slice(0, 4500))
    assert g.bounds("y16_x46")[2:] == (g.east, g.north)
    assert g.window("y16_x0")[0].stop - g.window("y16_x0")[0].start == 1579
    assert g.window("y0_x46")[1].stop - g.window("y0_x46")[1].start == 1881


def test_shipped_valid_ids_of_the_published_grid() -> None:
    ids = published_valid_region_ids()
    assert len(ids) == len(set(ids)) == 405
    cells = [CONUS_GRID.parse(rid) for rid in ids]
    assert cells == sorted(cells)  # by row, then column
    rows = [row for row, _ in cells]
    assert (min(rows), max(rows)) == (1, 14)
    assert [rows.count(row) for row in range(1, 15)] == [
        5, 6, 17, 24, 30, 34, 35, 36, 39, 41, 42, 38, 32, 26,
    ]  # fmt: skip
    assert {"y1_x21", "y2_x20"} <= set(ids)


# ----------------------------------------------------------------------------- IDs
def test_ids_round_trip_in_grid_order() -> None:
    g = small_partial_grid()
    ids = g.all_region_ids()
    assert len(ids) == 12
    assert ids[:5] == ["y0_x0", "y0_x1", "y0_x2", "y0_x3", "y1_x0"]
    for region_id in ids:
        assert g.region_id(*g.parse(region_id)) == region_id


def test_region_sort_key_orders_ids_as_the_grid() -> None:
    shuffled = ["y10_x2", "y2_x10", "y2_x9", "y0_x1", "y1_x0", "y0_x0"]
    assert sorted(shuffled, key=region_sort_key) == [
        "y0_x0",
        "y0_x1",
        "y1_x0",
        "y2_x9",
        "y2_x10",
        "y10_x2",
    ]
    ids = CONUS_GRID.all_region_ids()
    assert sorted(reversed(ids), key=region_sort_key) == ids
    # IDs that are not canonical sort after every canonical one, by their text.
    assert sorted(["y01_x1", "b", "y99_x99", "a"], key=region_sort_key) == [
        "y99_x99",
        "a",
        "b",
        "y01_x1",
    ]


@pytest.mark.parametrize(
    "bad",
    [
        "foo", "y99_x0", "y1x2", "y0_x4", "y-1_x0", " y1_x2", "Y1_X2", "", "y+1_x2",
        "y01_x2", "y1_x02", "y00_x0", "y\u0661_x\u0662", "y\uff11_x2", "y1_x2\n",
    ],
)  # fmt: skip
def test_non_canonical_or_outside_ids_are_refused(bad: str) -> None:
    with pytest.raises(ValueError) as err:
        small_partial_grid().parse(bad)
    message = str(err.value)
    assert repr(bad) in message
    assert "y{row}_x{col}" in message
    assert "rows 0..2, cols 0..3" in message


def test_non_canonical_message_names_the_rule() -> None:
    with pytest.raises(ValueError, match="ASCII digits and no leading zeros"):
        CONUS_GRID.parse("y01_x02")


def test_region_id_out_of_range() -> None:
    with pytest.raises(ValueError, match=r"\(3, 0\).*rows 0..2"):
        small_partial_grid().region_id(3, 0)


# ----------------------------------------------------------------------------- windows, bounds
def test_windows_tile_the_grid_with_partial_last_chunks() -> None:
    g = small_partial_grid()
    assert (g.n_region_rows, g.n_region_cols) == (3, 4)
    covered = np.zeros((g.height, g.width), dtype=int)
    for region_id in g.all_region_ids():
        rows, cols = g.window(region_id)
        covered[rows, cols] += 1
    assert (covered == 1).all()
    assert g.window("y0_x0") == (slice(0, 6), slice(0, 5))
    assert g.window("y2_x3") == (slice(12, 16), slice(15, 17))


def test_windows_are_slices_of_the_ascending_coordinates() -> None:
    g = small_partial_grid()
    for region_id in g.all_region_ids():
        rows, cols = g.window(region_id)
        west, south, east, north = g.bounds(region_id)
        lat, lon = g.latitude()[rows], g.longitude()[cols]
        # Label selection on pixel centres inside the pixel-edge bounds: exactly the window.
        assert np.array_equal(np.flatnonzero((g.latitude() > south) & (g.latitude() < north)),
                              np.arange(rows.start, rows.stop))  # fmt: skip
        assert lat[0] == pytest.approx(south + R / 2) and lat[-1] == pytest.approx(north - R / 2)
        assert lon[0] == pytest.approx(west + R / 2) and lon[-1] == pytest.approx(east - R / 2)


def test_bounds_window_and_region_at_round_trip() -> None:
    g = CONUS_GRID
    for region_id in ("y0_x0", "y5_x14", "y16_x46", "y3_x40", "y16_x0"):
        west, south, east, north = g.bounds(region_id)
        assert g.window_for_bounds(g.bounds(region_id)) == g.window(region_id)
        assert g.region_at((west + east) / 2, (south + north) / 2) == region_id
        # The west and south edges belong to the region, the east and north to neighbours.
        assert g.region_at(west, south) == region_id
    assert g.region_at(*g.bounds("y7_x22")[2:]) == "y8_x23"
    # The grid's own outer edges are closed.
    assert g.region_at(g.east, g.north) == "y16_x46"
    assert g.region_at(g.east, g.south) == "y0_x46"


def test_region_at_outside_the_grid() -> None:
    g = small_partial_grid()
    west, south, east, north = g.total_bounds
    for lon, lat in (
        (west - R / 10, south + R),
        (east + R / 10, south + R),
        (west + R, north + R / 10),
        (west + R, south - R / 10),
        (float("nan"), south + R),
    ):
        with pytest.raises(ValueError, match="outside the grid"):
            g.region_at(lon, lat)


def test_every_point_belongs_to_exactly_one_region() -> None:
    """No gap, no duplicate: points on every pixel edge and region border, and in between."""
    g = small_partial_grid()
    west, south, east, north = g.total_bounds
    # Pixel edges computed as the bounds are (including every region border), pixel centres,
    # and points a hair inside and outside the grid.
    lons = np.concatenate([
        [g.bounds(rid)[i] for rid in g.all_region_ids() for i in (0, 2)],
        west + np.arange(g.width + 1) * R,
        g.longitude(),
        [west - R / 3, east + R / 3],
    ])  # fmt: skip
    lats = np.concatenate([
        [g.bounds(rid)[i] for rid in g.all_region_ids() for i in (1, 3)],
        south + np.arange(g.height + 1) * R,
        g.latitude(),
        [south - R / 3, north + R / 3],
    ])  # fmt: skip
    lon, lat = (a.ravel() for a in np.meshgrid(lons, lats))
    owners = np.sum([g.contains(rid, lon, lat) for rid in g.all_region_ids()], axis=0)
    inside = (lon >= west - 1e-12) & (lon <= east + 1e-12)
    inside &= (lat >= south - 1e-12) & (lat <= north + 1e-12)
    assert inside.any() and (~inside).any()
    assert (owners[inside] == 1).all()
    assert (owners[~inside] == 0).all()


def test_region_indices_marks_outside_points() -> None:
    g = small_partial_grid()
    rows, cols = g.region_indices(np.array([g.west - 1.0, g.west]), np.array([g.south, g.south]))
    assert rows.tolist() == [-1, 0] and cols.tolist() == [-1, 0]


def test_buffered_bounds_and_windows() -> None:
    g = CONUS_GRID
    west, south, east, north = g.bounds("y5_x14")
    assert g.buffered_bounds("y5_x14") == pytest.approx(
        (west - 0.15, south - 0.15, east + 0.15, north + 0.15)
    )
    pad = 0.15 / R  # 487.02 px: the window takes every pixel the buffer touches
    assert 487 < pad < 488
    rows, cols = g.buffered_window("y5_x14")
    assert (rows.start, rows.stop) == (30000 - 488, 36000 + 488)
    assert (cols.start, cols.stop) == (63000 - 488, 67500 + 488)
    # Clipped at the grid's corners.
    assert g.buffered_window("y0_x0") == (slice(0, 6488), slice(0, 4988))
    assert g.buffered_window("y16_x46") == (slice(96000 - 488, 97579), slice(207000 - 488, 208881))


def test_window_for_bounds_outside_and_invalid() -> None:
    g = small_partial_grid()
    rows, cols = g.window_for_bounds((-130.0, 10.0, -129.0, 11.0))
    assert rows.start == rows.stop or cols.start == cols.stop
    with pytest.raises(ValueError, match="west, south, east, north"):
        g.window_for_bounds((-99.0, 40.0, -99.5, 40.1))


def test_coordinates_are_ascending_pixel_centres() -> None:
    g = CONUS_GRID
    lat, lon = g.latitude(), g.longitude()
    assert lat.dtype == lon.dtype == np.float64
    assert lat.shape == (97579,) and lon.shape == (208881,)
    assert (np.diff(lat) > 0).all() and (np.diff(lon) > 0).all()
    np.testing.assert_allclose(np.diff(lon), R, rtol=1e-9)
    assert lon[0] == pytest.approx(-128.3875562194317 + R / 2, abs=1e-12)
    assert lat[0] == pytest.approx(22.428114227623333 + R / 2, abs=1e-12)
    assert lat[-1] == pytest.approx(g.north - R / 2, abs=1e-9)


def test_grid_validation_and_dict_round_trip() -> None:
    base = small_partial_grid().to_dict()
    for key, value in (
        ("region_rows", 0),
        ("height", -1),
        ("width", 2.5),
        ("pixel_size", -1.0),
        ("west", float("nan")),
        ("buffer_degrees", -0.1),
    ):
        with pytest.raises(ValueError, match=key):
            RegionGrid(**{**base, key: value})
    assert RegionGrid(**CONUS_GRID.to_dict()) == CONUS_GRID


# ----------------------------------------------------------------------------- the demo grid
def test_demo_grid_is_partial_and_on_the_published_lattice() -> None:
    g = demo_grid()
    assert (g.n_region_rows, g.n_region_cols, g.region_rows, g.region_cols) == (3, 4, 600, 450)
    assert (g.height, g.width) == (1500, 1575)  # last row 300 px, last column 225 px
    assert g.pixel_size == R and g.buffer_degrees == 0.15
    row0, col0 = DEMO_ORIGIN_PIXELS
    assert g.west == pytest.approx(CONUS_GRID.west + col0 * R, abs=1e-12)
    assert g.south == pytest.approx(CONUS_GRID.south + row0 * R, abs=1e-12)
    whole = demo_grid(region_rows=60, region_cols=45, n_region_rows=2, partial=False)
    assert (whole.height, whole.width, whole.n_region_rows, whole.n_region_cols) == (120, 180, 2, 4)


@given(
    lon=st.floats(min_value=-128.38, max_value=-64.06),
    lat=st.floats(min_value=22.43, max_value=52.48),
)
def test_region_at_lies_in_its_bounds(lon: float, lat: float) -> None:
    region_id = CONUS_GRID.region_at(lon, lat)
    west, south, east, north = CONUS_GRID.bounds(region_id)
    # Half-open; a point within a millionth of a pixel below an edge counts as on it.
    assert west - 1e-6 * R <= lon < east
    assert south - 1e-6 * R <= lat < north
