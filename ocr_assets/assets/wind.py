"""The fire-weather wind-direction distribution (input preparation, unpartitioned).

Computed once on the coarse CONUS404 grid (~4 km) and stored there. Each region regrids it to
its own 30 m window when it is computed (``science.regrid_wind_distribution``) instead of
storing a 30 m CONUS copy: 8 float32 directions on the 90 000 x 202 500 pixel CONUS grid would
be ~580 GB, while the coarse distribution is a few tens of MB and nearest-neighbour regridding
a region's window takes well under a second.
"""

from collections.abc import Callable
from typing import Any

import dagster as dg
import numpy as np
from odc.geo.xr import assign_crs

from ocr_assets import science
from ocr_assets.assets.errors import final_on_bad_input
from ocr_assets.resources import InputCatalogResource, OutputStorage

GROUP = "phase01"


def wind_distribution(
    catalog: InputCatalogResource, storage: OutputStorage, log: Callable[[str], None]
) -> dict[str, Any]:
    """Compute FFWI, the p99 fire-weather mask and the 8-direction distribution; store as Zarr.

    The body of ``wind_direction_distribution``, also run by the ``deploy`` job; returns the
    materialization metadata.
    """
    with final_on_bad_input():
        storage.ensure_writable()
        weather = catalog.catalog().conus404()
        crs = weather.odc.crs
        ffwi = science.fosberg_fire_weather_index(weather["RH"], weather["T2"], weather["WSPD"])
        mask = science.fire_weather_mask(ffwi, dim="time")
        distribution = science.wind_direction_distribution(weather["WDIR"], mask, dim="time")
        spatial = [dim for dim in distribution.dims if dim != "wind_direction"]
        distribution = assign_crs(distribution.transpose(*spatial, "wind_direction"), crs)
        distribution.attrs.update(storage.dataset_attrs)
        storage.write_wind_distribution(distribution)

    weights = distribution.values
    has_fire_weather = weights.sum(axis=-1) > 0
    mean_weight = {
        str(label): float(np.mean(weights[..., k][has_fire_weather]))
        if has_fire_weather.any()
        else 0.0
        for k, label in enumerate(distribution["wind_direction"].values)
    }
    log(
        f"wind distribution on a {' x '.join(map(str, weights.shape[:-1]))} grid "
        f"({crs}), {has_fire_weather.mean():.1%} of pixels with fire weather"
    )
    return {
        "path": dg.MetadataValue.path(storage.paths.wind_distribution),
        "grid_shape": dg.MetadataValue.json(
            dict(zip(distribution.dims, weights.shape, strict=True))
        ),
        "crs": str(crs),
        "hours": int(weather.sizes["time"]),
        "fire_weather_pixel_share": float(has_fire_weather.mean()),
        "mean_weight_per_direction": dg.MetadataValue.json(mean_weight),
    }


@dg.asset(
    group_name=GROUP,
    kinds={"xarray", "zarr"},
    code_version="1",
    description=(
        "Share of fire-weather hours (FFWI at or above each pixel's 99th percentile) with wind "
        "from each of 8 directions, on the CONUS404 grid. Regridded to 30 m per region."
    ),
)
def wind_direction_distribution(
    context: dg.AssetExecutionContext,
    catalog: InputCatalogResource,
    storage: OutputStorage,
) -> dg.MaterializeResult:
    """Compute FFWI, the p99 fire-weather mask and the 8-direction distribution; store as Zarr."""
    return dg.MaterializeResult(metadata=wind_distribution(catalog, storage, context.log.info))
