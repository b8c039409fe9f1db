"""Steps 1-7 of the wind-informed BP and the region composition."""

from __future__ import annotations

import cv2
import numpy as np
import pyproj
import pytest
import xarray as xr
from odc.geo.xr import assign_crs, xr_reproject

from ocr_assets.science import (
    BUILDING_VARIABLES,
    DIRECTIONS,
    VARIABLES,
    gap_fill,
    gaussian_kernel_size,
    region_risk,
    regrid_wind_distribution,
    sample_nearest,
    wind_informed_bp_from_riley,
    wind_kernels,
)
from ocr_assets.science.reference import reference_wind_informed_bp

ARCSEC = 1.0 / 3600.0
H, W = 180, 150
LAT0, LON0 = 38.0, -120.0


def window() -> dict[str, np.ndarray]:
    return {
        "latitude": LAT0 + (np.arange(H) + 0.5) * ARCSEC,
        "longitude": LON0 + (np.arange(W) + 0.5) * ARCSEC,
    }


def riley_270m(seed: int, scale: float = 1.0) -> xr.DataArray:
    """A 270 m EPSG:5070 BP raster covering the window plus a margin, with zeros and NaN."""
    t = pyproj.Transformer.from_crs(4326, 5070, always_xy=True)
    xs, ys = t.transform(
        [LON0 - 0.01, LON0 + W * ARCSEC + 0.01] * 2,
        [LAT0 - 0.01] * 2 + [LAT0 + H * ARCSEC + 0.01] * 2,
    )
    x = np.arange(min(xs), max(xs), 270.0) + 135.0
    y = np.arange(max(ys), min(ys), -270.0) - 135.0
    rng = np.random.default_rng(seed)
    bp = rng.uniform(1e-3, 0.04, (y.size, x.size)).astype(np.float32) * scale
    bp[rng.random(bp.shape) < 0.25] = 0.0
    bp[0, :] = 0.0  # an edge row of zeros: never gap filled
    bp[3, 3] = np.nan
    da = xr.DataArray(bp, dims=("y", "x"), coords={"y": y, "x": x}, name="BP")
    return assign_crs(da, "EPSG:5070")


def distribution(seed: int) -> xr.DataArray:
    rng = np.random.default_rng(seed)
    w = rng.random((H, W, 8)).astype(np.float32)
    w[:10, :10] = 0.0
    return xr.DataArray(
        w,
        dims=("latitude", "longitude", "wind_direction"),
        coords={**window(), "wind_direction": list(DIRECTIONS)},
    )


def published_chain(riley: xr.DataArray, dist: xr.DataArray) -> np.ndarray:
    """The published steps, written independently: xarray rolling gap fill, odc-geo warp,
    the cv2 reference spreading/composite, combine, cv2 Gaussian blur."""
    valid = (riley > 0).astype(float)
    four = (valid.shift(x=1) + valid.shift(x=-1) + valid.shift(y=1) + valid.shift(y=-1)) == 4
    fill = (valid == 0) & four
    mean = riley.rolling(x=3, y=3, center=True, min_periods=1).mean(skipna=True)
    filled = assign_crs(xr.where(fill, mean, riley).astype(np.float32), "EPSG:5070")
    tmpl = assign_crs(
        xr.DataArray(np.zeros((H, W)), dims=("latitude", "longitude"), coords=window()), "EPSG:4326"
    )
    bp30 = xr_reproject(filled, how=tmpl.odc.geobox, resampling="nearest").values
    lat, lon = window()["latitude"], window()["longitude"]
    composite = reference_wind_informed_bp(bp30, dist.values, lat, lon)
    combined = np.where(bp30 == 0, composite, bp30).astype(np.float32)
    return cv2.GaussianBlur(combined, (19, 19), 0)


def test_gap_fill_rules() -> None:
    bp = np.full((5, 5), 0.1, np.float32)
    bp[2, 2] = 0.0  # interior zero surrounded by valid: filled with the 3x3 mean (zero counted)
    bp[0, 2] = 0.0  # edge: never filled
    bp[1, 1] = np.nan  # NaN with valid edge neighbours: filled, NaN skipped in the mean
    out = gap_fill(bp)
    assert out[0, 2] == 0.0
    np.testing.assert_allclose(out[2, 2], (0.1 * 7 + 0.0) / 8, rtol=1e-6)  # 8 values, 1 NaN
    # [1, 1]: itself NaN (skipped), [0, 2] and [2, 2] zeros counted (original values, not filled)
    np.testing.assert_allclose(out[1, 1], 0.1 * 6 / 8, rtol=1e-6)
    bp2 = np.full((4, 4), 0.1, np.float32)
    bp2[1, 1] = 0.0
    bp2[1, 2] = 0.0  # two adjacent zeros: neither has 4 valid neighbours
    assert (gap_fill(bp2) == bp2).all()


def test_gaussian_kernel_size() -> None:
    assert gaussian_kernel_size(ARCSEC) == 19
    assert gaussian_kernel_size(-ARCSEC) == 19
    assert gaussian_kernel_size(1.0) == 3  # forced >= 3
    assert gaussian_kernel_size(300 / 111000 / 4.5) % 2 == 1


def test_wind_informed_bp_matches_the_published_chain() -> None:
    riley, dist = riley_270m(7), distribution(7)
    ours = wind_informed_bp_from_riley(riley, dist)
    ref = published_chain(riley, dist)
    assert ours.dims == ("latitude", "longitude") and ours.dtype == np.float32
    np.testing.assert_array_equal(np.isnan(ours.values), np.isnan(ref))
    np.testing.assert_allclose(ours.values, ref, rtol=1e-5, atol=0, equal_nan=True)
    # NaN grows by the blur radius around pixels without fire weather that had BP == 0
    assert np.isnan(ours.values).any()


