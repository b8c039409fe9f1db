"""The Dagster types of the values the region assets hand to each other.

A value is either in this process (local runs, tests) or kept on the asset's cluster as a lazy
dask value (``ComputeResource.persist``); both pass the type check, and the UI names the type.
"""

from __future__ import annotations

from typing import Any

import dagster as dg
import geopandas as gpd
import xarray as xr
from dask.base import is_dask_collection


def _value_or_lazy(name: str, kind: type, description: str) -> dg.DagsterType:
    def check(_context: Any, value: Any) -> bool:
        return isinstance(value, kind) or is_dask_collection(value)

    return dg.DagsterType(name=name, type_check_fn=check, description=description)


#: A region's risk rasters: an ``xarray.Dataset`` (numpy- or dask-backed).
RegionRasters = dg.DagsterType(
    name="RegionRasters",
    type_check_fn=lambda _context, value: isinstance(value, xr.Dataset),
    description="A region's 8 risk variables on its 30 m window (xarray.Dataset), placed in the "
    "raster store by its region_id and region_grid_* attributes.",
)
#: A region's buildings: a ``GeoDataFrame``, or a ``dask.delayed`` of one kept on the cluster.
RegionTable = _value_or_lazy(
    "RegionTable",
    gpd.GeoDataFrame,
    "A region's buildings (GeoDataFrame), in memory or kept on the cluster (dask.delayed).",
)
#: Named tables: ``{name: pyarrow.Table}``, or a ``dask.delayed`` of that kept on the cluster.
Tables = _value_or_lazy(
    "Tables",
    dict,
    "Named pyarrow tables ({name: Table}), in memory or kept on the cluster (dask.delayed).",
)
