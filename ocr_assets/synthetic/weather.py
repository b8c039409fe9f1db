"""A synthetic CONUS404-like hourly weather cube on a 4 km EPSG:5070 grid.

Background weather is a diurnal cycle with synoptic swings and light westerly-ish winds.
A few fire-weather episodes (hot, dry, windy for 8-18 hours) dominate the top FFWI hours,
and during them the wind blows from a direction that varies across the domain: from the NE
(offshore/downslope) at the grid's west edge, turning through SE to SW at its east edge. So the 8-direction
fire-weather wind distribution differs from one part of the domain to another.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr
from odc.geo.xr import assign_crs

from ocr_assets.regions import RegionGrid
from ocr_assets.synthetic.landscape import smoothstep
from ocr_assets.synthetic.rasters import COVERAGE_MARGIN_DEG, albers_geobox, pixel_lonlat

#: CONUS404 pixel size in metres, and the first time step.
RESOLUTION_M = 4000.0
START = "2021-07-01T00:00"


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


def conus404(grid: RegionGrid, rng: np.random.Generator, hours: int) -> xr.Dataset:
    """Hourly ``T2`` (K), ``RH`` (%), ``WSPD`` (m/s) and ``WDIR`` (degrees, from) cube."""
    geobox = albers_geobox(grid, RESOLUTION_M, COVERAGE_MARGIN_DEG)
    lon, lat = pixel_lonlat(geobox)
    ny, nx = geobox.shape.yx
    west, south, east, north = grid.total_bounds
    u = (lon - west) / (east - west)  # 0 at the grid's west edge, 1 at its east edge
    warmer_south = -1.0 * (lat - (south + north) / 2.0)  # K, 1 K per degree of latitude

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

    dims = ("time", "y", "x")
    coords = {
        "time": pd.date_range(START, periods=hours, freq="h"),
        "y": geobox.coordinates["y"].values,
        "x": geobox.coordinates["x"].values,
    }

    def var(values: np.ndarray, units: str, description: str) -> tuple:
        return dims, values.astype(np.float32), {"units": units, "description": description}

    ds = xr.Dataset(
        {
            "T2": var(t2, "K", "2 m air temperature"),
            "RH": var(np.clip(rh, 2.0, 100.0), "%", "2 m relative humidity"),
            "WSPD": var(wspd, "m s-1", "10 m wind speed"),
            "WDIR": var(wdir, "degree", "10 m wind direction, degrees the wind blows from"),
        },
        coords=coords,
        attrs={"title": "synthetic stand-in for CONUS404 (Rasmussen et al. 2023), hourly"},
    )
    return assign_crs(ds, "EPSG:5070")
