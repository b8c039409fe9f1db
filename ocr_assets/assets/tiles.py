"""Phase 03: building and building-centroid PMTiles.

What is incremental
    ``region_tile_features`` is partitioned by region: it encodes one region's footprints and
    centroids as newline-delimited GeoJSON (tippecanoe's input). Re-materializing a region
    rewrites only its own feature files. The two archives are then tiled from all regions'
    feature files by one tippecanoe run each; tiling itself is not incremental (see
    :mod:`ocr_assets.rollups.tiles`).

Each asset's work (:func:`region_features`, :func:`tile_regions`) runs on the asset's own
cluster (``ComputeResource.run``) and writes its files there.

``building_pmtiles`` and ``building_centroid_pmtiles`` are independent of each other, so an
executor with more than one process builds them in parallel. Both also depend on
``region_summary_stats``, whose blocking checks must pass before any tile is published (the
seed's order: phase 03 after phase 02).
"""

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from ocr_assets.assets.errors import final_on_bad_input
from ocr_assets.assets.regions import REGION_RETRY_POLICY, RegionAssets
from ocr_assets.assets.rollup_support import (
    asset_name,
    dataset_metadata,
    existing_region_outputs,
    partition_region_ids,
    pmtiles_metadata,
    region_buildings_files,
    regions_metadata,
)
from ocr_assets.preview import preview_url
from ocr_assets.resources import ComputeResource, OutputStorage
from ocr_assets.rollups import (
    BUILDING_TILES,
    CENTROID_TILES,
    Tileset,
    tile_features,
    write_building_features,
    write_centroid_features,
)
from ocr_assets.rollups._sources import parquet_file
from ocr_assets.rollups.tiles import BUILDING_LAYER, PMTilesSummary
from ocr_assets.rollups.validation import geo_metadata
from ocr_assets.storage import StorageError, atomic_output, join, objects

GROUP = "phase03"

#: File names inside a region's tile-features folder.
BUILDING_FEATURES = "buildings.ndjson"
CENTROID_FEATURES = "building_centroids.ndjson"


@dataclass(frozen=True)
class TileAssets:
    """The phase 03 assets."""

    features: dg.AssetsDefinition
    buildings: dg.AssetsDefinition
    centroids: dg.AssetsDefinition

    @property
    def all(self) -> list[dg.AssetsDefinition]:
        """Every phase 03 asset."""
        return [self.features, self.buildings, self.centroids]


def tile_regions(
    storage: OutputStorage,
    region_ids: Sequence[str],
    file_name: str,
    output: str,
    tileset: Tileset,
) -> PMTilesSummary:
    """Tile every region's ``file_name`` features (layer ``risk``) into ``output`` (on its cluster).

    Regions without features (empty files) contribute nothing and are left out of the
    tippecanoe command; their partitions still count as built from.

    Raises:
        StorageError: a region's features are missing, or no region has any feature.
    """
    storage.ensure_writable()
    paths = storage.paths
    folders = existing_region_outputs(
        region_ids, paths.tile_features, "region_tile_features", paths.tile_features_dir
    )
    files = [join(folder, file_name) for folder in folders]
    non_empty = [f for f in files if objects.size(f) > 0]
    if not non_empty:
        raise StorageError(
            f"no features to tile into {output}: every region's {file_name} is empty"
        )
    return tile_features({BUILDING_LAYER: non_empty}, output, tileset, dataset_metadata(storage))


def region_features(
    storage: OutputStorage, region_id: str
) -> tuple[int, int, dict[str, int], list[float] | None]:
    """Encode one region's buildings and centroids as GeoJSON features (on the region cluster).

    Both files appear together: written into a fresh folder swapped in at the end.

    Returns:
        The number of footprint and centroid features, the size in bytes of each file, and the
        buildings' extent (west, south, east, north; ``None`` for a region without buildings).
    """
    paths = storage.paths
    storage.ensure_writable()
    (buildings,) = region_buildings_files(paths, [region_id])
    with atomic_output(paths.tile_features(region_id)) as folder:
        footprints = write_building_features(buildings, str(folder / BUILDING_FEATURES))
        centroids = write_centroid_features(buildings, str(folder / CENTROID_FEATURES))
        sizes = {p.name: p.stat().st_size for p in folder.iterdir()}
    geo = geo_metadata(parquet_file(buildings).schema_arrow, buildings)
    extent = geo["columns"][geo["primary_column"]].get("bbox") if footprints else None
    return footprints, centroids, sizes, extent


