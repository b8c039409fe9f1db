"""What the roll-up assets share: which regions they are built from, and what they report.

A roll-up (an unpartitioned asset over every region) depends on its region assets through
``AllPartitionMapping`` (the UI shows the lineage and staleness), and reads the regions' outputs
from storage itself: it is built from every region committed to the raster store, each checked
to have the per-region outputs the roll-up reads
(:meth:`~ocr_assets.orchestration.resources.OutputStorage.built_regions`), so a CONUS product is
never silently built from part of CONUS. Its tool (DuckDB, tippecanoe, the pyramid writer)
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


def built_regions(storage: OutputStorage, *assets: str) -> list[str]:
    """The regions a roll-up reads ``assets`` of (a final failure naming what is missing)."""
    with final_on_bad_input():
        return storage.built_regions(assets)


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
    published: Published[Any],
    regions: list[str],
    metadata: Mapping[str, Any],
) -> dg.MaterializeResult:
    """A roll-up's materialization: its outputs, the regions it was built from, ``metadata``."""
    return dg.MaterializeResult(
        metadata={
            "preview": dg.MetadataValue.url(preview_url()),
            **published_metadata(published),
            **regions_metadata(regions),
            **metadata,
        }
    )
