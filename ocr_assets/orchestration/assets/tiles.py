"""The PMTiles archives: regional statistics (phase 02), buildings and building centroids (03).

What is incremental
    ``region_tile_features`` is partitioned by region: it encodes one region's footprints and
    centroids as GeoJSON features (tables of feature texts beside their bounding boxes, stored
    by the tables IO manager), so re-materializing a region re-encodes only its own features.
    The archives are then tiled from every region's features by tippecanoe on their own
    cluster, and published whole.

Sharded building and centroid tiles
    ``building_pmtiles`` and ``building_centroid_pmtiles`` are tiled in shards aligned to the
    tile pyramid (:mod:`ocr_assets.rollups.shards`): the shards' zoom statistics and tiles are
    tasks in parallel on the archive's cluster
    (:func:`~ocr_assets.orchestration.clusters.map_here`), the shard archives are kept under
    ``Layout.tile_shards`` and merged by copying tiles. The zooms above the shard zoom (the
    centroids' zooms 0-5 for CONUS) are one pass over every feature.

``building_pmtiles`` and ``building_centroid_pmtiles`` are independent of each other, so an
executor with more than one process builds them in parallel. Both also depend on
``region_summary_stats``, whose blocking checks must pass before any tile is published (the
seed's order: phase 03 after phase 02).
"""

from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg
import pyarrow as pa

from ocr_assets.orchestration.assets.metadata import pmtiles_metadata
from ocr_assets.orchestration.assets.regions import BUILDINGS, region_buildings
from ocr_assets.orchestration.assets.rollups import every_region, rollup_regions, rollup_result
from ocr_assets.orchestration.assets.statistics import (
    GROUP as PHASE02,
)
from ocr_assets.orchestration.assets.statistics import (
    PARTIALS,
    region_summary_stats,
    statistics_files,
    statistics_names,
)
from ocr_assets.orchestration.clusters import map_here
from ocr_assets.orchestration.io_managers import TABLES_IO_MANAGER
from ocr_assets.orchestration.partitions import REGION_PARTITIONS
from ocr_assets.orchestration.resources import ComputeResource, OutputStorage
from ocr_assets.orchestration.types import Tables
from ocr_assets.preview import preview_url
from ocr_assets.regions import feature_id_base
from ocr_assets.rollups import (
    BUILDING_TILES,
    CENTROID_TILES,
    DatasetMetadata,
    PMTilesSummary,
    Tileset,
    regional_pmtiles,
)
from ocr_assets.rollups.shards import ShardedArchive, sharded_archive
from ocr_assets.rollups.tiles import (
    building_features,
    centroid_features,
)
from ocr_assets.storage import Layout, Published, publish
from ocr_assets.storage.tables import table_file

GROUP = "phase03"
FEATURES = "region_tile_features"
REGIONAL = "regional_pmtiles"

#: The tables of a region's tile features.
BUILDING_FEATURES = "buildings"
CENTROID_FEATURES = "centroids"


# --------------------------------------------------------------------------- regional archive
def statistics_archive(layout: Layout, metadata: DatasetMetadata) -> Published[PMTilesSummary]:
    """Tile the statistics polygons of every level into one archive; publish it (its cluster)."""
    stats = statistics_files(layout.region_summary_stats_dir, statistics_names(layout))
    return publish(
        layout.outputs(REGIONAL),
        lambda staged: regional_pmtiles(stats, staged["pmtiles"], metadata),
    )


@dg.asset(
    name=REGIONAL,
    deps=[region_summary_stats],
    group_name=PHASE02,
    kinds={"pmtiles", "tippecanoe"},
    code_version="3",
    description=(
        "One PMTiles archive with a layer per census level (counties, tracts, blocks, "
        "states, nation); properties '0'..'10': building count, RPS means and medians, "
        "histograms, GEOID, bbox, NAME, STUSPS."
    ),
)
def regional_pmtiles_archive(
    context: dg.AssetExecutionContext, storage: OutputStorage, compute: ComputeResource
) -> dg.MaterializeResult:
    """The statistics polygons of every level, tiled into one archive."""
    regions = rollup_regions(context, storage, BUILDINGS, PARTIALS)
    published = compute.run(REGIONAL, statistics_archive, storage.layout, storage.dataset_metadata)
    return rollup_result(context, storage, published, regions, pmtiles_metadata(published.result))


# --------------------------------------------------------------------------- features
def region_features(buildings: Any, region_id: str) -> dict[str, pa.Table]:
    """One region's footprints and centroids as feature tables (on the region's cluster)."""
    return {
        BUILDING_FEATURES: building_features(buildings, feature_id_base(region_id)),
        CENTROID_FEATURES: centroid_features(buildings),
    }


