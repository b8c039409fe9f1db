"""FFWI, wind-direction classes and distribution, risk scores."""

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


def arr(values: object, units: str, dtype: type = np.float64) -> xr.DataArray:
    a = np.asarray(values, dtype)
    return xr.DataArray(a, dims=("time",)[: a.ndim], attrs={"units": units})


def ffwi_of(h: object, t_k: object, u: object, dtype: type = np.float64) -> xr.DataArray:
    return fosberg_fire_weather_index(
        arr(h, "%", dtype), arr(t_k, "K", dtype), arr(u, "m s-1", dtype)
    )


@pytest.mark.parametrize("h", [0.0, 5.0, 9.999, 10.0, 30.0, 49.9, 50.0, 75.0, 100.0])
def test_ffwi_matches_the_formula_on_every_branch(h: float) -> None:
    np.testing.assert_allclose(ffwi_of(h, 305.0, 7.0), ffwi_by_hand(h, 305.0, 7.0), rtol=1e-12)


def test_ffwi_is_float32_for_float32_inputs_with_the_published_attrs() -> None:
    out = ffwi_of([5.0, 30.0, 80.0], [290.0, 300.0, 310.0], [1.0, 4.0, 9.0], np.float32)
    assert out.dtype == np.float32 and out.name == "FFWI"
    assert out.attrs == {"long_name": "Fosberg Fire Weather Index", "units": "dimensionless"}
    expected = [ffwi_by_hand(h, t, u) for h, t, u in ((5, 290, 1), (30, 300, 4), (80, 310, 9))]
    np.testing.assert_allclose(out, expected, rtol=1e-5)


# (RH %, T K, wind m/s) -> FFWI, float32 bits of the published function (pint conversion to
# degrees F, xr.where branches, all in float32) measured with pint 0.25 / xclim 0.58.1. A float64
# evaluation cast to float32 at the end differs on 69% of random inputs (up to 3e-6 relative),
# enough to move hours across the strict p99 threshold.
PUBLISHED_FFWI = [
    (62.50954818725586, 272.73687744140625, 12.22425365447998, 5.039472579956055),
    (89.72138214111328, 287.09228515625, 3.5116705894470215, 0.6193793416023254),
    (77.56856536865234, 311.8187255859375, 8.101489067077637, 2.7197206020355225),
    (30.01662826538086, 291.01849365234375, 4.94807767868042, 3.2907228469848633),
]


def test_ffwi_reproduces_the_published_float32_bits() -> None:
    h, t, u, expected = (np.array(column) for column in zip(*PUBLISHED_FFWI, strict=True))
    out = ffwi_of(h, t, u, np.float32)
    assert out.values.tolist() == expected.astype(np.float32).tolist()


def test_ffwi_invalid_humidity_is_nan() -> None:
    out = ffwi_of([-0.1, 100.1, np.nan, 20.0], 300.0, 3.0)
    assert out.dims == ("time",)
    assert np.isnan(out.values[:3]).all() and np.isfinite(out.values[3])


@pytest.mark.parametrize(
    ("h", "t", "u"),
    [
        ((0.2, "1"), (290.0, "K"), (3.0, "m s-1")),  # humidity as a fraction
        ((0.2, ""), (290.0, "K"), (3.0, "m s-1")),
        ((20.0, "percent"), (16.85, "degC"), (3.0, "m/s")),
        ((20.0, "%"), (62.33, "degF"), (10.8, "km/h")),
        ((20.0, "%"), (290.0, "K"), (3.0 / 0.44704, "mph")),
    ],
)
def test_ffwi_converts_the_published_units(
    h: tuple[float, str], t: tuple[float, str], u: tuple[float, str]
) -> None:
    out = fosberg_fire_weather_index(arr(*h), arr(*t), arr(*u))
    np.testing.assert_allclose(out, ffwi_by_hand(20.0, 290.0, 3.0), rtol=1e-6)


def test_ffwi_float32_in_other_units_stays_float32() -> None:
    out = fosberg_fire_weather_index(
        arr(0.2, "1", np.float32), arr(16.85, "degC", np.float32), arr(10.8, "km/h", np.float32)
    )
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, ffwi_by_hand(20.0, 290.0, 3.0), rtol=1e-5)


