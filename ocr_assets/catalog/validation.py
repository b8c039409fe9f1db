"""Checks of what the pipeline relies on in an input: variables, dims, CRSs, spacing.

Each raises ``ValueError`` naming the store (or file), what was expected and what was found.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr
from pyproj import CRS

# A coordinate may be off its expected pixel centre by this fraction of a pixel.
COORD_TOLERANCE_PX = 1e-3


def crs_of(ds: xr.Dataset, var: str) -> CRS | None:
    """CRS of a store: its grid-mapping variable (odc-geo / CF) or its ``crs`` attribute."""
    candidates = [ds[var].encoding.get("grid_mapping"), ds[var].attrs.get("grid_mapping")]
    candidates.append("spatial_ref")
    for name in candidates:
        if name and name in ds.variables:
            attrs = ds[name].attrs
            wkt = attrs.get("crs_wkt") or attrs.get("spatial_ref")
            if wkt:
                return CRS.from_user_input(wkt)
    if "crs" in ds.attrs:
        return CRS.from_user_input(ds.attrs["crs"])
    return None


def check_crs(store: object, crs: CRS | None, epsg: int) -> None:
    """Raise ValueError unless ``crs`` is ``EPSG:{epsg}``, naming the store and what it found."""
    if crs is None or crs.to_epsg() != epsg:
        found = "no CRS" if crs is None else crs.to_string()
        raise ValueError(f"{store}: CRS must be EPSG:{epsg}, found {found}")


def data_var(ds: xr.Dataset, var: str, store: object) -> xr.DataArray:
    """``ds[var]``, or a ValueError naming the store and the variables it has."""
    if var not in ds.data_vars:
        raise ValueError(f"{store}: expected variable {var!r}, found {list(ds.data_vars)}")
    return ds[var]


def check_spacing(store: str, name: str, coord: np.ndarray, expected: float, tol: float) -> None:
    """Raise ValueError unless ``coord`` is regular with step ``expected`` (sign included)."""
    if coord.size < 2:
        raise ValueError(
            f"{store}: coordinate {name!r} needs at least 2 values, found {coord.size}"
        )
    steps = np.diff(coord)
    worst = steps[np.argmax(np.abs(steps - expected))]
    if abs(worst - expected) > tol:
        raise ValueError(
            f"{store}: coordinate {name!r} spacing must be {expected!r} (within {tol}), "
            f"found a step of {float(worst)!r}"
        )


def _describe(values: np.ndarray) -> str:
    if values.size == 0:
        return "0 values"
    return f"{values.size} values from {values[0]!r} to {values[-1]!r}"


def check_same_grid(
    store: object, ds: xr.Dataset, reference: xr.Dataset, dims: Sequence[str]
) -> None:
    """Raise ValueError unless ``ds`` has exactly ``reference``'s coordinates along ``dims``."""
    for dim in dims:
        if dim not in ds.coords:
            raise ValueError(f"{store}: expected a coordinate {dim!r}, found {list(ds.coords)}")
        found, expected = ds[dim].values, reference[dim].values
        if found.shape != expected.shape or not np.array_equal(found, expected):
            raise ValueError(
                f"{store}: coordinate {dim!r} must equal the T2 repository's "
                f"({_describe(expected)}), found {_describe(found)}"
            )


def lat_lon(ds: xr.Dataset, store: object) -> dict[str, xr.Variable]:
    """The (y, x) ``lat`` and ``lon`` of a CONUS404 repository."""
    out = {}
    for name in ("lat", "lon"):
        if name not in ds.variables or ds[name].dims != ("y", "x"):
            found = ds[name].dims if name in ds.variables else "no such variable"
            raise ValueError(f"{store}: expected {name!r} on ('y', 'x'), found {found}")
        out[name] = ds[name].variable
    return out
