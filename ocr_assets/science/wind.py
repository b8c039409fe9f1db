"""Fire-weather wind statistics: FFWI, the fire-weather mask, direction classes and histogram.

These are steps 4-6 of the CONUS404 chain (see :mod:`ocr_assets.science.conus404`). All work
on xarray objects with xarray operations or ``xr.apply_ufunc(dask="parallelized")``, so
dask-backed inputs stay lazy and are computed per chunk.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ._checks import require_float
from .kernels import DIRECTION_DIM, DIRECTIONS
from .units import convert_units

N_CLASSES = len(DIRECTIONS)
_BIN_EDGES = np.arange(22.5, 360.0, 45.0)  # 22.5, 67.5, ..., 337.5 (8 edges)
_NORTH_FROM = 337.5

# kelvin -> degrees Fahrenheit the way pint converts (the published code uses pint-xarray):
# (T - offset) / scale, evaluated in the input's dtype.
_FAHRENHEIT_OFFSET_K = 233.15 + 200 / 9
_FAHRENHEIT_SCALE = 5 / 9


def _kelvin_to_fahrenheit(temperature: xr.DataArray) -> xr.DataArray:
    temperature = convert_units(temperature, "K", "temperature")
    return (temperature - _FAHRENHEIT_OFFSET_K) / _FAHRENHEIT_SCALE


def fosberg_fire_weather_index(
    hurs: xr.DataArray, t2: xr.DataArray, sfc_wind: xr.DataArray
) -> xr.DataArray:
    """Fosberg Fire Weather Index per hour, as the published code computes it.

    ``hurs`` is relative humidity in %, ``t2`` temperature in kelvin (converted to degrees F),
    ``sfc_wind`` wind speed in m/s. The published code uses the wind in m/s (the standard index
    uses mph) and has no 1/0.3002 normalisation: reproduced. Equilibrium moisture content by
    humidity range [0, 10), [10, 50), [50, 100]; humidity outside [0, 100] or NaN gives NaN.
    Evaluated in the inputs' dtype in the published order (float32 in, float32 out). Like the
    published code, the inputs are converted with pint first: humidity to % (a fraction, units
    ``"1"``, is multiplied by 100), temperature to kelvin (then to degrees F, as above), wind to
    m/s (from km/h, knots, mph, ...); units that cannot be converted are refused, named.
    """
    for da, what in ((hurs, "relative humidity"), (t2, "temperature"), (sfc_wind, "wind speed")):
        require_float(da, what)
    hurs = convert_units(hurs, "%", "relative humidity")
    sfc_wind = convert_units(sfc_wind, "m s-1", "wind speed")
    h = hurs
    t = _kelvin_to_fahrenheit(t2)
    emc = xr.where(
        (h >= 0) & (h < 10),
        0.03229 + 0.281073 * h - 0.000578 * h * t,
        xr.where(
            (h >= 10) & (h < 50),
            2.22749 + 0.160107 * h - 0.01478 * t,
            xr.where(
                (h >= 50) & (h <= 100),
                21.0606 + 0.005565 * h**2 - 0.00035 * h * t - 0.483199 * h,
                np.nan,
            ),
        ),
    )
    eta = 1 - 2 * (emc / 30) + 1.5 * ((emc / 30) ** 2) - 0.5 * ((emc / 30) ** 3)
    ffwi = eta * np.sqrt(1 + sfc_wind**2)
    ffwi.name = "FFWI"
    ffwi.attrs = {"long_name": "Fosberg Fire Weather Index", "units": "dimensionless"}
    return ffwi


def _classify(direction: np.ndarray) -> np.ndarray:
    """Direction classes of a numpy block, in the block's own dtype (see the public function)."""
    values = np.asarray(direction)
    if not np.issubdtype(values.dtype, np.floating):
        values = values.astype(np.float64)
    with np.errstate(invalid="ignore"):  # inf mod 360 is NaN
        normalised = np.remainder(values, 360.0)
    classes = np.digitize(normalised, _BIN_EDGES)
    classes[normalised >= _NORTH_FROM] = 0  # NaN compares False: an infinite direction stays 8
    return np.where(np.isnan(values), np.nan, classes).astype(np.float32)


