"""Fire-weather wind statistics from CONUS404 (SCIENCE.md, "Wind-direction distribution")."""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import xarray as xr

from .kernels import DIRECTIONS

ArrayLike = TypeVar("ArrayLike", np.ndarray, xr.DataArray)

DIRECTION_DIM = "wind_direction"
_BIN_EDGES = np.arange(22.5, 360.0, 45.0)  # 22.5, 67.5, ..., 337.5


def fosberg_fire_weather_index(
    relative_humidity: ArrayLike, temperature: ArrayLike, wind_speed: ArrayLike
) -> ArrayLike:
    """Fosberg Fire Weather Index per SCIENCE.md.

    Inputs: relative humidity in %, temperature in kelvin (converted to degrees F), wind speed in
    m/s. The published code converts the wind to m/s, not mph, before use: reproduced. Humidity
    outside [0, 100] (or NaN) gives NaN.
    """
    is_xr = isinstance(relative_humidity, xr.DataArray)
    h = np.asarray(relative_humidity, dtype=np.float64)
    t = (np.asarray(temperature, dtype=np.float64) - 273.15) * 9.0 / 5.0 + 32.0
    u = np.asarray(wind_speed, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        m = np.select(
            [(h >= 0) & (h < 10), (h >= 10) & (h < 50), (h >= 50) & (h <= 100)],
            [
                0.03229 + 0.281073 * h - 0.000578 * h * t,
                2.22749 + 0.160107 * h - 0.01478 * t,
                21.0606 + 0.005565 * h**2 - 0.00035 * h * t - 0.483199 * h,
            ],
            default=np.nan,
        )
        r = m / 30.0
        eta = 1.0 - 2.0 * r + 1.5 * r**2 - 0.5 * r**3
        ffwi = (eta * np.sqrt(1.0 + u**2)).astype(np.float32)
    if is_xr:
        out = xr.DataArray(
            ffwi, dims=relative_humidity.dims, coords=relative_humidity.coords, name="FFWI"
        )
        out.attrs = {"long_name": "Fosberg Fire Weather Index", "units": "1"}
        return out
    return ffwi


def classify_wind_direction(direction: ArrayLike) -> ArrayLike:
    """Classify directions (degrees the wind blows from) into classes 0..7 = N..NW (float32).

    Bins are 45 degrees wide centred on N, NE, ...; N is [337.5, 360) and [0, 22.5); values are
    taken modulo 360 (so -10 and 725 are N); NaN stays NaN.
    """
    values = np.asarray(direction, dtype=np.float64)
    normalised = np.mod(values, 360.0)
    classes = np.digitize(normalised, _BIN_EDGES).astype(np.float32)
    classes[classes == len(_BIN_EDGES)] = 0.0  # [337.5, 360) wraps to N
    classes[np.isnan(values)] = np.nan
    if isinstance(direction, xr.DataArray):
        out = xr.DataArray(classes, dims=direction.dims, coords=direction.coords)
        out.name = "wind_direction_class"
        out.attrs = {
            "long_name": "wind direction class",
            "direction_labels": list(DIRECTIONS),
        }
        return out
    return classes


def fire_weather_mask(
    ffwi: xr.DataArray, dim: str = "time", quantile: float = 0.99
) -> xr.DataArray:
    """Boolean mask of fire-weather hours: FFWI at or above each pixel's ``quantile`` over ``dim``."""
    if dim not in ffwi.dims:
        raise ValueError(f"fire_weather_mask: dimension {dim!r} not in {tuple(ffwi.dims)}")
    if not 0.0 < quantile < 1.0:
        raise ValueError(f"fire_weather_mask: quantile must be in (0, 1), got {quantile!r}")
    threshold = ffwi.quantile(quantile, dim=dim, skipna=True).drop_vars("quantile")
    mask = ffwi >= threshold
    mask.name = "fire_weather"
    mask.attrs = {"long_name": f"FFWI >= p{quantile * 100:g} over {dim}"}
    return mask


def wind_direction_distribution(
    direction: xr.DataArray, fire_weather_mask: xr.DataArray, dim: str = "time"
) -> xr.DataArray:
    """Fraction of fire-weather hours in each of the 8 direction classes.

    Output dims ``(..., wind_direction)`` labelled N..NW, float32; all zeros where a pixel has no
    fire-weather hours (hours with a NaN direction do not count).
    """
    if dim not in direction.dims:
        raise ValueError(f"wind_direction_distribution: dimension {dim!r} not in {direction.dims}")
    mask = fire_weather_mask.broadcast_like(direction).transpose(*direction.dims)
    classes = classify_wind_direction(direction)
    counts = [((classes == k) & mask).sum(dim=dim, dtype=np.int64) for k in range(len(DIRECTIONS))]
    stacked = xr.concat(counts, dim=DIRECTION_DIM).transpose(..., DIRECTION_DIM)
    total = stacked.sum(dim=DIRECTION_DIM)
    fractions = (stacked / total.where(total > 0)).fillna(0.0).astype(np.float32)
    fractions = fractions.assign_coords({DIRECTION_DIM: list(DIRECTIONS)})
    fractions.name = "wind_direction_distribution"
    fractions.attrs = {
        "long_name": "wind direction distribution during fire-weather hours",
        "units": "1",
        "description": "fraction of fire-weather hours with wind from each of 8 directions; "
        "all zero where a pixel has no fire-weather hours",
    }
    return fractions
