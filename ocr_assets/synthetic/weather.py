"""A synthetic CONUS404-like hourly weather cube, raw WRF variables on CONUS404's own grid.

The grid is 4 km in CONUS404's spherical Lambert conformal projection. Background weather is a
diurnal cycle with synoptic swings and light westerly-ish winds. A few fire-weather episodes
(hot, dry, windy for 8-18 hours) dominate the top FFWI hours, and during them the wind blows
from a direction that varies across the domain: from the NE (offshore/downslope) at the grid's
west edge, turning through SE to SW at its east edge. So the 8-direction fire-weather wind
distribution differs from one part of the domain to another.

The weather is first drawn as temperature, relative humidity, wind speed and "from" direction,
then written the way CONUS404 holds it: ``T2`` and dew point ``TD2`` (K; ``TD2`` inverts the
Sonntag (1990) saturation vapour pressure so that ``100 e_sat(TD2) / e_sat(T2)`` is the drawn
humidity), surface pressure ``PSFC`` (Pa), mixing ratio ``Q2`` (kg kg-1) and grid-relative winds
``U10``/``V10`` (m s-1), rotated by the grid's local angle whose sine and cosine are the spatial
constants ``SINALPHA``/``COSALPHA``; ``crs`` carries the projection as ``crs_wkt`` and the CF
grid-mapping attributes.

Every variable has the attributes of the real stores (:data:`VARIABLE_ATTRS`): WRF's ``units``
(the constants ``"1"``, as WRF writes them) and upper-case ``description``, a ``long_name`` and
``grid_mapping: crs``, which in an hourly repository names a variable held only by the
constants repository, as in the real data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr
from odc.geo.geobox import GeoBox
from pyproj import CRS, Transformer

from ocr_assets.catalog.layout import CONUS404_UNITS
from ocr_assets.regions import RegionGrid
from ocr_assets.synthetic.landscape import smoothstep
from ocr_assets.synthetic.rasters import COORDINATE_ATTRS as RASTER_COORDINATE_ATTRS
from ocr_assets.synthetic.rasters import COVERAGE_MARGIN_DEG

#: CONUS404 pixel size in metres, and the first time step.
RESOLUTION_M = 4000.0
START = "2021-07-01T00:00"
#: CONUS404's projection: Lambert conformal conic (2SP) on a sphere of radius 6370 km.
LAT0, LON0, PARALLELS = 39.1000061035156, -97.9000015258789, (30.0, 50.0)
CONUS404_CRS = CRS.from_proj4(
    f"+proj=lcc +lat_0={LAT0} +lon_0={LON0} +lat_1={PARALLELS[0]} +lat_2={PARALLELS[1]} "
    "+x_0=0 +y_0=0 +R=6370000 +units=m +no_defs"
)
#: Chunks of the spatial constants (the CONUS404 Zarr's).
CONSTANT_CHUNK = 175

_WRF = {
    "PSFC": ("SFC PRESSURE", "Surface pressure"),
    "Q2": ("QV at 2 M", "Water vapour mixing ratio at 2 m"),
    "T2": ("TEMP at 2 M", "Air temperature at 2 m"),
    "TD2": ("DEWPOINT TEMP at 2 M", "Dew point temperature at 2 m"),
    "U10": ("U at 10 M", "Grid-relative x component of the wind at 10 m"),
    "V10": ("V at 10 M", "Grid-relative y component of the wind at 10 m"),
    "SINALPHA": ("LOCAL SINE OF MAP ROTATION", "Sine of the local map rotation"),
    "COSALPHA": ("LOCAL COSINE OF MAP ROTATION", "Cosine of the local map rotation"),
}
#: The attributes of each CONUS404 variable, as the real stores carry them.
VARIABLE_ATTRS: dict[str, dict[str, str]] = {
    name: {
        "units": CONUS404_UNITS.get(name, "1"),
        "description": description,
        "long_name": long_name,
        "grid_mapping": "crs",
    }
    for name, (description, long_name) in _WRF.items()
}
#: The attributes of the CONUS404 coordinates (CF).
COORDINATE_ATTRS: dict[str, dict[str, str]] = {
    "x": RASTER_COORDINATE_ATTRS["x"],
    "y": RASTER_COORDINATE_ATTRS["y"],
    "lat": {"units": "degrees_north", "standard_name": "latitude", "long_name": "latitude"},
    "lon": {"units": "degrees_east", "standard_name": "longitude", "long_name": "longitude"},
}

# Sonntag (1990) saturation vapour pressure over water: ln(e / 100 Pa) coefficients.
_SONNTAG = (-6096.9385, 16.635794, -2.711193e-2, 1.673952e-5, 2.433502)


def saturation_vapour_pressure(t: np.ndarray) -> np.ndarray:
    """Saturation vapour pressure over water (Pa) at temperature ``t`` (K), Sonntag 1990."""
    a, b, c, d, e = _SONNTAG
    return 100.0 * np.exp(a / t + b + c * t + d * t**2 + e * np.log(t))


def dewpoint_from_relative_humidity(t: np.ndarray, rh: np.ndarray) -> np.ndarray:
    """Dew point (K) such that ``100 e_sat(Td) / e_sat(t) = rh`` (Newton's method, float64)."""
    a, _, c, d, e = _SONNTAG
    target = np.log(np.asarray(rh, dtype=np.float64) / 100.0 * saturation_vapour_pressure(t))
    td = np.asarray(t, dtype=np.float64) - (100.0 - rh) / 5.0
    for _ in range(8):
        residual = np.log(saturation_vapour_pressure(td)) - target
        slope = -a / td**2 + c + 2.0 * d * td + e / td
        td = td - residual / slope
    return td


def lambert_alpha(lon: np.ndarray) -> np.ndarray:
    """Angle (radians) between grid north and true north of the Lambert grid at ``lon``."""
    phi1, phi2 = np.deg2rad(PARALLELS)
    cone = np.log(np.cos(phi1) / np.cos(phi2)) / np.log(
        np.tan(np.pi / 4 + phi2 / 2) / np.tan(np.pi / 4 + phi1 / 2)
    )
    return cone * np.deg2rad(lon - LON0)


def _geobox(grid: RegionGrid) -> GeoBox:
    """North-up 4 km Lambert GeoBox covering the grid's bounds plus the coverage margin."""
    west, south, east, north = grid.total_bounds
    m = COVERAGE_MARGIN_DEG
    to_lcc = Transformer.from_crs("EPSG:4326", CONUS404_CRS, always_xy=True)
    bbox = to_lcc.transform_bounds(west - m, south - m, east + m, north + m, densify_pts=51)
    return GeoBox.from_bbox(bbox, crs=CONUS404_CRS, resolution=RESOLUTION_M)


def _episodes(rng: np.random.Generator, hours: int) -> np.ndarray:
    """Fire-weather strength per hour in [0, 1]: a few half-sine episodes of 8-18 hours."""
    t = np.arange(hours, dtype=np.float64)
    strength = np.zeros(hours)
    for _ in range(max(2, hours // 100)):
        duration = int(rng.integers(8, 19))
        start = int(rng.integers(0, max(1, hours - duration)))
        phase = (t - start) / duration
        strength = np.maximum(
            strength, np.where((phase >= 0) & (phase <= 1), np.sin(np.pi * phase), 0.0)
        )
    return strength


def _drawn_weather(
    lon: np.ndarray, lat: np.ndarray, grid: RegionGrid, rng: np.random.Generator, hours: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Temperature (K), relative humidity (%), wind speed (m/s), "from" direction (degrees)."""
    west, south, east, north = grid.total_bounds
    u = (lon - west) / (east - west)  # 0 at the grid's west edge, 1 at its east edge
    warmer_south = -1.0 * (lat - (south + north) / 2.0)  # K, 1 K per degree of latitude
    ny, nx = lon.shape
    shape = (hours, ny, nx)
    t = np.arange(hours, dtype=np.float64)
    diurnal = np.sin(2.0 * np.pi * (t - 9.0) / 24.0)[:, None, None]
    synoptic = np.cumsum(rng.normal(0.0, 0.15, hours))
    synoptic = ((synoptic - synoptic.mean()) / (synoptic.std() + 1e-9))[:, None, None]

    t2 = 284.0 + 9.0 * diurnal + 3.0 * synoptic + warmer_south + rng.normal(0, 0.7, shape)
    rh = 60.0 - 22.0 * diurnal - 8.0 * synoptic + rng.normal(0.0, 6.0, shape)
    wspd = rng.gamma(2.0, 1.4, shape)
    wdir = 250.0 + 50.0 * rng.standard_normal(shape)

    amplitude = 0.8 + 0.4 * rng.random((ny, nx))
    event = _episodes(rng, hours)[:, None, None] * amplitude[None]
    t2 += 5.0 * event
    rh *= 1.0 - 0.75 * np.clip(event, 0.0, 1.0)
    wspd += 12.0 * event
    prevailing = 45.0 + 180.0 * smoothstep(u)
    event_dir = prevailing[None] + 18.0 * rng.standard_normal(shape)
    wdir = np.where(event > 0.3, event_dir, wdir) % 360.0
    return t2, np.clip(rh, 2.0, 100.0), wspd, wdir


def conus404(grid: RegionGrid, rng: np.random.Generator, hours: int) -> xr.Dataset:
    """The hourly cube as CONUS404 holds it, with its spatial constants (see module docs).

    Variables ``PSFC, Q2, T2, TD2, U10, V10`` (time, y, x) float32 with WRF units,
    ``SINALPHA``, ``COSALPHA`` (y, x) float32 (units ``"1"``), each with the real stores'
    attributes (:data:`VARIABLE_ATTRS`); coordinates ``x``, ``y`` (metres), ``time``, ``lat``,
    ``lon`` (y, x) float32 with CF attributes and the scalar ``crs`` (CF grid mapping and
    ``crs_wkt``).
    """
    geobox = _geobox(grid)
    x, y = geobox.coordinates["x"].values, geobox.coordinates["y"].values
    to_lonlat = Transformer.from_crs(CONUS404_CRS, "EPSG:4326", always_xy=True)
    lon, lat = to_lonlat.transform(*np.meshgrid(x, y))
    t2, rh, wspd, wdir = _drawn_weather(lon, lat, grid, rng, hours)

    t2_32 = t2.astype(np.float32)
    # float32 rounding must not push the dew point above the temperature (RH > 100 %).
    td2_32 = np.minimum(dewpoint_from_relative_humidity(t2, rh).astype(np.float32), t2_32)
    psfc = np.broadcast_to(92_000.0 + 600.0 * rng.standard_normal((hours, 1, 1)), t2.shape)
    vapour = saturation_vapour_pressure(td2_32.astype(np.float64))
    q2 = 0.622 * vapour / (psfc - vapour)

    alpha = lambert_alpha(lon)
    sin_alpha, cos_alpha = np.sin(alpha), np.cos(alpha)
    direction = np.deg2rad(wdir)
    earth_u, earth_v = -wspd * np.sin(direction), -wspd * np.cos(direction)
    # The inverse of the published rotation earth_u = U cos - V sin, earth_v = V cos + U sin.
    u10 = earth_u * cos_alpha + earth_v * sin_alpha
    v10 = earth_v * cos_alpha - earth_u * sin_alpha

    hourly = ("time", "y", "x")
    values = {
        "PSFC": (hourly, psfc),
        "Q2": (hourly, q2),
        "T2": (hourly, t2_32),
        "TD2": (hourly, td2_32),
        "U10": (hourly, u10),
        "V10": (hourly, v10),
        "SINALPHA": (("y", "x"), sin_alpha),
        "COSALPHA": (("y", "x"), cos_alpha),
    }
    ds = xr.Dataset(
        {
            name: (dims, array.astype(np.float32), dict(VARIABLE_ATTRS[name]))
            for name, (dims, array) in values.items()
        },
        coords={
            "time": pd.date_range(START, periods=hours, freq="h"),
            "y": ("y", y.astype(np.float64), dict(COORDINATE_ATTRS["y"])),
            "x": ("x", x.astype(np.float64), dict(COORDINATE_ATTRS["x"])),
            "lat": (("y", "x"), lat.astype(np.float32), dict(COORDINATE_ATTRS["lat"])),
            "lon": (("y", "x"), lon.astype(np.float32), dict(COORDINATE_ATTRS["lon"])),
            "crs": ((), np.int64(0), CONUS404_CRS.to_cf()),
        },
        attrs={"title": "synthetic stand-in for CONUS404 (Rasmussen et al. 2023), hourly"},
    )
    # WRF stores rows south to north: y ascending.
    return ds.sortby("y")
