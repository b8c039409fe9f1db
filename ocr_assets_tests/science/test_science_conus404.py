"""The CONUS404 chain: humidity, wind rotation, speed/direction, and the wind distribution."""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np
import pytest
import xarray as xr

from ocr_assets.science import (
    DIRECTIONS,
    fire_weather_wind_distribution,
    relative_humidity_from_dewpoint,
    rotate_winds_to_earth,
    wind_speed_and_direction,
)


def kelvin(values: object) -> xr.DataArray:
    return xr.DataArray(np.asarray(values, np.float32), dims="time", attrs={"units": "K"})


def wind(values: object) -> xr.DataArray:
    return xr.DataArray(np.asarray(values, np.float32), dims="time", attrs={"units": "m s-1"})


def test_humidity_worked_example_matches_the_published_float32_values() -> None:
    t = kelvin([283.15, 285.15, 287.15])
    hurs = relative_humidity_from_dewpoint(t, kelvin(t.values - 1))
    assert hurs.name == "hurs" and hurs.dtype == np.float32
    np.testing.assert_allclose(hurs.values, [93.494, 93.593, 93.690], atol=1e-3)
    # exact float32 results of xclim 0.58.1's indicator (the published call) on these inputs
    assert hurs.values.tolist() == np.float32([93.493454, 93.593, 93.690346]).tolist()
    assert hurs.attrs["units"] == "%"
    assert hurs.attrs["standard_name"] == "relative_humidity"
    assert hurs.attrs["long_name"] == 'Relative humidity ("sonntag90" method)'


def sonntag90_pa(t: np.ndarray) -> np.ndarray:
    return 100 * np.exp(
        -6096.9385 / t + 16.635794 - 2.711193e-2 * t + 1.673952e-5 * t**2 + 2.433502 * np.log(t)
    )


def test_humidity_follows_sonntag90_over_water_and_masks_values_above_100() -> None:
    t = np.linspace(235.0, 315.0, 41)
    td = t - np.linspace(-2.0, 30.0, 41)  # the first hours have a dew point above temperature
    hurs = relative_humidity_from_dewpoint(kelvin(t), kelvin(td)).values
    expected = 100 * sonntag90_pa(td) / sonntag90_pa(t)
    valid = expected <= 100
    assert (~valid).sum() >= 2  # the case is exercised
    np.testing.assert_allclose(hurs[valid], expected[valid], rtol=2e-5)
    assert np.isnan(hurs[~valid]).all()


@pytest.mark.parametrize(
    ("units", "offset", "scale"), [("degC", 273.15, 1.0), ("degF", 459.67, 5 / 9), ("Kelvin", 0, 1)]
)
def test_humidity_converts_temperatures_to_kelvin(units: str, offset: float, scale: float) -> None:
    t_k, td_k = np.float32([283.15, 300.0]), np.float32([282.15, 280.0])
    expected = relative_humidity_from_dewpoint(kelvin(t_k), kelvin(td_k))

    def other(values: np.ndarray) -> xr.DataArray:
        return kelvin(values / scale - offset).assign_attrs(units=units)

    hurs = relative_humidity_from_dewpoint(other(t_k), other(td_k))
    assert hurs.dtype == np.float32
    np.testing.assert_allclose(hurs.values, expected.values, rtol=1e-4)


@pytest.mark.parametrize(
    ("units", "expected"),
    [
        ("m", r"temperature \(None\): units 'm' cannot be converted to K"),
        ("kelvinz", r"units 'kelvinz' cannot be converted to K \('kelvinz' is not a unit"),
        (None, r"temperature \(None\): no 'units' attribute, expected units convertible to K"),
    ],
)
def test_humidity_refuses_temperatures_it_cannot_convert(units: str | None, expected: str) -> None:
    t = kelvin([290.0])
    bad = t.copy()
    bad.attrs = {} if units is None else {"units": units}
    with pytest.raises(ValueError, match=expected):
        relative_humidity_from_dewpoint(bad, t)


