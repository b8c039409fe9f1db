"""The CONUS404 chain: hourly weather to the fire-weather wind-direction distribution.

Steps, each a function below, in the order the published pipeline applies them:

1. :func:`relative_humidity_from_dewpoint` - relative humidity from T2 and TD2 (Sonntag 1990
   saturation vapour pressure over water; values outside [0, 100] masked to NaN).
2. :func:`rotate_winds_to_earth` - grid-relative U10/V10 to earth-relative components (WRF).
3. :func:`wind_speed_and_direction` - speed and meteorological "from" direction, calm rule.
4. :func:`~ocr_assets.science.wind.fosberg_fire_weather_index` - FFWI per hour.
5. :func:`~ocr_assets.science.wind.fire_weather_mask` - hours with FFWI strictly above the
   per-pixel 99th percentile over the whole record.
6. :func:`~ocr_assets.science.wind.wind_direction_distribution` - the 8-class histogram.

:func:`fire_weather_wind_distribution` chains them on a CONUS404 dataset. Every step is written
with xarray operations in the input's dtype (float32 on the real data, as the published code
computes), so a dask-backed dataset stays lazy and ``.compute()`` runs per pixel block; the only
step that needs a whole time series at once (the quantile and the histogram) requires ``time``
in one chunk, and the chain rechunks it so when needed.
"""

from __future__ import annotations

import math

import numpy as np
import xarray as xr

from ._checks import require_float
from .units import convert_units
from .wind import fire_weather_mask, fosberg_fire_weather_index, wind_direction_distribution

BLOCK_BYTES = 128 * 2**20
"""Target size of one variable's chunk when the chain has to rechunk ``time`` into one chunk."""
CALM_WIND_M_S = 0.5
"""Winds slower than this get direction 0 ("calm"), as on the Beaufort scale."""

_WEATHER_VARIABLES = ("T2", "TD2", "U10", "V10")
_ROTATION_VARIABLES = ("SINALPHA", "COSALPHA")


def _saturation_vapour_pressure_pa(temperature_k: xr.DataArray) -> xr.DataArray:
    """Sonntag (1990) saturation vapour pressure over water, Pa, in the input's dtype.

    The expression and its evaluation order are those of xclim's ``sonntag90`` method (which
    the published code calls), so float32 input gives the published float32 values.
    """
    t = temperature_k
    return 100 * np.exp(
        -6096.9385 / t + 16.635794 + -2.711193e-2 * t + 1.673952e-5 * t**2 + 2.433502 * np.log(t)
    )


def relative_humidity_from_dewpoint(t2: xr.DataArray, td2: xr.DataArray) -> xr.DataArray:
    """Relative humidity (%) from 2 m temperature and dew point (any temperature units).

    ``RH = 100 * e_sat(TD2) / e_sat(T2)`` with the Sonntag (1990) formula over water at every
    temperature (no ice branch). Values outside [0, 100] (e.g. dew point above temperature)
    become NaN, as the published call (xclim's indicator, ``invalid_values='mask'``) does.
    Named ``hurs``; attrs follow that indicator. Temperatures in other units (``degC``,
    ``degF``) are converted to kelvin first (:func:`~ocr_assets.science.units.convert_units`).
    """
    for da, what in ((t2, "temperature"), (td2, "dew point")):
        require_float(da, what)
    t2 = convert_units(t2, "K", "temperature")
    td2 = convert_units(td2, "K", "dew point")
    hurs = 100 * _saturation_vapour_pressure_pa(td2) / _saturation_vapour_pressure_pa(t2)
    hurs = hurs.where((hurs <= 100) & (hurs >= 0))
    hurs.name = "hurs"
    hurs.attrs = {
        "units": "%",
        "standard_name": "relative_humidity",
        "long_name": 'Relative humidity ("sonntag90" method)',
        "description": "Computed from temperature and dew point temperature through the "
        "saturation vapour pressures (sonntag90 method, reference to water); values outside "
        "[0, 100] masked.",
    }
    return hurs


def rotate_winds_to_earth(
    u10: xr.DataArray, v10: xr.DataArray, sinalpha: xr.DataArray, cosalpha: xr.DataArray
) -> tuple[xr.DataArray, xr.DataArray]:
    """Rotate grid-relative 10 m winds to earth-relative components (WRF convention).

    ``u_earth = U10 cos(alpha) - V10 sin(alpha)``, ``v_earth = V10 cos(alpha) + U10 sin(alpha)``,
    named ``u10_earth``/``v10_earth``. The winds are converted to m s-1 first (any speed unit
    pint knows); SINALPHA and COSALPHA must be dimensionless (``"1"``, ``""``,
    ``"dimensionless"`` or no ``units`` at all, as WRF output has them). The outputs keep the
    attrs of U10 and V10 (``grid_mapping`` included) with ``units: m s-1`` and an earth-relative
    ``long_name``: the constants' attrs never replace or drop them.
    """
    for da, what in ((u10, "U10"), (v10, "V10"), (sinalpha, "SINALPHA"), (cosalpha, "COSALPHA")):
        require_float(da, what)
    u10 = convert_units(u10, "m s-1", "grid-relative eastward wind")
    v10 = convert_units(v10, "m s-1", "grid-relative northward wind")
    sinalpha = convert_units(sinalpha, "1", "sine of the grid rotation", missing="1")
    cosalpha = convert_units(cosalpha, "1", "cosine of the grid rotation", missing="1")
    earth_u = u10 * cosalpha - v10 * sinalpha
    earth_v = v10 * cosalpha + u10 * sinalpha
    for earth, grid, direction in ((earth_u, u10, "eastward"), (earth_v, v10, "northward")):
        earth.attrs = {k: v for k, v in grid.attrs.items() if k != "description"}
        earth.attrs["long_name"] = f"10 m {direction} wind (earth-relative)"
    earth_u.name = "u10_earth"
    earth_v.name = "v10_earth"
    return earth_u, earth_v


