"""Values shared by the storage tests (``test_storage*.py``)."""

from __future__ import annotations

import numpy as np
import xarray as xr

from ocr_assets.regions import RegionGrid
from ocr_assets.storage import store_window


def region_dataset(grid: RegionGrid, region_id: str, value: float) -> xr.Dataset:
    """Two float32 variables filled with ``value`` on the region's window."""
    lat_slice, lon_slice = store_window(grid, region_id)
    lat, lon = grid.latitude()[lat_slice], grid.longitude()[lon_slice]
    return xr.Dataset(
        {
            name: (
                ("latitude", "longitude"),
                np.full((lat.size, lon.size), value, np.float32),
                {"units": units, "description": name},
            )
            for name, units in (("bp_2011", "1"), ("rps_2011", "%"))
        },
        coords={"latitude": lat, "longitude": lon},
    )