@pytest.mark.parametrize(
    ("units", "bad"),
    [
        (("%", "m", "m s-1"), r"temperature \(None\): units 'm' cannot be converted to K"),
        (("K", "K", "m s-1"), r"relative humidity \(None\): units 'K' cannot be converted to %"),
        (("%", "K", "kg"), r"wind speed \(None\): units 'kg' cannot be converted to m s-1"),
    ],
)
def test_ffwi_refuses_units_it_cannot_convert(units: tuple[str, str, str], bad: str) -> None:
    h, t, u = units
    with pytest.raises(ValueError, match=bad):
        fosberg_fire_weather_index(arr(20.0, h), arr(290.0, t), arr(3.0, u))


def test_wind_is_used_in_metres_per_second_not_mph() -> None:
    # the published code converts the wind to m/s and uses it as is: 10 m/s -> sqrt(1 + 100)
    ratio = ffwi_of(20.0, 300.0, 10.0) / ffwi_of(20.0, 300.0, 0.0)
    np.testing.assert_allclose(ratio, np.sqrt(101.0), rtol=1e-12)


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
    out = classify_wind_direction(xr.DataArray([degrees], dims="time"))
    assert out.dtype == np.float32 and out.values[0] == cls


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
    ffwi[:, 1, 1] = 1.0  # a constant FFWI: no hour is strictly above its p99
    d, f = cube(direction, ffwi)
    mask = fire_weather_mask(f, dim="time")
    assert int(mask[:, 0, 0].sum()) == 2  # p99 of 200 distinct values: the top 2 hours
    assert int(mask[:, 1, 1].sum()) == 0
    dist = wind_direction_distribution(d, mask, dim="time")
    assert dist.dims == ("y", "x", "wind_direction")
    assert list(dist["wind_direction"].values) == list(DIRECTIONS)
    assert dist.dtype == np.float32
    assert dist.attrs["units"] == "probability"
    np.testing.assert_allclose(dist.sum("wind_direction")[:, 0], 1.0, atol=1e-6)
    assert (dist.values[1, 1] == 0).all()
    top = np.argsort(ffwi[:, 0, 0])[-2:]
    classes = classify_wind_direction(d[top, 0, 0]).values.astype(int)
    np.testing.assert_allclose(dist.values[0, 0], np.bincount(classes, minlength=8) / 2)


def test_mask_is_strict_at_the_quantile() -> None:
    # 101 values 0..100: p99 is exactly 99, so only the hour at 100 is fire weather
    f = xr.DataArray(np.arange(101.0), dims="time")
    mask = fire_weather_mask(f)
    assert mask.values.nonzero()[0].tolist() == [100]


def test_calm_hours_count_as_north() -> None:
    d, _ = cube(np.zeros((4, 1, 1)), np.zeros((4, 1, 1)))
    mask = xr.ones_like(d, dtype=bool)
    assert wind_direction_distribution(d, mask).values[0, 0].tolist() == [1.0] + [0.0] * 7


def test_directions_are_classified_in_the_input_dtype() -> None:
    # float32 -22.500002 mod 360 rounds to 337.5 (N), as the published code gives;
    # the same number in float64 is 337.4999981 (NW)
    value = np.float32(-22.500002)
    as32 = classify_wind_direction(xr.DataArray(np.array([value]), dims="time"))
    as64 = classify_wind_direction(xr.DataArray(np.array([value], np.float64), dims="time"))
    assert (as32.values[0], as64.values[0]) == (0.0, 7.0)


def test_infinite_directions_get_class_8_and_are_refused_in_fire_weather_hours() -> None:
    out = classify_wind_direction(xr.DataArray([np.inf, -np.inf, np.nan, 10.0], dims="time"))
    assert out.values[:2].tolist() == [8.0, 8.0]
    assert np.isnan(out.values[2]) and out.values[3] == 0.0
    d, _ = cube(np.array([np.inf, 90.0]).reshape(2, 1, 1), np.zeros((2, 1, 1)))
    only_second = xr.DataArray(np.array([False, True]).reshape(2, 1, 1), dims=d.dims)
    assert wind_direction_distribution(d, only_second).values[0, 0, 2] == 1.0
    with pytest.raises(ValueError, match="inf"):
        wind_direction_distribution(d, xr.ones_like(d, dtype=bool))


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