def test_rotation_is_the_identity_for_zero_angle_and_rotates_by_alpha() -> None:
    u, v = wind([1.0]), wind([2.0])
    eu, ev = rotate_winds_to_earth(u, v, xr.DataArray(0.0), xr.DataArray(1.0))
    assert (eu.name, ev.name) == ("u10_earth", "v10_earth")
    assert float(eu[0]) == 1.0 and float(ev[0]) == 2.0
    assert eu.attrs["units"] == "m s-1"
    alpha = np.deg2rad(30.0)
    eu, ev = rotate_winds_to_earth(
        u, v, xr.DataArray(np.float32(np.sin(alpha))), xr.DataArray(np.float32(np.cos(alpha)))
    )
    np.testing.assert_allclose(
        [float(eu[0]), float(ev[0])],
        [np.cos(alpha) - 2 * np.sin(alpha), 2 * np.cos(alpha) + np.sin(alpha)],
        rtol=1e-6,
    )


def from_direction(degrees: float, speed: float) -> tuple[float, float]:
    """(u, v) of a wind blowing FROM ``degrees`` at ``speed``."""
    rad = np.deg2rad(degrees)
    return -speed * np.sin(rad), -speed * np.cos(rad)


def test_speed_and_from_direction_with_the_calm_and_north_rules() -> None:
    north_ish = from_direction(0.3, 5.0)  # rounds to 0 -> reported as 360
    u = wind([3.0, 0.0, -4.0, 0.3, north_ish[0], 0.0])
    v = wind([4.0, -5.0, 0.0, 0.1, north_ish[1], 7.0])
    speed, direction = wind_speed_and_direction(u, v)
    assert (speed.name, direction.name) == ("sfcWind", "sfcWindfromdir")
    assert speed.dtype == np.float32 and direction.dtype == np.float32
    assert (speed.attrs["units"], direction.attrs["units"]) == ("m s-1", "degree")
    np.testing.assert_allclose(speed.values, np.hypot(u.values, v.values), rtol=1e-7)
    np.testing.assert_allclose(
        direction.values, [216.87, 360.0, 90.0, 0.0, 360.0, 180.0], atol=5e-3
    )
    assert direction.values[3] == 0.0  # calm: 0.32 m/s < 0.5 m/s


@pytest.mark.parametrize(
    ("units", "per_m_s"),
    [("km/h", 3.6), ("km h-1", 3.6), ("knots", 3600 / 1852), ("mph", 2.236936)],
)
def test_speed_and_direction_convert_wind_units_to_m_s(units: str, per_m_s: float) -> None:
    u_ms, v_ms = np.float32([3.0, -4.0]), np.float32([4.0, 0.0])
    u = wind(u_ms * per_m_s).assign_attrs(units=units)
    v = wind(v_ms * per_m_s).assign_attrs(units=units)
    speed, direction = wind_speed_and_direction(u, v)
    assert speed.dtype == np.float32 and speed.attrs["units"] == "m s-1"
    np.testing.assert_allclose(speed.values, [5.0, 4.0], rtol=1e-5)
    np.testing.assert_allclose(direction.values, [216.87, 90.0], atol=5e-3)


def test_speed_and_direction_refuse_units_that_are_not_a_speed() -> None:
    u = wind([1.0]).rename("U10").assign_attrs(units="kg")
    with pytest.raises(
        ValueError, match=r"eastward wind \('U10'\): units 'kg' cannot be converted to m s-1"
    ):
        wind_speed_and_direction(u, wind([1.0]))


