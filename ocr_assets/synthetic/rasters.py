"""Synthetic Riley et al. 2025 and Scott et al. 2024 rasters.

- Riley BP on its native grid (270 m, EPSG:5070, y descending): a smooth positive field
  (~1e-4..0.05), zero in towns, NaN over water, plus isolated single zero pixels surrounded
  by valid ones (work for the gap fill). 2047 is 2011 times a smooth factor in 1.2..1.8.
- Riley BP on the 30 m grid: the 270 m BP warped with odc-geo nearest resampling, as the
  published 30 m reference variables are.
- Scott: CRPS smooth in 0..100 (NaN over water at 30 m), BP = Riley 2011 30 m x noise,
  RPS = BP x CRPS.

Each carries the attributes of the real stores: float32 with NaN as ``_FillValue`` (nodata),
``units``, ``long_name`` and ``description`` per variable, the CRS as the scalar coordinate
``spatial_ref`` (CF grid mapping and ``crs_wkt``, odc-geo's) named by ``grid_mapping``, CF
coordinate attributes, and the published dataset attributes (``title``, ``version``,
``data_source``, ``EPSG``, ``resolution``).
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import xarray as xr
from affine import Affine
from odc.geo.geobox import GeoBox
from odc.geo.xr import assign_crs, xr_reproject
from pyproj import Transformer
from scipy import ndimage

from ocr_assets.catalog import RILEY_RESOLUTION_M
from ocr_assets.regions import RegionGrid
from ocr_assets.synthetic.landscape import Landscape

#: How far (degrees) the Riley and CONUS404 grids extend past the region grid on every side
#: (a region needs its 0.15 degree buffer plus 3 coarse pixels; the brief asks >= 0.4).
COVERAGE_MARGIN_DEG = 0.45

BP_DESCRIPTION = "annual burn probability (synthetic stand-in for Riley et al. 2025, {} climate)"

_XarrayT = TypeVar("_XarrayT", xr.DataArray, xr.Dataset)

#: CF attributes of the raster coordinates.
COORDINATE_ATTRS: dict[str, dict[str, str]] = {
    "latitude": {
        "units": "degrees_north",
        "standard_name": "latitude",
        "long_name": "latitude",
        "axis": "Y",
    },
    "longitude": {
        "units": "degrees_east",
        "standard_name": "longitude",
        "long_name": "longitude",
        "axis": "X",
    },
    "x": {
        "units": "m",
        "standard_name": "projection_x_coordinate",
        "long_name": "x coordinate of projection",
        "axis": "X",
    },
    "y": {
        "units": "m",
        "standard_name": "projection_y_coordinate",
        "long_name": "y coordinate of projection",
        "axis": "Y",
    },
}

#: The published stores' dataset attributes (the synthetic ones say they are stand-ins).
SCOTT_ATTRS: dict[str, str] = {
    "title": "RDS-2020-0016-02",
    "version": "2024-V2",
    "data_source": "https://www.fs.usda.gov/rds/archive/catalog/RDS-2020-0016-2",
    "description": "synthetic stand-in for Scott et al. 2024, wildfire risk to communities",
    "EPSG": "4326",
    "resolution": "30m",
}
RILEY_ATTRS: dict[str, str] = {
    "title": "RDS-2025-0006",
    "version": "2025",
    "data_source": "https://www.fs.usda.gov/rds/archive/catalog/RDS-2025-0006",
    "description": "synthetic stand-in for Riley et al. 2025, wildfire hazard under climate runs",
}


def with_coordinate_attrs(obj: _XarrayT) -> _XarrayT:
    """``obj`` with the CF attributes of its ``latitude``/``longitude`` or ``x``/``y``."""
    return obj.assign_coords(
        {
            name: obj[name].assign_attrs(COORDINATE_ATTRS[name])
            for name in COORDINATE_ATTRS
            if name in obj.coords
        }
    )


def albers_geobox(grid: RegionGrid, resolution: float, margin: float) -> GeoBox:
    """North-up EPSG:5070 GeoBox covering the grid's bounds grown by ``margin`` degrees."""
    west, south, east, north = grid.total_bounds
    to_albers = Transformer.from_crs("EPSG:4326", "EPSG:5070", always_xy=True)
    bbox = to_albers.transform_bounds(
        west - margin, south - margin, east + margin, north + margin, densify_pts=51
    )
    return GeoBox.from_bbox(bbox, crs="EPSG:5070", resolution=resolution)