def build_tile_assets(
    partitions_def: dg.PartitionsDefinition,
    region: RegionAssets,
    summary_stats: dg.AssetsDefinition,
    retry_policy: dg.RetryPolicy = REGION_RETRY_POLICY,
) -> TileAssets:
    """Build the phase 03 assets over the region partitions ``partitions_def``.

    ``summary_stats`` (``region_summary_stats``) gates the archives through its blocking checks.
    """
    all_features = dg.AllPartitionMapping()

    @dg.asset(
        partitions_def=partitions_def,
        deps=[region.buildings],
        retry_policy=retry_policy,
        group_name=GROUP,
        kinds={"duckdb", "geojson"},
        code_version="1",
        description=(
            "The region's tippecanoe inputs: footprints with the 7 building variables, and "
            "centroids with rps_2011 / rps_2047 (3 decimals, both > 0), as NDJSON."
        ),
    )
    def region_tile_features(
        context: dg.AssetExecutionContext, storage: OutputStorage, compute: ComputeResource
    ) -> dg.MaterializeResult:
        """Encode the region's buildings and centroids as GeoJSON features."""
        region_id = context.partition_key
        started = time.perf_counter()
        with final_on_bad_input():
            footprints, centroids, sizes, extent = compute.run(
                asset_name(context), region_features, storage, region_id
            )
        seconds = time.perf_counter() - started
        return dg.MaterializeResult(
            metadata={
                "path": dg.MetadataValue.path(storage.paths.tile_features(region_id)),
                "preview": dg.MetadataValue.url(preview_url(extent)),
                "dagster/row_count": footprints,
                "building_features": footprints,
                "centroid_features": centroids,
                "bytes_per_file": dg.MetadataValue.json(sizes),
                "seconds": round(seconds, 3),
            }
        )

    features_dep = dg.AssetDep(region_tile_features, partition_mapping=all_features)

    @dg.asset(
        deps=[features_dep, summary_stats],
        group_name=GROUP,
        kinds={"pmtiles", "tippecanoe"},
        code_version="1",
        description=(
            "Building footprints of every region with the 7 building variables (properties "
            "'0'..'6'); one PMTiles archive, layer 'risk', from zoom 6."
        ),
    )
    def building_pmtiles(
        context: dg.AssetExecutionContext, storage: OutputStorage, compute: ComputeResource
    ) -> dg.MaterializeResult:
        """Tile every region's footprint features."""
        return _tile_archive(
            context,
            partitions_def,
            storage,
            compute,
            BUILDING_FEATURES,
            storage.paths.building_pmtiles,
            BUILDING_TILES,
        )

    @dg.asset(
        deps=[features_dep, summary_stats],
        group_name=GROUP,
        kinds={"pmtiles", "tippecanoe"},
        code_version="1",
        description=(
            "Building centroids with rps_2011 and rps_2047 (properties '0', '1'; 3 decimals, "
            "only where both > 0); one PMTiles archive, layer 'risk'."
        ),
    )
    def building_centroid_pmtiles(
        context: dg.AssetExecutionContext, storage: OutputStorage, compute: ComputeResource
    ) -> dg.MaterializeResult:
        """Tile every region's centroid features."""
        return _tile_archive(
            context,
            partitions_def,
            storage,
            compute,
            CENTROID_FEATURES,
            storage.paths.building_centroid_pmtiles,
            CENTROID_TILES,
        )

    return TileAssets(
        features=region_tile_features,
        buildings=building_pmtiles,
        centroids=building_centroid_pmtiles,
    )


def _tile_archive(
    context: dg.AssetExecutionContext,
    partitions_def: dg.PartitionsDefinition,
    storage: OutputStorage,
    compute: ComputeResource,
    file_name: str,
    output: str,
    tileset: Tileset,
) -> dg.MaterializeResult:
    """Materialize one archive: :func:`tile_regions` on its cluster, timed, with
    :func:`_tiles_result`."""
    started = time.perf_counter()
    region_ids = partition_region_ids(context, partitions_def)
    with final_on_bad_input():
        summary = compute.run(
            asset_name(context), tile_regions, storage, region_ids, file_name, output, tileset
        )
    return _tiles_result(context, summary, region_ids, time.perf_counter() - started)


def _tiles_result(
    context: dg.AssetExecutionContext,
    summary: PMTilesSummary,
    region_ids: list[str],
    seconds: float,
) -> dg.MaterializeResult:
    """Materialization metadata of an archive, with its throughput."""
    rate = summary.features / max(seconds, 1e-9)
    context.log.info(
        f"{Path(summary.location).name}: {summary.features} features, zoom "
        f"{summary.min_zoom}..{summary.max_zoom}, {summary.bytes} bytes in {seconds:.1f} s "
        f"({rate:.0f} features/s)"
    )
    return dg.MaterializeResult(
        metadata={
            **pmtiles_metadata(summary),
            "preview": dg.MetadataValue.url(preview_url()),
            "seconds": round(seconds, 3),
            "features_per_second": round(rate, 1),
            **regions_metadata(region_ids),
        }
    )