@pytest.mark.parametrize("units", ["1", "", "dimensionless", None])
def test_rotation_with_dimensionless_constants_keeps_the_wind_units(units: str | None) -> None:
    u = wind([1.0]).assign_attrs(long_name="U at 10 M", grid_mapping="crs")
    sin, cos = xr.DataArray(np.float32(0.5)), xr.DataArray(np.float32(np.sqrt(0.75)))
    if units is not None:
        sin.attrs["units"] = cos.attrs["units"] = units
    eu, ev = rotate_winds_to_earth(u, wind([2.0]), sin, cos)
    assert eu.attrs["units"] == ev.attrs["units"] == "m s-1"
    assert eu.attrs["grid_mapping"] == "crs"
    assert eu.attrs["long_name"] == "10 m eastward wind (earth-relative)"
    speed, _ = wind_speed_and_direction(eu, ev)  # the next step accepts them
    np.testing.assert_allclose(speed.values, [np.sqrt(5.0)], rtol=1e-6)


def test_rotation_converts_winds_and_refuses_constants_with_a_dimension() -> None:
    knots = wind([3600 / 1852]).assign_attrs(units="knots")
    eu, _ = rotate_winds_to_earth(knots, knots, xr.DataArray(0.0), xr.DataArray(1.0))
    np.testing.assert_allclose(eu.values, [1.0], rtol=1e-6)
    assert eu.attrs["units"] == "m s-1"
    sin = xr.DataArray(0.0, name="SINALPHA", attrs={"units": "m"})
    with pytest.raises(ValueError, match=r"\('SINALPHA'\): units 'm' cannot be converted to 1"):
        rotate_winds_to_earth(knots, knots, sin, xr.DataArray(1.0))


HOURS = 300  # p99 of 300 distinct values lies between the 3rd and 4th largest: 3 hours exceed it
ALPHA = np.deg2rad(np.array([[20.0, -15.0, 5.0, 0.0], [10.0, 30.0, -25.0, 12.0]]))


def conus404(seed: int = 3) -> tuple[xr.Dataset, np.ndarray]:
    """A CONUS404-like dataset and the expected distribution per pixel.

    Humidity and temperature are constant per pixel, so FFWI grows with wind speed and the
    fire-weather hours are the 3 windiest; their earth-relative "from" directions are chosen.
    Pixel (0, 3) has a constant wind (constant FFWI: no hour is strictly above its p99) and
    pixel (1, 3) has its 3 windiest hours with a dew point above temperature (humidity NaN),
    so its fire-weather hours are the next 3.
    """
    rng = np.random.default_rng(seed)
    ny, nx = ALPHA.shape
    speed = np.empty((HOURS, ny, nx))
    bearing = rng.uniform(0.0, 360.0, (HOURS, ny, nx))
    expected = np.zeros((ny, nx, 8), np.float32)
    picks = {(0, 0): [90, 95, 180], (0, 1): [0, 350, 10], (0, 2): [225, 270, 315]}
    picks |= {(1, 0): [45, 45, 45], (1, 1): [135, 200, 300], (1, 2): [30, 60, 160]}
    picks |= {(1, 3): [250, 250, 20]}
    t2 = np.full((HOURS, ny, nx), 303.0)
    td2 = t2 - 25.0
    for (iy, ix), directions in picks.items():
        speed[:, iy, ix] = rng.permutation(np.linspace(0.6, 9.0, HOURS))
        top = np.argsort(speed[:, iy, ix])[-3:]
        if (iy, ix) == (1, 3):
            td2[top, iy, ix] = t2[top, iy, ix] + 1.0
            top = np.argsort(speed[:, iy, ix])[-6:-3]
        bearing[top, iy, ix] = directions
        classes = [round(d / 45.0) % 8 for d in directions]
        expected[iy, ix] = np.bincount(classes, minlength=8) / 3.0
    speed[:, 0, 3] = 4.0
    bearing[:, 0, 3] = 123.0  # identical hours: FFWI is exactly constant
    earth_u, earth_v = from_direction(bearing, speed)
    sin, cos = np.sin(ALPHA), np.cos(ALPHA)
    # inverse of the WRF rotation: grid-relative components that rotate to the earth winds
    grid_u = earth_u * cos + earth_v * sin
    grid_v = earth_v * cos - earth_u * sin
    f32 = lambda a: a.astype(np.float32)  # noqa: E731
    ds = xr.Dataset(
        {
            "T2": (("time", "y", "x"), f32(t2), {"units": "K"}),
            "TD2": (("time", "y", "x"), f32(td2), {"units": "K"}),
            "U10": (("time", "y", "x"), f32(grid_u), {"units": "m s-1"}),
            "V10": (("time", "y", "x"), f32(grid_v), {"units": "m s-1"}),
            "PSFC": (
                ("time", "y", "x"),
                np.full((HOURS, ny, nx), 9e4, np.float32),
                {"units": "Pa"},
            ),
            "SINALPHA": (("y", "x"), f32(sin)),
            "COSALPHA": (("y", "x"), f32(cos)),
        },
        coords={
            "time": np.arange(HOURS),
            "y": np.arange(ny) * 4000.0,
            "x": np.arange(nx) * 4000.0,
            "lat": (("y", "x"), np.full((ny, nx), 40.0, np.float32)),
            "lon": (("y", "x"), np.full((ny, nx), -110.0, np.float32)),
            "crs": ((), 0, {"crs_wkt": "PROJCS[...]"}),
        },
    )
    return ds, expected


