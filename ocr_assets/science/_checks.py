"""Input checks shared by the CONUS404 chain: dtype, failing early (units: ``units.py``)."""

from __future__ import annotations

import numpy as np
import xarray as xr


def require_float(da: xr.DataArray, what: str) -> None:
    """Refuse a non-floating-point array, naming it."""
    if not np.issubdtype(da.dtype, np.floating):
        raise ValueError(f"{what} ({da.name!r}): expected a floating-point array, got {da.dtype}")