def pixel_lonlat(geobox: GeoBox) -> tuple[np.ndarray, np.ndarray]:
    """Longitude and latitude (2-D, float64) of the pixel centres of an EPSG:5070 GeoBox."""
    coords = geobox.coordinates
    x, y = np.meshgrid(coords["x"].values, coords["y"].values)
    to_lonlat = Transformer.from_crs("EPSG:5070", "EPSG:4326", always_xy=True)
    return to_lonlat.transform(x, y)


def grid_geobox(grid: RegionGrid) -> GeoBox:
    """The 30 m EPSG:4326 GeoBox of the region grid, latitude ascending (south-up)."""
    affine = Affine(grid.pixel_size, 0.0, grid.west, 0.0, grid.pixel_size, grid.south)
    return GeoBox((grid.height, grid.width), affine, "EPSG:4326")


def smooth_field(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """Gaussian-smoothed white noise, standardised to mean 0 and standard deviation 1."""
    field = ndimage.gaussian_filter(rng.standard_normal(shape), sigma, mode="reflect")
    return (field - field.mean()) / field.std()


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _isolated_zeros(
    bp: np.ndarray, eligible: np.ndarray, rng: np.random.Generator, count: int
) -> np.ndarray:
    """Pick up to ``count`` pixels whose 3 x 3 neighbourhood is all valid (> 0), 3+ apart."""
    valid = np.nan_to_num(bp, nan=0.0) > 0
    interior = ndimage.binary_erosion(valid, structure=np.ones((3, 3)), border_value=0)
    candidates = rng.permutation(np.flatnonzero(interior & eligible))
    taken = np.zeros(bp.shape, dtype=bool)
    chosen: list[int] = []
    for flat in candidates:
        if len(chosen) >= count:
            break
        i, j = np.unravel_index(flat, bp.shape)
        if not taken[max(i - 2, 0) : i + 3, max(j - 2, 0) : j + 3].any():
            taken[i, j] = True
            chosen.append(int(flat))
    return np.array(chosen, dtype=np.int64)


def riley_270m(landscape: Landscape, rng: np.random.Generator) -> dict[int, xr.DataArray]:
    """Riley BP for 2011 and 2047 on the 270 m EPSG:5070 grid (CRS attached)."""
    grid = landscape.grid
    geobox = albers_geobox(grid, RILEY_RESOLUTION_M, COVERAGE_MARGIN_DEG)
    lon, lat = pixel_lonlat(geobox)
    shape = geobox.shape.yx

    z = 0.8 * smooth_field(rng, shape, 4.0) + 0.6 * smooth_field(rng, shape, 20.0)
    bp = 10.0 ** (-4.0 + 2.7 * _sigmoid(1.4 * z))
    bp[landscape.developed(lon, lat)] = 0.0
    bp[landscape.water(lon, lat)] = np.nan
    west, south, east, north = grid.total_bounds
    in_grid = (lon > west) & (lon < east) & (lat > south) & (lat < north)
    n_isolated = max(6, int(in_grid.sum()) // 1500)
    bp.flat[_isolated_zeros(bp, in_grid, rng, n_isolated)] = 0.0

    factor = 1.2 + 0.6 * _sigmoid(1.5 * smooth_field(rng, shape, 15.0))
    out = {}
    for year, values in ((2011, bp), (2047, np.minimum(bp * factor, 1.0))):
        da = xr.DataArray(
            values.astype(np.float32),
            coords={"y": geobox.coordinates["y"].values, "x": geobox.coordinates["x"].values},
            dims=("y", "x"),
            name="BP",
            attrs={
                "units": "1",
                "long_name": "annual burn probability",
                "description": BP_DESCRIPTION.format(year),
            },
        )
        out[year] = assign_crs(with_coordinate_attrs(da), "EPSG:5070")
    return out


def riley_30m(bp_270m: xr.DataArray, grid: RegionGrid) -> xr.DataArray:
    """Warp the 270 m BP onto the 30 m grid (nearest, the GDAL way), exact grid coordinates."""
    warped = xr_reproject(bp_270m, how=grid_geobox(grid), resampling="nearest")
    lat, lon = grid.latitude(), grid.longitude()
    tolerance = 1e-6 * grid.pixel_size
    if (
        np.abs(warped["latitude"].values - lat).max() > tolerance
        or np.abs(warped["longitude"].values - lon).max() > tolerance
    ):
        raise ValueError("odc-geo returned 30 m coordinates that differ from the region grid")
    warped = warped.assign_coords(latitude=lat, longitude=lon).astype(np.float32)
    warped.attrs = dict(bp_270m.attrs)
    return assign_crs(with_coordinate_attrs(warped.rename("BP")), "EPSG:4326")


def _upsampled_field(
    rng: np.random.Generator, shape: tuple[int, int], coarse_px: int, sigma: float
) -> np.ndarray:
    """A smooth standardised field on ``shape``, built on a grid ``coarse_px`` times coarser."""
    coarse_shape = (max(2, -(-shape[0] // coarse_px)), max(2, -(-shape[1] // coarse_px)))
    coarse = smooth_field(rng, coarse_shape, sigma)
    zoom = (shape[0] / coarse_shape[0], shape[1] / coarse_shape[1])
    return ndimage.zoom(coarse, zoom, order=1, mode="nearest", grid_mode=True)[
        : shape[0], : shape[1]
    ]


def scott(
    landscape: Landscape, riley_2011_30m: xr.DataArray, rng: np.random.Generator
) -> xr.Dataset:
    """Scott CRPS, RPS and BP on the 30 m grid (latitude/longitude ascending)."""
    grid = landscape.grid
    lat, lon = grid.latitude(), grid.longitude()
    shape = (lat.size, lon.size)
    water = landscape.water(lon[None, :], lat[:, None])

    z = _upsampled_field(rng, shape, 15, 3.0)
    crps = 100.0 * _sigmoid(1.3 * z + 0.6) + rng.normal(0.0, 2.0, shape)
    crps = np.clip(crps, 0.0, 100.0).astype(np.float32)
    crps[water] = np.nan

    noise = rng.lognormal(0.0, 0.2, shape)
    bp = np.clip(riley_2011_30m.values * noise, 0.0, 1.0).astype(np.float32)
    bp[water] = np.nan
    rps = (bp * crps).astype(np.float32)

    coords = {"latitude": lat, "longitude": lon}
    dims = ("latitude", "longitude")
    ds = xr.Dataset(
        {
            "CRPS": (
                dims,
                crps,
                {
                    "units": "%",
                    "long_name": "conditional risk to potential structures",
                    "description": "conditional risk to potential structures "
                    "(synthetic stand-in for Scott et al. 2024)",
                },
            ),
            "RPS": (
                dims,
                rps,
                {
                    "units": "%",
                    "long_name": "risk to potential structures",
                    "description": "risk to potential structures, BP x CRPS "
                    "(synthetic stand-in for Scott et al. 2024)",
                },
            ),
            "BP": (
                dims,
                bp,
                {
                    "units": "1",
                    "long_name": "annual burn probability",
                    "description": "annual burn probability (synthetic stand-in for Scott et al. 2024)",
                },
            ),
        },
        coords=coords,
        attrs={**SCOTT_ATTRS, "crs": "EPSG:4326", **grid.to_dict()},
    )
    return assign_crs(with_coordinate_attrs(ds), "EPSG:4326")
