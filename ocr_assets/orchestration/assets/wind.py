"""The fire-weather wind-direction distribution (input preparation, unpartitioned).

Computed from the raw hourly CONUS404 variables (``InputCatalog.conus404``) by
``science.fire_weather_wind_distribution``: relative humidity, earth-relative winds, speed and
direction, FFWI, its 99th percentile over the whole record, the 8-direction distribution of the
hours above it. The work is lazy on pixel blocks with the whole time axis in each (the
repositories' own chunks, 10 x 10 pixels; the science function rechunks a copy whose time axis is
split), and runs on the compute resource's cluster for this asset, so 43 years of hourly data
are spread over the workers and only the small result comes back.

The result stays on the coarse CONUS404 grid (~4 km). Each region regrids it to its own 30 m
window when it is computed (``science.regrid_wind_distribution``) instead of storing a 30 m
CONUS copy: 8 float32 directions on the 97 579 x 208 881 pixel CONUS grid would be ~650 GB,
while the coarse distribution is a few tens of MB and nearest-neighbour regridding a region's
window takes well under a second.
"""

from collections.abc import Callable
from typing import Any

import dagster as dg
import numpy as np
import xarray as xr
from odc.geo.xr import assign_crs
from pyproj import CRS

from ocr_assets import science
from ocr_assets.orchestration.errors import final_on_bad_input
from ocr_assets.orchestration.io_managers import ZARR_IO_MANAGER
from ocr_assets.orchestration.readable import significant
from ocr_assets.orchestration.resources import ComputeResource, InputCatalogResource, OutputStorage

GROUP = "phase01"
ASSET = "wind_direction_distribution"


def wind_distribution(
    catalog: InputCatalogResource,
    compute: ComputeResource,
    attrs: dict[str, str],
    log: Callable[[str], None],
) -> tuple[xr.DataArray, dict[str, Any]]:
    """Compute the fire-weather wind distribution on the asset's cluster.

    The dask graph over the raw CONUS404 repositories runs on the cluster; only the small
    result comes back. Returns it (with ``attrs``) and its materialization metadata. Bad input
    raises a non-retryable :class:`dagster.Failure`.
    """
    with final_on_bad_input():
        weather = catalog.catalog().conus404()
        crs = CRS.from_wkt(weather["crs"].attrs["crs_wkt"])
        # Every variable in the hourly repositories' pixel blocks (the constants have others).
        blocks = dict(zip(("y", "x"), weather["T2"].chunks[1:], strict=True))
        lazy = science.fire_weather_wind_distribution(weather.chunk(blocks))
        distribution = compute.collect(ASSET, lazy)
    if "wind_direction" not in distribution.coords:
        distribution = distribution.assign_coords(wind_direction=list(science.DIRECTIONS))
    spatial = [dim for dim in distribution.dims if dim != "wind_direction"]
    distribution = distribution.transpose(*spatial, "wind_direction")
    distribution = assign_crs(distribution.drop_vars(["lat", "lon", "crs"], errors="ignore"), crs)
    distribution.attrs.update(attrs)
    distribution.name = "wind_distribution"

    weights = distribution.values
    has_fire_weather = weights.sum(axis=-1) > 0
    mean_weight = {
        str(label): significant(float(np.mean(weights[..., k][has_fire_weather])))
        if has_fire_weather.any()
        else 0.0
        for k, label in enumerate(distribution["wind_direction"].values)
    }
    log(
        f"wind distribution on a {' x '.join(map(str, weights.shape[:-1]))} grid "
        f"({crs.name}) from {weather.sizes['time']} hours, "
        f"{has_fire_weather.mean():.1%} of pixels with fire weather"
    )
    return distribution, {
        "grid_shape": dg.MetadataValue.json(
            dict(zip(distribution.dims, weights.shape, strict=True))
        ),
        "crs": crs.to_wkt(),
        "hours": int(weather.sizes["time"]),
        "fire_weather_pixel_share": significant(float(has_fire_weather.mean())),
        "mean_weight_per_direction": dg.MetadataValue.json(mean_weight),
    }


@dg.asset(
    group_name=GROUP,
    io_manager_key=ZARR_IO_MANAGER,
    kinds={"xarray", "zarr", "dask"},
    code_version="2",
    description=(
        "Share of fire-weather hours (FFWI above each pixel's 99th percentile over the record) "
        "with wind from each of 8 directions, on the CONUS404 grid, computed from the raw "
        "hourly CONUS404 variables on the cluster. Regridded to 30 m per region."
    ),
)
def wind_direction_distribution(
    context: dg.AssetExecutionContext,
    catalog: InputCatalogResource,
    storage: OutputStorage,
    compute: ComputeResource,
) -> dg.Output[xr.DataArray]:
    """Compute the fire-weather wind distribution from raw CONUS404 (stored as Zarr)."""
    distribution, metadata = wind_distribution(
        catalog, compute, storage.dataset_attrs, context.log.info
    )
    return dg.Output(distribution, metadata=metadata)
