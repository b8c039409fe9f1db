"""Units of the inputs: CF / WRF unit strings read with pint, values converted by pint.

The stores spell units the CF (UDUNITS) way: juxtaposition multiplies (``"m s-1"``,
``"kg kg-1"``, also ``"m.s-1"``), an integer after a unit is its exponent, ``"1"`` (or ``""``)
is dimensionless and ``"%"`` a percentage. :func:`parse_units` rewrites that syntax into pint's
(``"m s**-1"``) and lets pint's registry name the units, so every unit pint knows is accepted
in either syntax (``"km/h"``, ``"knots"``, ``"mph"``, ``"degC"``, ``"degF"``, ``"hPa"``,
``"g kg-1"``, ...). :func:`convert_units` converts an xarray variable block by block with pint,
keeping the dtype, so float32 stays float32 and a dask-backed array stays lazy; a variable
already in the target unit is returned untouched (no arithmetic, bit for bit).

pint and its registry are loaded on first use: they cost about 0.4 CPU s, which every load of
the code location (each ``dagster`` command, each run) would otherwise pay.
"""

from __future__ import annotations

import re
from functools import cache
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

if TYPE_CHECKING:
    import pint

# An integer right after a unit name is its exponent in CF / UDUNITS ("s-1", "m2").
_EXPONENT = re.compile(r"(?<=[A-Za-z_])(-?\d+)(?![\w.])")
# A dot between two unit names multiplies them ("m.s-1").
_PRODUCT_DOT = re.compile(r"(?<=[A-Za-z_\d])\.(?=[A-Za-z_])")


@cache
def _registry() -> pint.UnitRegistry:
    """The unit registry (pint's default definitions), built once per process."""
    import pint

    return pint.UnitRegistry()


def _pint_errors() -> tuple[type[Exception], ...]:
    """What pint raises for a unit it cannot parse or convert."""
    import pint

    return (pint.errors.PintError,)


def parse_units(text: str) -> pint.Unit:
    """The pint unit a CF / WRF ``units`` string names (``""`` and ``"1"`` are dimensionless).

    Raises:
        ValueError: naming ``text`` when neither it nor its lower-case spelling is a unit.
    """
    spelled = _EXPONENT.sub(r"**\1", _PRODUCT_DOT.sub(" ", text.strip())) or "dimensionless"
    for candidate in dict.fromkeys((spelled, spelled.lower())):
        try:
            return _registry().parse_units(candidate)
        except (*_pint_errors(), AttributeError, TypeError, SyntaxError):
            continue
    raise ValueError(f"{text!r} is not a unit pint knows (read as {spelled!r})")


def _convert_block(values: np.ndarray, source: str, target: str) -> np.ndarray:
    """``values`` from ``source`` to ``target`` units with pint, in their own dtype."""
    quantity = _registry().Quantity(values, parse_units(source))
    return np.asarray(quantity.to(parse_units(target)).magnitude).astype(values.dtype, copy=False)


def convert_units(
    da: xr.DataArray, target: str, what: str, *, missing: str | None = None
) -> xr.DataArray:
    """``da`` in ``target`` units (its ``units`` attribute says ``target`` afterwards).

    ``da.attrs["units"]`` is read with :func:`parse_units`; ``missing`` is the unit assumed when
    the attribute is absent (none by default: a variable without units is refused). Values are
    converted by pint in ``da``'s dtype, lazily for dask input; a variable already in ``target``
    units is returned as it is, with only its ``units`` attribute spelled ``target``.

    Raises:
        ValueError: ``"{what} ({name!r}): units {found!r} cannot be converted to {target}"``
            when the units are unknown or of another dimension; naming ``what`` and ``target``
            when they are missing.
    """
    found = da.attrs.get("units", missing)
    if found is None:
        raise ValueError(
            f"{what} ({da.name!r}): no 'units' attribute, expected units convertible to {target}"
        )
    try:
        source, wanted = parse_units(str(found)), parse_units(target)
        same = source == wanted
        if not same:
            _registry().Quantity(1.0, source).to(wanted)  # refuses another dimension now
    except (ValueError, *_pint_errors()) as error:
        raise ValueError(
            f"{what} ({da.name!r}): units {found!r} cannot be converted to {target} ({error})"
        ) from error
    if same:
        converted = da.copy(deep=False)
    else:
        converted = xr.apply_ufunc(
            _convert_block,
            da,
            kwargs={"source": str(found), "target": target},
            dask="parallelized",
            output_dtypes=[da.dtype],
            keep_attrs=True,
        )
    converted.attrs = {**da.attrs, "units": target}
    return converted
