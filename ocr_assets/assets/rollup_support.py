"""Shared by the roll-up assets (phases 02 and 03): region inputs, metadata, output locations.

An unpartitioned roll-up depends on *all* region partitions (``AllPartitionMapping``) and reads
the region outputs from storage. Before doing any work it checks that every region partition's
output is there, so a CONUS product is never silently built from part of CONUS; its
materialization records the region partitions it was built from (``built_from_regions``).

:data:`REGION_OUTPUTS` and :data:`ROLLUP_OUTPUTS` name the files and folders each asset
writes, so ``make demo`` can tell a recorded materialization whose output was deleted from
one that is really there.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

import dagster as dg

from ocr_assets.catalog import InputCatalog, census_file
from ocr_assets.regions import Bounds
from ocr_assets.resources import OutputStorage
from ocr_assets.rollups import LEVELS, CensusPolygons, DatasetMetadata, census_polygons
from ocr_assets.rollups.schema import ANALYSIS_FOLDERS
from ocr_assets.rollups.tiles import PMTilesSummary
from ocr_assets.storage import OutputPaths, StorageError, objects

#: Metadata key listing the region partitions a roll-up was built from.
BUILT_FROM_REGIONS = "built_from_regions"


def dataset_metadata(storage: OutputStorage) -> DatasetMetadata:
    """The dataset metadata published with every roll-up output of ``storage``: its
    ``OCR_VERSION``, or ``unversioned`` (as published)."""
    return DatasetMetadata.for_version(storage.version)


def asset_name(context: dg.AssetExecutionContext) -> str:
    """The key of the asset ``context`` materializes, as the compute resource names clusters."""
    return context.asset_key.to_user_string()


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


def partition_region_ids(
    context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext,
    partitions_def: dg.PartitionsDefinition,
) -> list[str]:
    """Every region partition of ``partitions_def``, in order."""
    return list(partitions_def.get_partition_keys(dynamic_partitions_store=context.instance))


def require_regions(
    region_ids: Sequence[str], present: Collection[str], asset: str, where: str
) -> None:
    """Fail, naming them, when some regions lack ``asset``'s output.

    Raises:
        StorageError: listing the regions missing from ``present``.
    """
    if not region_ids:
        raise StorageError(f"no region partitions to build from ({asset})")
    missing = [region_id for region_id in region_ids if region_id not in present]
    if missing:
        raise StorageError(
            f"{asset} is missing for region(s) {', '.join(missing)} (looked under {where}); "
            f"materialize {asset} for them first"
        )


def existing_region_outputs(
    region_ids: Sequence[str], location: Callable[[str], str], asset: str, where: str
) -> list[str]:
    """``location(region_id)`` of every region, after checking that each exists."""
    locations = {region_id: location(region_id) for region_id in region_ids}
    present = [r for r, path in locations.items() if objects.exists(path)]
    require_regions(region_ids, present, asset, where)
    return [locations[region_id] for region_id in region_ids]


def region_buildings_files(paths: OutputPaths, region_ids: Sequence[str]) -> list[str]:
    """The ``region_buildings`` file of every region, after checking that each exists."""
    return existing_region_outputs(
        region_ids, paths.region_buildings, "region_buildings", paths.region_buildings_dir
    )


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


def folder_size(location: str) -> int:
    """Total size in bytes of the files below the folder ``location`` (local or remote)."""
    return objects.size(location)


def pmtiles_metadata(summary: PMTilesSummary) -> dict[str, dg.RawMetadataValue]:
    """Location, size, zoom range and features per layer of an archive."""
    return {
        "path": dg.MetadataValue.path(summary.location),
        "file_size_bytes": summary.bytes,
        "min_zoom": summary.min_zoom,
        "max_zoom": summary.max_zoom,
        "layers": dg.MetadataValue.json(summary.layers),
        "dagster/row_count": summary.features,
    }


#: Per region-partitioned roll-up input: the outputs one region partition writes.
REGION_OUTPUTS: dict[dg.AssetKey, Callable[[OutputPaths, str], tuple[str, ...]]] = {
    dg.AssetKey("region_buildings"): lambda paths, r: (paths.region_buildings(r),),
    dg.AssetKey("region_statistics_partials"): lambda paths, r: (
        paths.region_statistics_partial(r),
    ),
    dg.AssetKey("region_tile_features"): lambda paths, r: (paths.tile_features(r),),
}

#: Per unpartitioned roll-up: the outputs it writes.
ROLLUP_OUTPUTS: dict[dg.AssetKey, Callable[[OutputPaths], tuple[str, ...]]] = {
    dg.AssetKey("buildings_geoparquet"): lambda paths: (
        paths.consolidated_buildings,
        paths.partitioned_buildings,
    ),
    dg.AssetKey("region_summary_stats"): lambda paths: tuple(
        paths.region_summary_stats(level) for level in LEVELS
    ),
    dg.AssetKey("region_analysis_files"): lambda paths: tuple(
        paths.region_analysis(ANALYSIS_FOLDERS[level]) for level in LEVELS
    ),
    dg.AssetKey("regional_pmtiles"): lambda paths: (paths.regional_pmtiles,),
    dg.AssetKey("building_pmtiles"): lambda paths: (paths.building_pmtiles,),
    dg.AssetKey("building_centroid_pmtiles"): lambda paths: (paths.building_centroid_pmtiles,),
    dg.AssetKey("risk_pyramid"): lambda paths: (paths.risk_pyramid,),
}


def outputs_exist(locations: Sequence[str]) -> bool:
    """True when every location exists (local or remote)."""
    return all(objects.exists(location) for location in locations)
