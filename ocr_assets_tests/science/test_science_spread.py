"""Fidelity tests of the spreading, the composite and the kernels."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from ocr_assets.science import (
    DIRECTIONS,
    kernel_footprints,
    spread_burn_probability,
    weighted_composite,
    wind_informed_burn_probability,
    wind_kernels,
)
from ocr_assets.science._filters import SpreadWorkspace, footprint, spread_direction
from ocr_assets.science.reference import reference_composite, reference_spread

ARCSEC = 1.0 / 3600.0


def grid(h: int, w: int, lat0: float = 38.0, lon0: float = -120.0) -> dict[str, np.ndarray]:
    return {
        "latitude": lat0 + (np.arange(h) + 0.5) * ARCSEC,
        "longitude": lon0 + (np.arange(w) + 0.5) * ARCSEC,
    }


def raster(values: np.ndarray, **kw: float) -> xr.DataArray:
    return xr.DataArray(
        values.astype(np.float32), dims=("latitude", "longitude"), coords=grid(*values.shape, **kw)
    )


def distribution(weights: np.ndarray, like: xr.DataArray) -> xr.DataArray:
    return xr.DataArray(
        weights.astype(np.float32),
        dims=("latitude", "longitude", "wind_direction"),
        coords={
            **{d: like[d].values for d in ("latitude", "longitude")},
            "wind_direction": list(DIRECTIONS),
        },
    )


def random_bp(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    bp = rng.uniform(1e-4, 0.05, (h, w)).astype(np.float32)
    bp[rng.random((h, w)) < 0.4] = 0.0
    bp[h // 3 : h // 3 + 40, w // 4 : w // 4 + 60] = 0.0  # a developed patch larger than a kernel
    bp[5:15, -20:-5] = np.nan  # water at the border
    return bp


# --- kernels -------------------------------------------------------------------------------


def test_kernel_footprints_at_38n_match_the_published_counts() -> None:
    kernels = wind_kernels(38.0, -100.0, ARCSEC, ARCSEC)
    counts = {d: int(np.count_nonzero(k)) for d, k in kernels.items()}
    assert counts == {
        "W": 320,
        "NW": 328,
        "N": 324,
        "NE": 328,
        "E": 320,
        "SE": 328,
        "S": 324,
        "SW": 328,
    }
    for d, k in kernels.items():
        assert k.shape == (81, 81) and k.dtype == np.float32, d
        assert abs(float(k.sum(dtype=np.float64)) - 1.0) < 1e-5
        assert len(np.unique(k[k > 0])) == 1  # binary ellipse


@pytest.mark.parametrize(
    ("direction", "row_sign", "col_sign"),
    [
        ("W", 0, -1),
        ("E", 0, 1),
        ("N", 1, 0),
        ("S", -1, 0),
        ("NE", 1, 1),
        ("SW", -1, -1),
        ("NW", 1, -1),
        ("SE", -1, 1),
    ],
)
def test_kernel_mass_lies_upwind(direction: str, row_sign: int, col_sign: int) -> None:
    k = wind_kernels(38.0, -100.0, ARCSEC, ARCSEC)[direction]
    rows, cols = np.nonzero(k)
    # centroid offset from the anchor (40, 40): rows grow northward, columns eastward
    dr, dc = rows.mean() - 40, cols.mean() - 40
    assert np.sign(round(dr)) == row_sign
    assert np.sign(round(dc)) == col_sign


def test_major_axes() -> None:
    k = wind_kernels(38.0, -100.0, ARCSEC, ARCSEC)
    for d in ("W", "E"):
        rows, cols = np.nonzero(k[d])
        assert np.ptp(cols) * 24.4 > np.ptp(rows) * 30.9  # wider (m) than tall
    for d in ("N", "S"):
        rows, cols = np.nonzero(k[d])
        assert np.ptp(rows) * 30.9 > np.ptp(cols) * 24.4


def test_kernels_reject_nonsense_spacing() -> None:
    with pytest.raises(ValueError, match="not strictly between 200 and 500"):
        wind_kernels(38.0, -100.0, 1 / 360, 1 / 360)  # 300 m pixels
    with pytest.raises(ValueError, match="non-zero"):
        wind_kernels(38.0, -100.0, 0.0, ARCSEC)


def spacing_with_footprint(cells: int, start_m: float, stop_m: float) -> tuple[float, int]:
    """A square pixel size (m) at which the largest/smallest footprint has exactly ``cells``.

    Returns the middle of the widest such interval of a fine scan, so that the pixel size
    recomputed from degrees lands inside it, and the count at one step outside it.
    """
    sizes = np.linspace(start_m, stop_m, 601)
    pick = max if cells > 300 else min
    counts = np.array([pick(int(m.sum()) for m in kernel_footprints(s, s).values()) for s in sizes])
    hits = np.flatnonzero(counts == cells)
    assert hits.size >= 3, f"no pixel size in [{start_m}, {stop_m}] m gives {cells} cells"
    middle = hits[hits.size // 2]
    return float(sizes[middle]), int(counts[hits[-1] + 1 if cells > 300 else hits[0] - 1])


@pytest.mark.parametrize(("cells", "start_m", "stop_m"), [(500, 21.9, 22.4), (200, 34.7, 35.3)])
def test_footprints_of_exactly_200_or_500_cells_are_refused(
    cells: int, start_m: float, stop_m: float
) -> None:
    # the published assertion is strict (200 < cells < 500): the bounds themselves fail
    size_m, neighbour = spacing_with_footprint(cells, start_m, stop_m)
    degrees = float(np.rad2deg(size_m / 6_371_000.0))
    with pytest.raises(ValueError, match=f"covers {cells} cells"):
        wind_kernels(0.0, 0.0, degrees, degrees)
    assert 200 < neighbour < 500  # one scan step away the kernels are accepted


# --- spreading -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("direction", "row_sign", "col_sign"),
    [
        ("W", 0, 1),
        ("E", 0, -1),
        ("N", -1, 0),
        ("S", 1, 0),
        ("NE", -1, -1),
        ("SW", 1, 1),
        ("NW", -1, 1),
        ("SE", 1, -1),
    ],
)
def test_hot_pixel_spreads_downwind_not_upwind(
    direction: str, row_sign: int, col_sign: int
) -> None:
    # rows grow northward: wind from the west carries fire east (+col), from the north south (-row)
    bp = np.zeros((121, 121), np.float32)
    bp[60, 60] = 0.5
    out = spread_burn_probability(raster(bp), iterations=1)[direction].values
    rows, cols = np.nonzero(out)
    dr, dc = rows.mean() - 60, cols.mean() - 60
    assert np.sign(round(dr)) == row_sign and np.sign(round(dc)) == col_sign
    # 15 pixels (10 on each axis for diagonals) downwind is reached; as far upwind is not
    n = 10 if len(direction) == 2 else 15
    assert out[60 + n * row_sign, 60 + n * col_sign] == 0.5
    assert out[60 - n * row_sign, 60 - n * col_sign] == 0.0


@pytest.mark.parametrize("seed", [0, 1])
def test_spread_matches_the_published_opencv_filter(seed: int) -> None:
    bp = random_bp(160, 130, seed)
    da = raster(bp)
    ours = spread_burn_probability(da)
    lat, lon = da["latitude"].values, da["longitude"].values
    kernels = wind_kernels(float(lat[lat.size // 2]), float(lon[lon.size // 2]), ARCSEC, ARCSEC)
    ref = reference_spread(bp, kernels)
    for d in DIRECTIONS:
        np.testing.assert_array_equal(np.isnan(ours[d].values), np.isnan(ref[d]))
        np.testing.assert_allclose(ours[d].values, ref[d], rtol=1e-6, atol=0, equal_nan=True)
        assert ours[d].dtype == np.float32


def test_reflect101_border() -> None:
    # a single hot pixel next to the west edge: reflect-101 mirrors it about column 0 without
    # repeating the edge, so column 2 is seen again at column -2 (but the edge column is not doubled)
    bp = np.zeros((100, 100), np.float32)
    bp[50, 2] = 1.0
    ours = spread_burn_probability(raster(bp), iterations=1)["E"].values
    k = wind_kernels(38.0, -120.0, ARCSEC, ARCSEC)["E"]
    ref = reference_spread(bp, {"E": k}, iterations=1)["E"]
    np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=0)
    padded = np.pad(bp, 40, mode="reflect")  # numpy "reflect" is reflect-101
    assert padded[90, 38] == 1.0 and padded[90, 39] == 0.0


@pytest.mark.parametrize("shape", [(1, 1), (1, 6), (5, 7), (40, 90), (90, 40)])
def test_rasters_smaller_than_the_kernel_are_filtered_like_opencv(shape: tuple[int, int]) -> None:
    # OpenCV mirrors again and again when the 40-pixel border is wider than the raster
    bp = np.random.default_rng(sum(shape)).uniform(0.0, 0.05, shape).astype(np.float32)
    bp[bp < 0.02] = 0.0
    kernels = wind_kernels(38.0, -120.0, ARCSEC, ARCSEC)
    ref = reference_spread(bp, kernels)
    workspace = SpreadWorkspace(bp.shape)
    for d in DIRECTIONS:
        ours = spread_direction(bp, footprint(kernels[d]), 3, workspace)
        np.testing.assert_allclose(ours, ref[d], rtol=1e-6, atol=0)
    if min(shape) > 1:  # the xarray entry point needs two coordinates to know the pixel size
        spread = spread_burn_probability(raster(bp))
        for d in DIRECTIONS:
            np.testing.assert_allclose(spread[d].values, ref[d], rtol=1e-6, atol=0)


def test_tiny_values_are_clipped_and_nans_restored() -> None:
    bp = np.zeros((100, 100), np.float32)
    bp[50, 50] = 1e-12  # its correlation (~3e-15) is below the 1e-11 clip
    bp[10, 10] = np.nan
    ds = spread_burn_probability(raster(bp))
    for d in DIRECTIONS:
        values = ds[d].values
        assert np.isnan(values[10, 10])
        assert np.nansum(values) == 0.0
        assert np.isnan(values).sum() == 1


def test_spread_values_are_means_of_valid_neighbours() -> None:
    # a uniform positive field spreads to itself; zeros inside it are filled with that value
    bp = np.full((100, 100), 0.02, np.float32)
    bp[45:55, 45:55] = 0.0
    out = spread_burn_probability(raster(bp))["W"].values
    np.testing.assert_allclose(out, 0.02, rtol=1e-6)


def test_bad_grids_are_rejected() -> None:
    bp = random_bp(100, 100, 0)
    da = raster(bp)
    with pytest.raises(ValueError, match="strictly ascending"):
        spread_burn_probability(da.isel(latitude=slice(None, None, -1)))
    lon = da["longitude"].values.copy()
    lon[50:] += ARCSEC / 4  # one step a quarter pixel too long
    irregular = da.assign_coords(longitude=lon)
    with pytest.raises(ValueError, match="irregular"):
        spread_burn_probability(irregular)
    with pytest.raises(ValueError, match="expected dims"):
        spread_burn_probability(da.transpose())


# --- composite -----------------------------------------------------------------------------


def test_fast_path_equals_spread_then_composite_and_the_reference() -> None:
    bp = random_bp(150, 140, 3)
    da = raster(bp)
    rng = np.random.default_rng(3)
    weights = rng.random((150, 140, 8)).astype(np.float32)
    weights[:20, :20] = 0.0  # no fire weather
    weights[30, 30, 2] = np.nan
    dist = distribution(weights, da)
    fast = wind_informed_burn_probability(da, dist)
    slow = weighted_composite(spread_burn_probability(da), dist)
    np.testing.assert_array_equal(fast.values, slow.values)
    spread = {d: spread_burn_probability(da)[d].values for d in DIRECTIONS}
    ref = reference_composite(spread, weights)
    np.testing.assert_allclose(fast.values, ref, rtol=1e-6, atol=0, equal_nan=True)
    assert fast.dtype == np.float32
    assert np.isnan(fast.values[:20, :20]).all() and np.isnan(fast.values[30, 30])


def test_composite_rules() -> None:
    bp = np.full((90, 90), 0.01, np.float32)
    bp[40, 40] = np.nan
    da = raster(bp)
    weights = np.zeros((90, 90, 8), np.float32)
    weights[..., 0] = 2.0  # renormalised: N gets weight 1
    weights[0, 0] = 0.0
    out = wind_informed_burn_probability(da, distribution(weights, da)).values
    assert out[40, 40] == 0.0  # NaN BP with fire weather: the NaN spread is skipped
    assert np.isnan(out[0, 0])  # no fire-weather hours
    np.testing.assert_allclose(out[10, 10], 0.01, rtol=1e-6)


def test_composite_input_errors() -> None:
    da = raster(random_bp(90, 90, 0))
    weights = np.full((90, 90, 8), 0.125, np.float32)
    neg = weights.copy()
    neg[3, 4, 5] = -0.1
    with pytest.raises(ValueError, match="negative weight"):
        wind_informed_burn_probability(da, distribution(neg, da))
    bad_labels = distribution(weights, da).assign_coords(wind_direction=list("ABCDEFGH"))
    with pytest.raises(ValueError, match="direction labels"):
        wind_informed_burn_probability(da, bad_labels)
    shifted = distribution(weights, raster(np.zeros((90, 90)), lat0=39.0))
    with pytest.raises(ValueError, match="does not match"):
        wind_informed_burn_probability(da, shifted)


def test_direction_order_of_the_distribution_does_not_matter() -> None:
    da = raster(random_bp(90, 90, 5))
    weights = np.random.default_rng(5).random((90, 90, 8)).astype(np.float32)
    dist = distribution(weights, da)
    reordered = dist.isel(wind_direction=[7, 6, 5, 4, 3, 2, 1, 0])
    np.testing.assert_array_equal(
        wind_informed_burn_probability(da, dist).values,
        wind_informed_burn_probability(da, reordered).values,
    )


# --- properties ----------------------------------------------------------------------------


@settings(max_examples=15, deadline=None)
@given(
    h=st.integers(81, 130),
    w=st.integers(81, 130),
    zero_share=st.floats(0.0, 0.95),
    lat0=st.floats(25.0, 49.0),
    seed=st.integers(0, 2**32 - 1),
)
def test_fast_path_matches_the_reference_on_random_rasters(
    h: int, w: int, zero_share: float, lat0: float, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    bp = rng.uniform(1e-6, 1.0, (h, w)).astype(np.float32)
    bp[rng.random((h, w)) < zero_share] = 0.0
    bp[rng.random((h, w)) < 0.02] = np.nan
    da = raster(bp, lat0=lat0)
    weights = rng.random((h, w, 8)).astype(np.float32)
    weights[rng.random((h, w)) < 0.05] = 0.0
    before = bp.copy()
    fast = wind_informed_burn_probability(da, distribution(weights, da)).values
    np.testing.assert_array_equal(da.values, before)  # input untouched
    lat, lon = da["latitude"].values, da["longitude"].values
    kernels = wind_kernels(float(lat[h // 2]), float(lon[w // 2]), ARCSEC, ARCSEC)
    ref = reference_composite(reference_spread(bp, kernels), weights)
    np.testing.assert_array_equal(np.isnan(fast), np.isnan(ref))
    np.testing.assert_allclose(fast, ref, rtol=1e-5, atol=0, equal_nan=True)