def classify_wind_direction(direction: xr.DataArray) -> xr.DataArray:
    """Classify directions (degrees the wind blows from) into classes 0..7 = N..NW (float32).

    Bins are 45 degrees wide centred on N, NE, ...: N is [337.5, 360) and [0, 22.5), lower
    bounds inclusive. Values are taken modulo 360 in the input's own dtype, as the published
    code does, so float32 -22.500002 becomes 337.5 and is N (it would be NW in float64). NaN
    stays NaN. An infinite direction gets class 8, as the published function gives (inf mod
    360 is NaN, which no bin holds); the histogram refuses it during fire-weather hours.
    """
    out = xr.apply_ufunc(
        _classify, direction, dask="parallelized", output_dtypes=[np.float32], keep_attrs=False
    )
    out.name = "wind_direction_classification"
    out.attrs = {
        "long_name": "wind direction classified into 8 cardinal directions (0-7)",
        "direction_labels": list(DIRECTIONS),
    }
    return out


def fire_weather_mask(
    ffwi: xr.DataArray, dim: str = "time", quantile: float = 0.99
) -> xr.DataArray:
    """Fire-weather hours: FFWI strictly above each pixel's ``quantile`` over ``dim``.

    The quantile is xarray's (linear interpolation, NaN-skipping) over the whole ``dim``, which
    must be in one chunk for dask input. NaN hours are never fire weather. The comparison is
    strict, as published: a pixel whose FFWI is constant has no fire-weather hours.
    """
    if dim not in ffwi.dims:
        raise ValueError(f"fire_weather_mask: dimension {dim!r} not in {tuple(ffwi.dims)}")
    if not 0.0 < quantile < 1.0:
        raise ValueError(f"fire_weather_mask: quantile must be in (0, 1), got {quantile!r}")
    threshold = ffwi.quantile(quantile, dim=dim).drop_vars("quantile")
    mask = ffwi > threshold
    mask.name = "fire_weather"
    mask.attrs = {"long_name": f"FFWI > p{quantile * 100:g} over {dim}"}
    return mask


def _histogram(direction: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Fractions of masked hours per class along the last axis (a numpy block)."""
    classes = _classify(direction)
    counted = np.asarray(mask, dtype=bool) & (classes >= 0)  # NaN directions do not count
    stray = counted & (classes >= N_CLASSES)
    if stray.any():
        bad = np.asarray(direction)[stray][0]
        raise ValueError(
            f"wind direction {bad!r} during a fire-weather hour has no direction class "
            "(infinite); the published histogram cannot count it either"
        )
    counts = np.stack(
        [np.count_nonzero(counted & (classes == k), axis=-1) for k in range(N_CLASSES)], axis=-1
    )
    total = counts.sum(axis=-1, keepdims=True)
    fractions = counts / np.maximum(total, 1)  # float64, like the published counts / total
    return np.where(total > 0, fractions, 0.0).astype(np.float32)


def wind_direction_distribution(
    direction: xr.DataArray, fire_weather_mask: xr.DataArray, dim: str = "time"
) -> xr.DataArray:
    """Fraction of fire-weather hours in each of the 8 direction classes.

    Output dims ``(..., wind_direction)`` labelled N..NW, float32; all zeros where a pixel has
    no fire-weather hours (hours with a NaN direction do not count). Calm hours (direction 0)
    count as N, as published. Computed block by block (``dim`` must be one chunk for dask).
    """
    if dim not in direction.dims:
        raise ValueError(f"wind_direction_distribution: dimension {dim!r} not in {direction.dims}")
    if dim not in fire_weather_mask.dims:
        raise ValueError(
            f"wind_direction_distribution: mask lacks dimension {dim!r}: {fire_weather_mask.dims}"
        )
    fractions = xr.apply_ufunc(
        _histogram,
        direction,
        fire_weather_mask,
        input_core_dims=[[dim], [dim]],
        output_core_dims=[[DIRECTION_DIM]],
        dask="parallelized",
        output_dtypes=[np.float32],
        dask_gufunc_kwargs={"output_sizes": {DIRECTION_DIM: N_CLASSES}},
        keep_attrs=False,
    )
    fractions = fractions.assign_coords({DIRECTION_DIM: list(DIRECTIONS)})
    fractions.name = "wind_direction_distribution"
    fractions.attrs = {
        "long_name": "Wind direction distribution during fire-weather hours",
        "units": "probability",
        "description": "Fraction of hours in each of 8 cardinal and ordinal directions during "
        "hours meeting fire weather criteria",
    }
    return fractions
