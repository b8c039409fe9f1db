"""Unit strings of the stores read with pint, and conversions that keep dtype and laziness."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import xarray as xr

from ocr_assets.science.units import convert_units, parse_units


@pytest.mark.parametrize(
    ("text", "same_as"),
    [
        ("m s-1", "meter / second"),
        ("m.s-1", "meter / second"),
        ("m s^-1", "meter / second"),
        ("m s**-1", "meter / second"),
        ("m2 s-2", "meter ** 2 / second ** 2"),
        ("kg kg-1", "dimensionless"),
        ("g kg-1", "gram / kilogram"),
        ("1", "dimensionless"),
        ("", "dimensionless"),
        (" dimensionless ", "dimensionless"),
        ("%", "percent"),
        ("K", "kelvin"),
        ("Kelvin", "kelvin"),
        ("Pa", "pascal"),
        ("hPa", "hectopascal"),
        ("knots", "knot"),
    ],
)
def test_cf_and_wrf_unit_strings_are_read(text: str, same_as: str) -> None:
    assert parse_units(text) == parse_units(same_as)


def test_an_unknown_unit_is_named() -> None:
    with pytest.raises(
        ValueError, match=r"'m sx-1' is not a unit pint knows \(read as 'm sx\*\*-1'\)"
    ):
        parse_units("m sx-1")


@pytest.mark.parametrize(
    ("values", "units", "target", "expected"),
    [
        ([36.0, 7.2], "km/h", "m s-1", [10.0, 2.0]),
        ([1.0], "knot", "m s-1", [0.514444]),
        ([20.0, -40.0], "degC", "K", [293.15, 233.15]),
        ([-40.0, 212.0], "degF", "K", [233.15, 373.15]),
        ([0.25, 1.0], "1", "%", [25.0, 100.0]),
        ([1013.25], "hPa", "Pa", [101325.0]),
        ([8.0], "g kg-1", "kg kg-1", [0.008]),
    ],
)
def test_conversions_keep_float32(
    values: list[float], units: str, target: str, expected: list[float]
) -> None:
    source = xr.DataArray(np.float32(values), dims="t", name="X", attrs={"units": units})
    out = convert_units(source, target, "something")
    assert out.dtype == np.float32 and out.attrs["units"] == target
    np.testing.assert_allclose(out.values, expected, rtol=1e-6)


def test_a_dask_array_stays_lazy_and_other_attrs_are_kept() -> None:
    source = xr.DataArray(
        da.from_array(np.float32([36.0, 72.0]), chunks=1),
        dims="t",
        name="U10",
        attrs={"units": "km/h", "grid_mapping": "crs"},
    )
    out = convert_units(source, "m s-1", "eastward wind")
    assert out.chunks == ((1, 1),)
    assert out.attrs == {"units": "m s-1", "grid_mapping": "crs"}
    np.testing.assert_array_equal(out.values, np.float32([10.0, 20.0]))


def test_the_target_unit_in_another_spelling_is_untouched() -> None:
    values = np.float32([1.1, 2.2])
    out = convert_units(
        xr.DataArray(values, dims="t", attrs={"units": "m/s"}), "m s-1", "eastward wind"
    )
    assert out.values.tobytes() == values.tobytes() and out.attrs["units"] == "m s-1"


def test_missing_units_are_refused_unless_a_default_is_given() -> None:
    bare = xr.DataArray(np.float32([0.5]), dims="t", name="SINALPHA")
    assert convert_units(bare, "1", "sine", missing="1").attrs["units"] == "1"
    with pytest.raises(ValueError, match=r"sine \('SINALPHA'\): no 'units' attribute"):
        convert_units(bare, "1", "sine")
