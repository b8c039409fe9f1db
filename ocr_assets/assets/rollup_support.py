"""Shared by the roll-up assets (phases 02 and 03): census inputs and metadata.

An unpartitioned roll-up reads *all* region partitions (``AllPartitionMapping``): the upstream
IO manager loads them as ``{region_id: location}`` after checking that every one is there, so a
CONUS product is never silently built from part of CONUS; its materialization records the
region partitions it was built from (``built_from_regions``).
"""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg

from ocr_assets.catalog import InputCatalog, census_file
from ocr_assets.regions import Bounds
from ocr_assets.resources import OutputStorage
from ocr_assets.rollups import LEVELS, CensusPolygons, DatasetMetadata, census_polygons
from ocr_assets.rollups.tiles import PMTilesSummary

#: Metadata key listing the region partitions a roll-up was built from.
BUILT_FROM_REGIONS = "built_from_regions"


def dataset_metadata(storage: OutputStorage) -> DatasetMetadata:
    """The dataset metadata published with every roll-up output of ``storage``: its
    ``OCR_VERSION``, or ``unversioned`` (as published)."""
    return DatasetMetadata.for_version(storage.version)


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


def upstream_regions(context: dg.AssetExecutionContext, key: dg.AssetKey) -> list[str] | None:
    """The ``built_from_regions`` of ``key``'s latest materialization, if it recorded them."""
    event = context.instance.get_latest_materialization_event(key)
    if event is None or event.asset_materialization is None:
        return None
    value = event.asset_materialization.metadata.get(BUILT_FROM_REGIONS)
    return list(value.value) if isinstance(value, dg.JsonMetadataValue) else None


def regions_metadata(region_ids: Sequence[str] | None) -> dict[str, dg.RawMetadataValue]:
    """``built_from_regions`` and ``region_count`` (empty when unknown)."""
    if region_ids is None:
        return {}
    return {
        BUILT_FROM_REGIONS: dg.MetadataValue.json(list(region_ids)),
        "region_count": len(region_ids),
    }


def pmtiles_metadata(summary: PMTilesSummary) -> dict[str, dg.RawMetadataValue]:
    """Size, zoom range and features per layer of an archive (the IO manager adds its path)."""
    return {
        "file_size_bytes": summary.bytes,
        "min_zoom": summary.min_zoom,
        "max_zoom": summary.max_zoom,
        "layers": dg.MetadataValue.json(summary.layers),
        "dagster/row_count": summary.features,
    }
