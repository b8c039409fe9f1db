"""Phase 02, optional (``OCR_CREATE_PYRAMID``): the multiscale Web-Mercator pyramid of RPS.

Read lazily from the raster store (one dask chunk per region) and written level by level on its
own cluster, in the ndpyramid layout ``@carbonplan/maps`` reads (``docs/rasters.md``).
"""

from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg

from ocr_assets.catalog import InputCatalog
from ocr_assets.orchestration.assets.regions import RASTERS
from ocr_assets.orchestration.assets.rollups import every_region, rollup_regions, rollup_result
from ocr_assets.orchestration.assets.statistics import GROUP
from ocr_assets.orchestration.resources import ComputeResource, InputCatalogResource, OutputStorage
from ocr_assets.rollups import PyramidSummary, level_for_resolution, write_risk_pyramid
from ocr_assets.rollups.pyramid import ZARR_JS_MAX_LEVEL
from ocr_assets.storage import Layout, Published, RasterStore, publish, store_window

ASSET = "risk_pyramid"

#: Finest pyramid resolution (metres), as the published pyramid (``zoom_for_res(30)``).
PYRAMID_RESOLUTION_M = 30.0
#: Pixels per pyramid tile side (and chunk side of every level), as the published pyramid: with
#: the levels zarr-js can open (``ZARR_JS_MAX_LEVEL``), the finest pixels are about 38 m.
PYRAMID_PIXELS_PER_TILE = 512
#: The variables of the pyramid.
PYRAMID_VARIABLES: tuple[str, ...] = ("rps_2011", "rps_2047")


def pyramid(
    input_root: str, region_ids: Sequence[str], layout: Layout, attrs: Mapping[str, Any]
) -> Published[PyramidSummary]:
    """Reproject the regions' RPS rasters to Web Mercator, every zoom level; publish (its
    cluster)."""
    grid = InputCatalog(input_root).grid
    windows = [store_window(grid, region_id) for region_id in region_ids]
    latitude = slice(min(w[0].start for w in windows), max(w[0].stop for w in windows))
    longitude = slice(min(w[1].start for w in windows), max(w[1].stop for w in windows))
    rasters = (
        RasterStore(layout.raster_store)
        .open()[list(PYRAMID_VARIABLES)]
        .isel(latitude=latitude, longitude=longitude)
        # One dask chunk per region: the reprojection reads the store lazily.
        .chunk({"latitude": grid.region_rows, "longitude": grid.region_cols})
    )
    max_level = min(
        level_for_resolution(PYRAMID_RESOLUTION_M, PYRAMID_PIXELS_PER_TILE), ZARR_JS_MAX_LEVEL
    )

    def write(staged: dict[str, str]) -> PyramidSummary:
        return write_risk_pyramid(
            rasters,
            staged["pyramid"],
            attrs,
            max_level=max_level,
            pixels_per_tile=PYRAMID_PIXELS_PER_TILE,
            variables=PYRAMID_VARIABLES,
        )

    return publish(layout.outputs(ASSET), write)


def describe_pyramid(summary: PyramidSummary) -> dict[str, Any]:
    """Materialization metadata of the pyramid: levels, tile size, variables."""
    return {
        "levels": f"{summary.levels[0]}..{summary.levels[-1]}",
        "max_level": summary.levels[-1],
        "pixels_per_tile": summary.pixels_per_tile,
        "variables": dg.MetadataValue.json(list(summary.variables)),
        "finest_level_window": dg.MetadataValue.json(list(summary.windows[summary.levels[-1]])),
    }


@dg.asset(
    deps=[every_region(RASTERS)],
    group_name=GROUP,
    kinds={"zarr"},
    code_version="2",
    description=(
        "Optional (OCR_CREATE_PYRAMID): multiscale Web-Mercator Zarr of rps_2011 and "
        "rps_2047 from the raster store, for the web map."
    ),
)
def risk_pyramid(
    context: dg.AssetExecutionContext,
    catalog: InputCatalogResource,
    storage: OutputStorage,
    compute: ComputeResource,
) -> dg.MaterializeResult:
    """The regions' RPS rasters reprojected to Web Mercator, every zoom level."""
    regions = rollup_regions(context, storage)
    published = compute.run(
        ASSET, pyramid, catalog.root, regions, storage.layout, storage.dataset_metadata.raster()
    )
    return rollup_result(context, storage, published, regions, describe_pyramid(published.result))