def describe_features(features: Mapping[str, pa.Table]) -> dict[str, Any]:
    """Materialization metadata of a region's tile features: counts and the buildings' extent."""
    footprints = features[BUILDING_FEATURES]
    extent = None
    if footprints.num_rows:
        extent = [
            min(footprints["xmin"].to_numpy()),
            min(footprints["ymin"].to_numpy()),
            max(footprints["xmax"].to_numpy()),
            max(footprints["ymax"].to_numpy()),
        ]
    return {
        "preview": dg.MetadataValue.url(preview_url(extent)),
        "dagster/row_count": footprints.num_rows,
        "building_features": footprints.num_rows,
        "centroid_features": features[CENTROID_FEATURES].num_rows,
    }


@dg.asset(
    partitions_def=REGION_PARTITIONS,
    ins={"buildings": dg.AssetIn(region_buildings.key)},
    io_manager_key=TABLES_IO_MANAGER,
    dagster_type=Tables,
    group_name=GROUP,
    kinds={"duckdb", "geojson"},
    code_version="4",
    description=(
        "The region's tippecanoe inputs: footprints with the 7 building variables, and "
        "centroids with rps_2011 / rps_2047 (3 decimals, both > 0), as GeoJSON features "
        "beside their bounding boxes."
    ),
)
def region_tile_features(
    context: dg.AssetExecutionContext, compute: ComputeResource, buildings: Any
) -> dg.Output[Any]:
    """The region's buildings and centroids as GeoJSON features, on the region's cluster."""
    features = compute.persist(FEATURES, region_features, buildings, context.partition_key)
    return dg.Output(features, metadata=compute.run(FEATURES, describe_features, features))


# --------------------------------------------------------------------------- building archives
def sharded_tiles(
    sources: Sequence[str],
    tileset: Tileset,
    asset: str,
    layout: Layout,
    metadata: DatasetMetadata,
    shard_zoom: int,
) -> Published[ShardedArchive]:
    """Tile feature tables in shards, in parallel on this cluster, then merge and publish the
    archive (a task on the archive's cluster; the shard archives are kept in
    :meth:`~ocr_assets.storage.Layout.tile_shards`).

    Raises:
        ValueError: no region has any feature.
    """
    return publish(
        layout.outputs(asset),
        lambda staged: sharded_archive(
            sources,
            staged["pmtiles"],
            tileset,
            metadata,
            layout.tile_shards(asset),
            shard_zoom,
            map_here,
        ),
    )


def _sharded_archive(
    context: dg.AssetExecutionContext,
    storage: OutputStorage,
    compute: ComputeResource,
    table: str,
    tileset: Tileset,
) -> dg.MaterializeResult:
    asset = context.asset_key.to_user_string()
    regions = rollup_regions(context, storage, BUILDINGS, FEATURES)
    layout = storage.layout
    sources = [table_file(layout.tile_features(r), table) for r in regions]
    published = compute.run(
        asset,
        sharded_tiles,
        sources,
        tileset,
        asset,
        layout,
        storage.dataset_metadata,
        storage.tile_shard_zoom,
    )
    built = published.result
    context.log.info(
        f"{asset}: {built.shards} shards at zoom {built.shard_zoom}, zooms "
        f"{built.summary.min_zoom}-{built.summary.max_zoom} (-zg over every feature: "
        f"{built.guessed_zoom}; {built.retiled} shard(s) tiled again deeper); "
        f"{built.shards - built.reused} shard(s) built, {built.reused} unchanged and kept"
    )
    metadata = {
        **pmtiles_metadata(built.summary),
        "shard_zoom": built.shard_zoom,
        "shards": built.shards,
        "shards_built": built.shards - built.reused,
    }
    return rollup_result(context, storage, published, regions, metadata)


@dg.asset(
    deps=[every_region(FEATURES), region_summary_stats],
    group_name=GROUP,
    kinds={"pmtiles", "tippecanoe"},
    code_version="5",
    description=(
        "Building footprints of every region with the 7 building variables (properties "
        "'0'..'6'); one PMTiles archive, layer 'risk', from zoom 6."
    ),
)
def building_pmtiles(
    context: dg.AssetExecutionContext, storage: OutputStorage, compute: ComputeResource
) -> dg.MaterializeResult:
    """Every region's footprint features, tiled in shards and merged."""
    return _sharded_archive(context, storage, compute, BUILDING_FEATURES, BUILDING_TILES)


@dg.asset(
    deps=[every_region(FEATURES), region_summary_stats],
    group_name=GROUP,
    kinds={"pmtiles", "tippecanoe"},
    code_version="3",
    description=(
        "Building centroids with rps_2011 and rps_2047 (properties '0', '1'; 3 decimals, "
        "only where both > 0); one PMTiles archive, layer 'risk'."
    ),
)
def building_centroid_pmtiles(
    context: dg.AssetExecutionContext, storage: OutputStorage, compute: ComputeResource
) -> dg.MaterializeResult:
    """Every region's centroid features, tiled in shards (zooms above the shards in one pass
    over every centroid) and merged."""
    return _sharded_archive(context, storage, compute, CENTROID_FEATURES, CENTROID_TILES)
