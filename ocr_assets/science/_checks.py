"""Input checks shared by the CONUS404 chain: dtype and units attributes, failing early."""

from __future__ import annotations

import numpy as np
import xarray as xr

KELVIN_UNITS = frozenset({"K", "kelvin", "Kelvin", "degK"})
PERCENT_UNITS = frozenset({"%", "percent"})
SPEED_UNITS = frozenset({"m s-1", "m/s", "m s**-1", "m.s-1", "meter / second", "m s^-1"})


def require_float(da: xr.DataArray, what: str) -> None:
    """Refuse a non-floating-point array, naming it."""
    if not np.issubdtype(da.dtype, np.floating):
        raise ValueError(f"{what} ({da.name!r}): expected a floating-point array, got {da.dtype}")


def require_units(da: xr.DataArray, accepted: frozenset[str], what: str) -> None:
    """Refuse an array whose ``units`` attribute is missing or not one of ``accepted``."""
    units = da.attrs.get("units")
    if units not in accepted:
        raise ValueError(
            f"{what} ({da.name!r}): units must be one of {sorted(accepted)}, got {units!r}"
        )