def test_distribution_of_the_windiest_hours_in_earth_relative_directions() -> None:
    ds, expected = conus404()
    dist = fire_weather_wind_distribution(ds)
    assert dist.name == "wind_direction_distribution"
    assert dist.dims == ("y", "x", "wind_direction") and dist.dtype == np.float32
    assert list(dist["wind_direction"].values) == list(DIRECTIONS)
    assert {"lat", "lon", "crs"} <= set(dist.coords)
    assert dist.attrs["units"] == "probability"
    assert dist.attrs["long_name"] == "Wind direction distribution during fire-weather hours"
    np.testing.assert_allclose(dist.values, expected, atol=1e-7)
    assert (dist.values[0, 3] == 0).all()  # constant FFWI: the strict mask selects nothing


def refuse_to_compute(*args: object, **kwargs: object) -> None:
    raise AssertionError("the chain computed something while building the graph")


def test_distribution_is_lazy_on_dask_and_equals_the_eager_result() -> None:
    ds, _ = conus404()
    eager = fire_weather_wind_distribution(ds)
    with dask.config.set(scheduler=refuse_to_compute):
        lazy = fire_weather_wind_distribution(ds.chunk({"time": -1, "y": 1, "x": 2}))
    assert isinstance(lazy.data, da.Array)
    assert lazy.data.chunks == ((1, 1), (2, 2), (8,))  # one task chain per pixel block
    np.testing.assert_array_equal(lazy.compute().values, eager.values)


def test_split_time_is_rechunked_to_whole_series_in_bounded_pixel_blocks() -> None:
    ds, _ = conus404()
    # 300 float32 hours are 1200 bytes a pixel: a 2400-byte budget gives 1 x 2 pixel blocks
    with dask.config.set(scheduler=refuse_to_compute):
        lazy = fire_weather_wind_distribution(ds.chunk({"time": 50}), block_bytes=2400)
    assert lazy.data.chunks == ((1, 1), (2, 2), (8,))
    np.testing.assert_array_equal(lazy.values, fire_weather_wind_distribution(ds).values)


def test_distribution_refuses_a_dataset_without_rotation_constants() -> None:
    ds, _ = conus404()
    with pytest.raises(ValueError, match="SINALPHA"):
        fire_weather_wind_distribution(ds.drop_vars("SINALPHA"))
    with pytest.raises(ValueError, match="'T2'"):
        fire_weather_wind_distribution(ds.assign(T2=ds["T2"].transpose("y", "x", "time")))
