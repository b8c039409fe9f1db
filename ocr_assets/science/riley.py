"""Wind-informed burn probability from the Riley et al. 270 m BP (docs/science.md, steps 1-6)."""

from __future__ import annotations

import cv2
import numpy as np
import xarray as xr
from odc.geo.geobox import GeoBox
from odc.geo.xr import assign_crs, xr_reproject

from .spread import GRID_DIMS, check_grid, wind_informed_burn_probability

METRES_PER_DEGREE_LAT = 111_000.0  # the published kernel-size rule's metres per degree
SMOOTHING_RADIUS_M = 300.0


def gap_fill(bp: np.ndarray) -> np.ndarray:
    """Fill invalid pixels (BP <= 0 or NaN) whose four edge neighbours are all valid (BP > 0).

    Such a pixel takes the mean of its centred 3 x 3 window (itself and its 8 neighbours),
    zeros counted, NaNs skipped. Pixels on the raster's outer edge are never filled.
    """
    bp = np.asarray(bp, dtype=np.float32)
    out = bp.copy()
    if bp.shape[0] < 3 or bp.shape[1] < 3:
        return out
    with np.errstate(invalid="ignore"):
        valid = bp > 0
    inner = (slice(1, -1), slice(1, -1))
    surrounded = valid[:-2, 1:-1] & valid[2:, 1:-1] & valid[1:-1, :-2] & valid[1:-1, 2:]
    fill = surrounded & ~valid[inner]
    if not fill.any():
        return out
    rows, cols = np.nonzero(fill)
    rows += 1
    cols += 1
    window = np.stack(
        [bp[rows + dr, cols + dc] for dr in (-1, 0, 1) for dc in (-1, 0, 1)], axis=0
    ).astype(np.float64)
    out[rows, cols] = np.nanmean(window, axis=0).astype(np.float32)
    return out


def _geobox(template: xr.DataArray) -> GeoBox:
    """The EPSG:4326 GeoBox of a (latitude, longitude[, ...]) raster's grid."""
    grid = xr.DataArray(
        np.zeros((template.sizes["latitude"], template.sizes["longitude"]), dtype=np.uint8),
        dims=GRID_DIMS,
        coords={d: template[d].values for d in GRID_DIMS},
    )
    return assign_crs(grid, "EPSG:4326").odc.geobox


def reproject_nearest(source: xr.DataArray, template: xr.DataArray) -> xr.DataArray:
    """Warp ``source`` (any CRS attached the odc-geo way) onto ``template``'s 30 m grid.

    Nearest-neighbour resampling the way GDAL warps (odc-geo ``xr_reproject`` over rasterio),
    which is what the published numbers were made with.
    """
    if source.odc.crs is None:
        raise ValueError(
            "reproject_nearest: the source raster has no CRS; attach one with "
            "odc.geo.xr.assign_crs(da, 'EPSG:5070')"
        )
    warped = xr_reproject(source, how=_geobox(template), resampling="nearest")
    return warped.assign_coords({d: template[d].values for d in GRID_DIMS})


def gaussian_kernel_size(latitude_increment: float) -> int:
    """Blur kernel size: ``2 * int(300 m / pixel height) + 1``, odd and >= 3 (19 at 1 arcsec)."""
    pixel_height = abs(latitude_increment) * METRES_PER_DEGREE_LAT
    size = 2 * int(SMOOTHING_RADIUS_M / pixel_height) + 1
    if size % 2 == 0:
        size += 1
    return max(size, 3)


def gaussian_smooth(values: np.ndarray, latitude_increment: float) -> np.ndarray:
    """OpenCV Gaussian blur, sigma from the kernel size, reflect-101 borders (NaN spreads)."""
    size = gaussian_kernel_size(latitude_increment)
    return cv2.GaussianBlur(
        np.ascontiguousarray(values, dtype=np.float32),
        (size, size),
        sigmaX=0,
        borderType=cv2.BORDER_REFLECT_101,
    )


def wind_informed_bp_from_riley(
    riley_bp_270m: xr.DataArray, wind_distribution: xr.DataArray, *, backend: str = "cpu"
) -> xr.DataArray:
    """Steps 1-6 of the wind-informed BP for one climate.

    ``riley_bp_270m`` is the Riley BP on its own EPSG:5070 270 m grid (dims ``y, x``, CRS attached
    with odc-geo) covering the window plus a margin. ``wind_distribution`` (dims ``latitude,
    longitude, wind_direction``) defines the 30 m output grid. Returns float32 BP on that grid:
    gap fill, nearest reprojection, directional spreading, composite, combine (keep the 30 m BP
    where non-zero, the composite where it is 0), Gaussian smoothing.
    """
    if tuple(riley_bp_270m.dims) != ("y", "x"):
        raise ValueError(
            f"riley_bp_270m: expected dims ('y', 'x'), got {tuple(riley_bp_270m.dims)}"
        )
    filled = riley_bp_270m.copy(data=gap_fill(riley_bp_270m.values))
    bp_30m = reproject_nearest(filled, wind_distribution)
    bp_30m = bp_30m.astype(np.float32)
    dlat, _ = check_grid(bp_30m, "reprojected burn probability")
    composite = wind_informed_burn_probability(bp_30m, wind_distribution, backend=backend)
    bp = bp_30m.values
    combined = np.where(bp == 0, composite.values, bp).astype(np.float32)
    smoothed = gaussian_smooth(combined, dlat)
    return xr.DataArray(
        smoothed,
        dims=GRID_DIMS,
        coords={d: bp_30m[d].values for d in GRID_DIMS},
        name="bp",
        attrs={
            "long_name": "wind-informed burn probability",
            "description": "Riley et al. 2025 burn probability spread downwind with elliptical "
            "kernels weighted by the fire-weather wind distribution, combined with the "
            "original BP where it is non-zero and Gaussian-smoothed",
            "units": "1",
        },
    )


def regrid_wind_distribution(
    distribution: xr.DataArray, latitude: np.ndarray, longitude: np.ndarray
) -> xr.DataArray:
    """Nearest-neighbour regrid of a coarse wind distribution onto a 30 m window.

    ``distribution`` has dims ``(y, x, wind_direction)`` (or ``latitude, longitude, ...``) with a
    CRS attached the odc-geo way. Returns float32 ``(latitude, longitude, wind_direction)``.
    """
    spatial = [d for d in distribution.dims if d != "wind_direction"]
    template = xr.DataArray(
        np.zeros((len(latitude), len(longitude)), dtype=np.uint8),
        dims=GRID_DIMS,
        coords={"latitude": np.asarray(latitude), "longitude": np.asarray(longitude)},
    )
    per_direction = [
        reproject_nearest(distribution.sel(wind_direction=label).transpose(*spatial), template)
        for label in distribution["wind_direction"].values
    ]
    out = xr.concat(per_direction, dim="wind_direction").transpose(*GRID_DIMS, "wind_direction")
    out = out.assign_coords(wind_direction=distribution["wind_direction"].values)
    out = out.drop_vars([c for c in out.coords if c not in (*GRID_DIMS, "wind_direction")])
    out.name = "wind_direction_distribution"
    out.attrs = dict(distribution.attrs)
    return out.astype(np.float32)
