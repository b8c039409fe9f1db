"""Phase 03: building and building-centroid PMTiles.

What is incremental
    ``region_tile_features`` is partitioned by region: it encodes one region's footprints and
    centroids as newline-delimited GeoJSON (tippecanoe's input). Re-materializing a region
    rewrites only its own feature files. The two archives are then tiled from all regions'
    feature files by one tippecanoe run each; tiling itself is not incremental (see
    :mod:`ocr_assets.rollups.tiles`).

Each asset's work (:func:`region_features`, :func:`tile_regions`) is returned as a
:class:`~ocr_assets.outputs.Deferred`; the ``files_io_manager`` runs it on the asset's own
cluster and publishes its files atomically.

``building_pmtiles`` and ``building_centroid_pmtiles`` are independent of each other, so an
executor with more than one process builds them in parallel. Both also depend on
``region_summary_stats``, whose blocking checks must pass before any tile is published (the
seed's order: phase 03 after phase 02).
"""

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg

from ocr_assets.assets.regions import REGION_RETRY_POLICY, RegionAssets
from ocr_assets.assets.rollup_support import dataset_metadata, pmtiles_metadata, regions_metadata
from ocr_assets.io_managers import FILES_IO_MANAGER
from ocr_assets.outputs import Deferred
from ocr_assets.preview import preview_url
from ocr_assets.resources import OutputStorage
from ocr_assets.rollups import (
    BUILDING_TILES,
    CENTROID_TILES,
    DatasetMetadata,
    Tileset,
    tile_features,
    write_building_features,
    write_centroid_features,
)
from ocr_assets.rollups._sources import TableSource, parquet_file, source_name
from ocr_assets.rollups.tiles import BUILDING_LAYER, PMTilesSummary
from ocr_assets.rollups.validation import geo_metadata
from ocr_assets.storage import StorageError, join, objects

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
    features: Mapping[str, str],
    file_name: str,
    tileset: Tileset,
    metadata: DatasetMetadata,
    *,
    outputs: Mapping[str, str],
) -> PMTilesSummary:
    """Tile every region's ``file_name`` features (layer ``risk``) into ``outputs["pmtiles"]``.

    ``features`` is every region's features folder (``region_tile_features``). Regions
    without features (empty files) contribute nothing and are left out of the tippecanoe
    command; their partitions still count as built from. Runs on the archive's cluster.

    Raises:
        StorageError: no region has any feature.
    """
    files = [join(folder, file_name) for folder in features.values()]
    non_empty = [f for f in files if objects.size(f) > 0]
    if not non_empty:
        raise StorageError(
            f"no features to tile into {tileset.name}: every region's {file_name} is empty"
        )
    return tile_features({BUILDING_LAYER: non_empty}, outputs["pmtiles"], tileset, metadata)


def region_features(
    buildings: TableSource, *, outputs: Mapping[str, str]
) -> tuple[int, int, dict[str, int], list[float] | None]:
    """Encode one region's buildings and centroids as GeoJSON features (on the region cluster).

    Both files go into one folder (``outputs["features"]``), published whole.

    Returns:
        The number of footprint and centroid features, the size in bytes of each file, and the
        buildings' extent (west, south, east, north; ``None`` for a region without buildings).
    """
    folder = Path(outputs["features"])
    folder.mkdir(parents=True)
    footprints = write_building_features(buildings, str(folder / BUILDING_FEATURES))
    centroids = write_centroid_features(buildings, str(folder / CENTROID_FEATURES))
    sizes = {p.name: p.stat().st_size for p in folder.iterdir()}
    geo = geo_metadata(parquet_file(buildings).schema_arrow, source_name(buildings))
    extent = geo["columns"][geo["primary_column"]].get("bbox") if footprints else None
    return footprints, centroids, sizes, extent


def describe_features(
    summary: tuple[int, int, dict[str, int], list[float] | None],
) -> dict[str, Any]:
    """Materialization metadata of a region's tile features."""
    footprints, centroids, sizes, extent = summary
    return {
        "preview": dg.MetadataValue.url(preview_url(extent)),
        "dagster/row_count": footprints,
        "building_features": footprints,
        "centroid_features": centroids,
        "bytes_per_file": dg.MetadataValue.json(sizes),
    }


def build_tile_assets(
    partitions_def: dg.PartitionsDefinition,
    region: RegionAssets,
    summary_stats: dg.AssetsDefinition,
    retry_policy: dg.RetryPolicy = REGION_RETRY_POLICY,
) -> TileAssets:
    """Build the phase 03 assets over the region partitions ``partitions_def``.

    ``summary_stats`` (``region_summary_stats``) gates the archives through its blocking checks.
    """

    @dg.asset(
        partitions_def=partitions_def,
        ins={"buildings": dg.AssetIn(region.buildings.key)},
        io_manager_key=FILES_IO_MANAGER,
        retry_policy=retry_policy,
        group_name=GROUP,
        kinds={"duckdb", "geojson"},
        code_version="1",
        description=(
            "The region's tippecanoe inputs: footprints with the 7 building variables, and "
            "centroids with rps_2011 / rps_2047 (3 decimals, both > 0), as NDJSON."
        ),
    )
    def region_tile_features(buildings: Any) -> Deferred:
        """The region's buildings and centroids as GeoJSON features."""
        return Deferred(region_features, (buildings,), describe_features)

    all_features = dg.AssetIn(region_tile_features.key, partition_mapping=dg.AllPartitionMapping())

    @dg.asset(
        ins={"features": all_features},
        deps=[summary_stats],
        io_manager_key=FILES_IO_MANAGER,
        group_name=GROUP,
        kinds={"pmtiles", "tippecanoe"},
        code_version="1",
        description=(
            "Building footprints of every region with the 7 building variables (properties "
            "'0'..'6'); one PMTiles archive, layer 'risk', from zoom 6."
        ),
    )
    def building_pmtiles(storage: OutputStorage, features: dict[str, str]) -> dg.Output[Deferred]:
        """Every region's footprint features, tiled."""
        return _tile_archive(storage, features, BUILDING_FEATURES, BUILDING_TILES)

    @dg.asset(
        ins={"features": all_features},
        deps=[summary_stats],
        io_manager_key=FILES_IO_MANAGER,
        group_name=GROUP,
        kinds={"pmtiles", "tippecanoe"},
        code_version="1",
        description=(
            "Building centroids with rps_2011 and rps_2047 (properties '0', '1'; 3 decimals, "
            "only where both > 0); one PMTiles archive, layer 'risk'."
        ),
    )
    def building_centroid_pmtiles(
        storage: OutputStorage, features: dict[str, str]
    ) -> dg.Output[Deferred]:
        """Every region's centroid features, tiled."""
        return _tile_archive(storage, features, CENTROID_FEATURES, CENTROID_TILES)

    return TileAssets(
        features=region_tile_features,
        buildings=building_pmtiles,
        centroids=building_centroid_pmtiles,
    )


def _tile_archive(
    storage: OutputStorage, features: dict[str, str], file_name: str, tileset: Tileset
) -> dg.Output[Deferred]:
    """One archive's result: :func:`tile_regions` over every region's ``file_name``."""
    return dg.Output(
        Deferred(
            tile_regions,
            (features, file_name, tileset, dataset_metadata(storage)),
            pmtiles_metadata,
        ),
        metadata={"preview": dg.MetadataValue.url(preview_url()), **regions_metadata(features)},
    )
