"""What the roll-up assets share: which regions they are built from, and what they report.

A roll-up (an unpartitioned asset over every region) depends on its region assets through
``AllPartitionMapping`` (the UI shows the lineage and staleness), and reads the regions' outputs
from storage itself: it is built from every region committed to the raster store, each checked
to have the per-region outputs the roll-up reads
(:meth:`~ocr_assets.orchestration.resources.OutputStorage.built_regions`), so a CONUS product is
never silently built from part of CONUS, and never from fewer regions than it was last published
from unless ``OCR_FORCE`` says so (the published regions are recorded beside the deployment
record; :mod:`ocr_assets.storage.guard`). Its tool (DuckDB, tippecanoe, the pyramid writer)
writes the outputs itself, on the roll-up's own cluster, through
:func:`~ocr_assets.storage.publish` (atomic, loss-guarded); the asset returns a
``MaterializeResult`` with the outputs' locations and sizes and the regions it was built from.
"""

from collections.abc import Mapping
from typing import Any

import dagster as dg

from ocr_assets.catalog import InputCatalog, census_file
from ocr_assets.orchestration.assets.metadata import published_metadata, regions_metadata
from ocr_assets.orchestration.errors import final_on_bad_input
from ocr_assets.orchestration.resources import OutputStorage
from ocr_assets.preview import preview_url
from ocr_assets.regions import Bounds
from ocr_assets.rollups import LEVELS, CensusPolygons, census_polygons
from ocr_assets.storage import Published


def every_region(key: str) -> dg.AssetDep:
    """A dependency on every partition of the region asset ``key``."""
    return dg.AssetDep(key, partition_mapping=dg.AllPartitionMapping())


def committed_regions(storage: OutputStorage, *assets: str) -> list[str]:
    """Every region committed to the raster store, with its outputs of ``assets`` (a final
    failure naming what is missing)."""
    with final_on_bad_input():
        return storage.built_regions(assets)


def rollup_regions(
    context: dg.AssetExecutionContext, storage: OutputStorage, *assets: str
) -> list[str]:
    """The regions the roll-up of ``context`` is built from (:func:`committed_regions`), never
    fewer than it was last published from unless forced (a final failure naming the regions
    it would lose)."""
    with final_on_bad_input():
        return storage.built_regions(assets, rollup=context.asset_key.to_user_string())


def census_levels(catalog: InputCatalog, bbox: Bounds | None = None) -> dict[str, CensusPolygons]:
    """The validated census polygons of every level (only those touching ``bbox`` if given).

    Raises:
        ValueError: naming the census file and column (e.g. no ``GEOID``).
    """
    return {
        level: census_polygons(
            catalog.census(level, bbox=bbox), level, str(catalog.path(census_file(level)))
        )
        for level in LEVELS
    }


def rollup_result(
    context: dg.AssetExecutionContext,
    storage: OutputStorage,
    published: Published[Any],
    regions: list[str],
    metadata: Mapping[str, Any],
) -> dg.MaterializeResult:
    """Record the regions the just-published roll-up of ``context`` was built from; its
    materialization: its outputs, those regions, ``metadata``."""
    storage.record_rollup(context.asset_key.to_user_string(), regions, context.run.run_id)
    return dg.MaterializeResult(
        metadata={
            "preview": dg.MetadataValue.url(preview_url()),
            **published_metadata(published),
            **regions_metadata(regions),
            **metadata,
        }
    )