def test_riley_input_must_be_projected_with_crs() -> None:
    riley, dist = riley_270m(1), distribution(1)
    with pytest.raises(ValueError, match="expected dims"):
        wind_informed_bp_from_riley(riley.rename(x="lon"), dist)
    no_crs = xr.DataArray(
        riley.values, dims=("y", "x"), coords={"y": riley.y.values, "x": riley.x.values}
    )
    with pytest.raises(ValueError, match="no CRS"):
        wind_informed_bp_from_riley(no_crs, dist)


def test_region_risk_composes_the_eight_variables() -> None:
    rng = np.random.default_rng(2)
    dist = distribution(2)
    dist.values[:10, :10] = 0.125  # fire weather everywhere in this test
    coords = window()

    def as_grid(a):
        return xr.DataArray(
            a.astype(np.float32),
            dims=("latitude", "longitude"),
            coords=coords,
        )

    crps = as_grid(rng.uniform(0, 100, (H, W)))
    crps.values[0:5, 0:5] = np.nan
    rps = as_grid(rng.uniform(0, 1, (H, W)))
    riley30 = {
        2011: as_grid(rng.uniform(0, 0.05, (H, W))),
        2047: as_grid(rng.uniform(0, 0.07, (H, W))),
    }
    riley270 = {2011: riley_270m(3), 2047: riley_270m(3, scale=1.5)}
    bounds = (LON0 + 30 * ARCSEC, LAT0 + 40 * ARCSEC, LON0 + 120 * ARCSEC, LAT0 + 140 * ARCSEC)
    ds = region_risk(riley270, riley30, crps, rps, dist, bounds)
    assert list(ds.data_vars) == list(VARIABLES)
    assert ds.sizes == {"latitude": 100, "longitude": 90}
    for name, da in ds.data_vars.items():
        assert da.dtype == np.float32
        assert da.attrs["description"] and da.attrs["units"], name
    full = wind_informed_bp_from_riley(riley270[2011], dist)
    np.testing.assert_array_equal(ds["bp_2011"].values, full.values[40:140, 30:120])
    np.testing.assert_allclose(
        ds["rps_2011"].values, ds["bp_2011"].values * ds["crps_scott"].values, rtol=1e-6
    )
    assert float(ds["bp_2047"].mean()) > float(ds["bp_2011"].mean())
    assert ds.attrs["license"] == "CC-BY-4.0"
    assert len(BUILDING_VARIABLES) == 7 and "rps_scott" not in BUILDING_VARIABLES


def test_regrid_wind_distribution_nearest() -> None:
    t = pyproj.Transformer.from_crs(4326, 5070, always_xy=True)
    x0, y0 = t.transform(LON0, LAT0)
    x = x0 - 8000 + 4000 * np.arange(5)
    y = y0 + 12000 - 4000 * np.arange(6)
    values = np.arange(5 * 6 * 8, dtype=np.float32).reshape(6, 5, 8)
    coarse = assign_crs(
        xr.DataArray(
            values,
            dims=("y", "x", "wind_direction"),
            coords={"y": y, "x": x, "wind_direction": list(DIRECTIONS)},
        ),
        "EPSG:5070",
    )
    lat, lon = window()["latitude"], window()["longitude"]
    out = regrid_wind_distribution(coarse, lat, lon)
    assert out.dims == ("latitude", "longitude", "wind_direction") and out.dtype == np.float32
    # each 30 m pixel takes the value of the 4 km cell containing it
    xi, yi = t.transform(lon[5], lat[7])
    col = int(np.argmin(np.abs(x - xi)))
    row = int(np.argmin(np.abs(y - yi)))
    np.testing.assert_array_equal(out.values[7, 5], values[row, col])


def test_sample_nearest() -> None:
    coords = window()
    ds = xr.Dataset(
        {"v": (("latitude", "longitude"), np.arange(H * W, dtype=np.float32).reshape(H, W))},
        coords=coords,
    )
    lon = np.array([coords["longitude"][3] + 0.4 * ARCSEC, coords["longitude"][0] - 2 * ARCSEC])
    lat = np.array([coords["latitude"][5] - 0.4 * ARCSEC, coords["latitude"][0]])
    out = sample_nearest(ds, lon, lat)["v"]
    assert out[0] == 5 * W + 3 and np.isnan(out[1])
    # points exactly on the grid's outer (pixel) edges belong to the edge pixels
    east = coords["longitude"][-1] + ARCSEC / 2
    north = coords["latitude"][-1] + ARCSEC / 2
    edge = sample_nearest(
        ds,
        np.array([east, coords["longitude"][0] - ARCSEC / 2]),
        np.array([north, coords["latitude"][0] - ARCSEC / 2]),
    )["v"]
    assert edge.tolist() == [H * W - 1, 0]


def test_kernel_geometry_comes_from_the_centre_pixel() -> None:
    # farther north a degree of longitude is shorter, so E-W kernels cover more pixels
    south = wind_kernels(30.0, -100.0, ARCSEC, ARCSEC)["W"]
    north = wind_kernels(48.0, -100.0, ARCSEC, ARCSEC)["W"]
    assert np.count_nonzero(north) > np.count_nonzero(south)