def wind_speed_and_direction(u: xr.DataArray, v: xr.DataArray) -> tuple[xr.DataArray, xr.DataArray]:
    """Wind speed (m s-1) and the direction it blows FROM (degrees), the meteorological way.

    ``u`` and ``v`` may be in any speed unit pint knows (converted to m s-1 first).

    Speed is ``hypot(u, v)``. Direction is ``(270 - degrees(atan2(v, u))) mod 360``; values that
    round to 0 become 360 (northerly winds are 360, not 0), and winds slower than 0.5 m/s get
    direction 0 (calm). So directions are 0 for calm, otherwise in [0.5, 360]. Computed in the
    input's dtype, exactly as xclim's ``wind_speed_from_vector`` (the published call).
    """
    for da, what in ((u, "eastward wind"), (v, "northward wind")):
        require_float(da, what)
    u = convert_units(u, "m s-1", "eastward wind")
    v = convert_units(v, "m s-1", "northward wind")
    speed = np.hypot(u, v)
    speed.name = "sfcWind"
    speed.attrs = {
        "units": "m s-1",
        "standard_name": "wind_speed",
        "long_name": "Near-surface wind speed",
    }
    math_angle = np.degrees(np.arctan2(v, u))
    direction = (270 - math_angle) % 360.0
    direction = xr.where(direction.round() == 0, 360, direction)
    direction = xr.where(speed < CALM_WIND_M_S, 0, direction)
    direction.name = "sfcWindfromdir"
    direction.attrs = {
        "units": "degree",
        "standard_name": "wind_from_direction",
        "long_name": "Near-surface wind from direction",
        "description": f"0 for winds slower than {CALM_WIND_M_S} m/s (calm); northerly is 360",
    }
    return speed, direction


def _check_conus404(ds: xr.Dataset) -> None:
    missing = [v for v in (*_WEATHER_VARIABLES, *_ROTATION_VARIABLES) if v not in ds.data_vars]
    if missing:
        raise ValueError(
            f"CONUS404 dataset is missing variable(s) {missing}; found {sorted(ds.data_vars)}"
        )
    for name in _WEATHER_VARIABLES:
        if tuple(ds[name].dims) != ("time", "y", "x"):
            raise ValueError(
                f"CONUS404 variable {name!r}: expected dims ('time', 'y', 'x'), "
                f"got {tuple(ds[name].dims)}"
            )
    for name in _ROTATION_VARIABLES:
        if tuple(ds[name].dims) != ("y", "x"):
            raise ValueError(
                f"CONUS404 variable {name!r}: expected dims ('y', 'x'), got {tuple(ds[name].dims)}"
            )


def _whole_time_chunks(ds: xr.Dataset, block_bytes: int) -> xr.Dataset:
    """Rechunk to whole time series in square-ish pixel blocks of about ``block_bytes`` each."""
    itemsize = max(ds[name].dtype.itemsize for name in _WEATHER_VARIABLES)
    pixels = max(1, block_bytes // (ds.sizes["time"] * itemsize))
    by = min(ds.sizes["y"], max(1, math.isqrt(pixels)))
    bx = min(ds.sizes["x"], max(1, pixels // by))
    return ds.chunk({"time": -1, "y": by, "x": bx})


def fire_weather_wind_distribution(
    ds: xr.Dataset, quantile: float = 0.99, *, block_bytes: int = BLOCK_BYTES
) -> xr.DataArray:
    """The wind-direction distribution of fire-weather hours, from raw CONUS404 variables.

    ``ds`` holds T2, TD2 (K), U10, V10 (m s-1) with dims ``(time, y, x)`` and SINALPHA, COSALPHA
    ``(y, x)``; other variables and coordinates (PSFC, Q2, lat, lon, crs) may be present and are
    ignored (coordinates are carried to the output). Chain: relative humidity, rotation to
    earth-relative winds, speed and direction, FFWI, the strict mask ``FFWI > p99`` (per-pixel
    linear quantile over the whole record, NaN-skipping), 8-class histogram of the masked hours.

    Returns float32 ``(y, x, wind_direction)`` named ``wind_direction_distribution``, labelled
    N, NE, E, SE, S, SW, W, NW: the fraction of fire-weather hours per direction, all zeros where
    a pixel has none.

    Lazy when ``ds`` is dask-backed: the result is one task chain per pixel block, so a dask
    cluster spreads the work. Blocks must hold whole time series; when ``time`` is split, the
    dataset is rechunked to whole series in pixel blocks of about ``block_bytes`` per variable
    (the full 1979-2022 record is ~1.5 MB per float32 pixel, so ~85 pixels per block; the
    chain holds about ten such intermediates per block in flight).
    """
    _check_conus404(ds)
    if ds.chunks and len(ds.chunks.get("time", ())) > 1:
        ds = _whole_time_chunks(ds, block_bytes)
    hurs = relative_humidity_from_dewpoint(ds["T2"], ds["TD2"])
    u, v = rotate_winds_to_earth(ds["U10"], ds["V10"], ds["SINALPHA"], ds["COSALPHA"])
    speed, direction = wind_speed_and_direction(u, v)
    ffwi = fosberg_fire_weather_index(hurs, ds["T2"], speed)
    mask = fire_weather_mask(ffwi, dim="time", quantile=quantile)
    distribution = wind_direction_distribution(direction, mask, dim="time")
    return distribution.transpose("y", "x", "wind_direction")
