"""FFWI, wind-direction classes and distribution, risk scores (SCIENCE.md)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from ocr_assets.science import (
    DIRECTIONS,
    classify_wind_direction,
    fire_weather_mask,
    fosberg_fire_weather_index,
    risk_score,
    score_histogram,
    wind_direction_distribution,
)


def ffwi_by_hand(h: float, t_k: float, u: float) -> float:
    t = (t_k - 273.15) * 1.8 + 32
    if 0 <= h < 10:
        m = 0.03229 + 0.281073 * h - 0.000578 * h * t
    elif 10 <= h < 50:
        m = 2.22749 + 0.160107 * h - 0.01478 * t
    else:
        m = 21.0606 + 0.005565 * h**2 - 0.00035 * h * t - 0.483199 * h
    eta = 1 - 2 * (m / 30) + 1.5 * (m / 30) ** 2 - 0.5 * (m / 30) ** 3
    return eta * np.sqrt(1 + u**2)


@pytest.mark.parametrize("h", [0.0, 5.0, 9.999, 10.0, 30.0, 49.9, 50.0, 75.0, 100.0])
def test_ffwi_matches_the_formula_on_every_branch(h: float) -> None:
    got = fosberg_fire_weather_index(np.array([h]), np.array([305.0]), np.array([7.0]))
    np.testing.assert_allclose(got, [ffwi_by_hand(h, 305.0, 7.0)], rtol=1e-6)


def test_ffwi_invalid_humidity_is_nan_and_dataarrays_work() -> None:
    rh = xr.DataArray([-0.1, 100.1, np.nan, 20.0], dims="time")
    out = fosberg_fire_weather_index(rh, rh * 0 + 300.0, rh * 0 + 3.0)
    assert isinstance(out, xr.DataArray) and out.dims == ("time",)
    assert np.isnan(out.values[:3]).all() and np.isfinite(out.values[3])


def test_wind_is_used_in_metres_per_second_not_mph() -> None:
    # the published code converts the wind to m/s and uses it as is: 10 m/s -> sqrt(1 + 100)
    a = fosberg_fire_weather_index(np.array([20.0]), np.array([300.0]), np.array([10.0]))
    b = fosberg_fire_weather_index(np.array([20.0]), np.array([300.0]), np.array([0.0]))
    np.testing.assert_allclose(a / b, np.sqrt(101.0), rtol=1e-6)


@pytest.mark.parametrize(
    ("degrees", "cls"),
    [
        (0, 0),
        (22.4999, 0),
        (22.5, 1),
        (67.5, 2),
        (112.5, 3),
        (157.5, 4),
        (202.5, 5),
        (247.5, 6),
        (292.5, 7),
        (337.4999, 7),
        (337.5, 0),
        (359.99, 0),
        (360, 0),
        (-10, 0),
        (725, 0),
        (-22.5, 0),
        (-22.6, 7),
    ],
)
def test_direction_class_edges(degrees: float, cls: int) -> None:
    out = classify_wind_direction(np.array([degrees], dtype=np.float64))
    assert out.dtype == np.float32 and out[0] == cls


def test_direction_nan_is_kept() -> None:
    out = classify_wind_direction(xr.DataArray([np.nan, 90.0], dims="time"))
    assert np.isnan(out.values[0]) and out.values[1] == 2


def cube(direction: np.ndarray, ffwi: np.ndarray) -> tuple[xr.DataArray, xr.DataArray]:
    dims = ("time", "y", "x")
    return xr.DataArray(direction, dims=dims), xr.DataArray(ffwi, dims=dims)


def test_distribution_counts_fire_weather_hours_per_direction() -> None:
    t = 200
    rng = np.random.default_rng(1)
    ffwi = rng.random((t, 2, 2))
    direction = rng.uniform(0, 360, (t, 2, 2))
    ffwi[:, 1, 1] = 1.0  # a constant FFWI: every hour is at or above its p99
    direction[:, 1, 1] = 90.0
    d, f = cube(direction, ffwi)
    mask = fire_weather_mask(f, dim="time")
    assert int(mask[:, 0, 0].sum()) == 2  # p99 of 200 distinct values: the top 2 hours
    dist = wind_direction_distribution(d, mask, dim="time")
    assert dist.dims == ("y", "x", "wind_direction")
    assert list(dist["wind_direction"].values) == list(DIRECTIONS)
    assert dist.dtype == np.float32
    np.testing.assert_allclose(dist.sum("wind_direction"), 1.0, atol=1e-6)
    assert float(dist.sel(wind_direction="E")[1, 1]) == 1.0
    top = np.argsort(ffwi[:, 0, 0])[-2:]
    expected = np.bincount(classify_wind_direction(direction[top, 0, 0]).astype(int), minlength=8)
    np.testing.assert_allclose(dist.values[0, 0], expected / 2)


def test_distribution_is_zero_without_fire_weather_hours() -> None:
    d, f = cube(np.full((10, 1, 1), 45.0), np.ones((10, 1, 1)))
    mask = xr.zeros_like(f, dtype=bool)
    dist = wind_direction_distribution(d, mask)
    assert (dist.values == 0).all()
    d_nan, _ = cube(np.full((10, 1, 1), np.nan), np.ones((10, 1, 1)))
    assert (wind_direction_distribution(d_nan, ~mask).values == 0).all()


def test_fire_weather_mask_rejects_bad_arguments() -> None:
    f = xr.DataArray(np.ones((3, 2)), dims=("time", "x"))
    with pytest.raises(ValueError, match="'hour'"):
        fire_weather_mask(f, dim="hour")
    with pytest.raises(ValueError, match="quantile"):
        fire_weather_mask(f, quantile=1.5)


@pytest.mark.parametrize(
    ("rps", "score"),
    [
        (0.0, 0),
        (1e-9, 1),
        (0.0099, 1),
        (0.01, 2),
        (0.0199, 2),
        (0.02, 3),
        (0.035, 4),
        (0.06, 5),
        (0.1, 6),
        (0.2, 7),
        (0.5, 8),
        (1.0, 9),
        (2.99, 9),
        (3.0, 10),
        (100.0, 10),
    ],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_score_edges_at_the_input_precision(rps: float, score: int, dtype: type) -> None:
    assert risk_score(np.array([rps], dtype=dtype))[0] == score


def test_float32_edges_are_compared_in_float32() -> None:
    # float32(0.01) < 0.01 and float32(0.06) < 0.06 in float64; they still score 2 and 5
    assert np.float64(np.float32(0.01)) < 0.01
    assert list(risk_score(np.array([0.01, 0.06], np.float32))) == [2, 5]


def test_scores_nan_and_out_of_range() -> None:
    assert risk_score(np.array([np.nan]))[0] == -1
    with pytest.raises(ValueError, match="outside"):
        risk_score(np.array([100.5]))
    with pytest.raises(ValueError, match="outside"):
        risk_score(np.array([-0.1]))
    hist = score_histogram(np.array([0, 0, 0.005, 50, np.nan], np.float32))
    assert hist.tolist() == [2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1]
