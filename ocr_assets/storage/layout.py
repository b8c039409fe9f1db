"""Where every output of the asset graph lives under a storage root: the one source of paths.

The layout follows the published Open Climate Risk buckets. Every output sits under a *scope*,
``{env}`` or, for versioned deployments, ``{env}/v{version}``::

    output/fire-risk/tensor/{scope}/ocr.icechunk                                   raster store
    intermediate/fire-risk/tensor/{scope}/wind-direction-distribution.zarr
    intermediate/fire-risk/vector/{scope}/geoparquet-regions/{region_id}.parquet
    intermediate/fire-risk/vector/{scope}/region-statistics-partials/{region_id}/
    intermediate/fire-risk/vector/{scope}/region-summary-stats/{level}_summary_stats.parquet
    intermediate/fire-risk/vector/{scope}/tile-features/{region_id}/
    intermediate/fire-risk/vector/{scope}/tile-shards/{asset}/{z}-{x}-{y}.pmtiles      shards
    output/fire-risk/vector/{scope}/geoparquet/consolidated-buildings.parquet
    output/fire-risk/vector/{scope}/geoparquet/buildings.parquet/                   hive folder
    output/fire-risk/vector/{scope}/region-analysis/{level}/
    output/fire-risk/vector/{scope}/pmtiles/{regions,buildings,building_centroids}.pmtiles
    output/fire-risk/pyramid/{scope}/pyramid.zarr
    output/fire-risk/deployment/{scope}/deployment.json                            run record
    output/fire-risk/deployment/{scope}/lease.json                     the deployment lease

Locations are strings, a local path or an ``s3://`` URI, so one layout serves both. Folders are
given without a trailing separator. Methods taking a region ID or level return the pattern
(with ``{region_id}`` / ``{level}`` left in) when called without one. Pure: no I/O, no Dagster.

:meth:`Layout.outputs` is the one table of what each asset writes (by output name), read by the
IO managers, the roll-up assets, ``ocr-assets plan`` and ``ocr-assets verify`` alike.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from pathlib import Path

from ocr_assets.storage.errors import StorageError

#: Every asset of the graph, in dependency order.
ASSET_KEYS: tuple[str, ...] = (
    "wind_direction_distribution",
    "region_risk_rasters",
    "region_buildings",
    "region_statistics_partials",
    "risk_pyramid",
    "buildings_geoparquet",
    "region_summary_stats",
    "region_analysis_files",
    "regional_pmtiles",
    "region_tile_features",
    "building_pmtiles",
    "building_centroid_pmtiles",
)

#: Assets partitioned by region ID; the others are CONUS roll-ups.
PARTITIONED_ASSETS: frozenset[str] = frozenset(
    {
        "region_risk_rasters",
        "region_buildings",
        "region_statistics_partials",
        "region_tile_features",
    }
)

#: Assets that only run when their optional branch is selected (the seed's ``--create-pyramid``
#: and ``--write-regional-stats`` flags).
OPTIONAL_ASSETS: frozenset[str] = frozenset({"risk_pyramid", "region_analysis_files"})

#: Placeholders left in path patterns (``Layout.region_buildings()`` without an ID, ...).
REGION_ID_PLACEHOLDER = "{region_id}"
LEVEL_PLACEHOLDER = "{level}"


def is_remote(location: str) -> bool:
    """True for URIs (``s3://...``), False for local paths."""
    return "://" in location


def join(root: str, *parts: str) -> str:
    """Join path segments onto a local path or a URI (``/`` separators for URIs)."""
    if is_remote(root):
        return posixpath.join(root, *parts)
    return str(Path(root).joinpath(*parts))


def local_path(location: str) -> Path:
    """The local path of ``location``.

    Raises:
        StorageError: for a remote location (use :mod:`ocr_assets.storage.objects` for those).
    """
    if is_remote(location):
        raise StorageError(
            f"{location} is remote; this operation needs a local path (read it through "
            "ocr_assets.storage.objects)"
        )
    return Path(location)


@dataclass(frozen=True)
class Layout:
    """The output locations of one environment (and optional version) under one storage root.

    Attributes:
        root: Local folder or ``s3://bucket/prefix`` holding every output.
        environment: ``local``, ``qa``, ``staging`` or ``production``.
        version: Semantic version without a leading ``v``; outputs then live under
            ``{env}/v{version}``.
    """

    root: str
    environment: str
    version: str | None = None

    def _scoped(self, *kind: str) -> str:
        parts = [*kind, self.environment]
        if self.version:
            parts.append(f"v{self.version}")
        return join(self.root, *parts)

    @property
    def scope(self) -> str:
        """``{env}`` or ``{env}/v{version}``: the part of every path that names the deployment."""
        return f"{self.environment}/v{self.version}" if self.version else self.environment

    @property
    def scope_folders(self) -> tuple[str, ...]:
        """Every folder holding this deployment's outputs: what a wipe deletes."""
        return tuple(
            self._scoped(stage, "fire-risk", kind)
            for stage, kind in (
                ("output", "tensor"),
                ("output", "vector"),
                ("output", "pyramid"),
                ("output", "deployment"),
                ("intermediate", "tensor"),
                ("intermediate", "vector"),
            )
        )

    @property
    def deployment_record(self) -> str:
        """The record of the latest deployment run (JSON: run, start, regions, completion)."""
        return join(self._scoped("output", "fire-risk", "deployment"), "deployment.json")

    @property
    def lease(self) -> str:
        """The deployment lease: which deployment of this scope is writing now
        (:mod:`ocr_assets.storage.lease`)."""
        return join(self._scoped("output", "fire-risk", "deployment"), "lease.json")

    @property
    def upload_folders(self) -> tuple[str, ...]:
        """Every folder an output folder is uploaded into under a temporary prefix (the parent
        of each output, and each output that holds folder outputs): where a killed upload's
        temporary prefix can be left (:func:`~ocr_assets.storage.objects.sweep_staging`)."""
        locations = {location for asset in ASSET_KEYS for location in self.outputs(asset).values()}
        parents = {posixpath.dirname(location.rstrip("/")) for location in locations}
        holders = {location for location in locations if "{" not in location}
        return tuple(sorted(parents | holders))

    def rollup_record(self, asset: str) -> str:
        """What the roll-up ``asset`` was last published from (JSON: regions, run, time); the
        subset guard (:func:`~ocr_assets.storage.guard.check_regions`) reads it."""
        return join(self._scoped("output", "fire-risk", "deployment"), "rollups", f"{asset}.json")

    # ------------------------------------------------------------------ rasters
    @property
    def raster_store(self) -> str:
        """The Icechunk repository holding the 30 m risk rasters of every region."""
        return join(self._scoped("output", "fire-risk", "tensor"), "ocr.icechunk")

    @property
    def wind_distribution(self) -> str:
        """The coarse fire-weather wind-direction distribution (Zarr)."""
        return join(
            self._scoped("intermediate", "fire-risk", "tensor"), "wind-direction-distribution.zarr"
        )

    @property
    def risk_pyramid(self) -> str:
        """The multiscale Web-Mercator Zarr of rps_2011 / rps_2047."""
        return join(self._scoped("output", "fire-risk", "pyramid"), "pyramid.zarr")

    # ------------------------------------------------------------------ per region
    @property
    def region_buildings_dir(self) -> str:
        """The folder of per-region building GeoParquet files."""
        return join(self._scoped("intermediate", "fire-risk", "vector"), "geoparquet-regions")

    def region_buildings(self, region_id: str = REGION_ID_PLACEHOLDER) -> str:
        """One region's building GeoParquet file."""
        return join(self.region_buildings_dir, f"{region_id}.parquet")

    @property
    def region_statistics_partials_dir(self) -> str:
        """The folder of per-region partial aggregates of the summary statistics."""
        return join(
            self._scoped("intermediate", "fire-risk", "vector"), "region-statistics-partials"
        )

    def region_statistics_partial(self, region_id: str = REGION_ID_PLACEHOLDER) -> str:
        """The folder of one region's partial aggregates."""
        return join(self.region_statistics_partials_dir, region_id)

    @property
    def tile_features_dir(self) -> str:
        """The folder of per-region tippecanoe inputs (tables of GeoJSON features)."""
        return join(self._scoped("intermediate", "fire-risk", "vector"), "tile-features")

    def tile_features(self, region_id: str = REGION_ID_PLACEHOLDER) -> str:
        """The folder of one region's building and building-centroid features."""
        return join(self.tile_features_dir, region_id)

    def tile_shards(self, asset: str) -> str:
        """The folder of an archive's shard archives (``{z}-{x}-{y}.pmtiles``, one per tile of
        the shard zoom), kept for the next build."""
        return join(self._scoped("intermediate", "fire-risk", "vector"), "tile-shards", asset)

    # ------------------------------------------------------------------ roll-ups
    @property
    def geoparquet_dir(self) -> str:
        """The folder of the published building GeoParquet."""
        return join(self._scoped("output", "fire-risk", "vector"), "geoparquet")

    @property
    def consolidated_buildings(self) -> str:
        """Every building in one GeoParquet file."""
        return join(self.geoparquet_dir, "consolidated-buildings.parquet")

    @property
    def partitioned_buildings(self) -> str:
        """Every building, hive-partitioned by ``state_fips`` / ``county_fips`` (a folder)."""
        return join(self.geoparquet_dir, "buildings.parquet")

    @property
    def region_summary_stats_dir(self) -> str:
        """The folder of the summary statistics, one GeoParquet file per census level."""
        return join(self._scoped("intermediate", "fire-risk", "vector"), "region-summary-stats")

    def region_summary_stats(self, level: str = LEVEL_PLACEHOLDER) -> str:
        """One census level's summary statistics GeoParquet."""
        return join(self.region_summary_stats_dir, f"{level}_summary_stats.parquet")

    @property
    def region_analysis_dir(self) -> str:
        """The folder of the per-level analysis files."""
        return join(self._scoped("output", "fire-risk", "vector"), "region-analysis")

    def region_analysis(self, level: str = LEVEL_PLACEHOLDER) -> str:
        """One census level's folder of ``stats.csv``, ``stats.geojson``, ``stats.parquet``."""
        return join(self.region_analysis_dir, level)

    # ------------------------------------------------------------------ tiles
    @property
    def pmtiles_dir(self) -> str:
        """The folder of the published PMTiles archives."""
        return join(self._scoped("output", "fire-risk", "vector"), "pmtiles")

    @property
    def regional_pmtiles(self) -> str:
        """The regional statistics archive (layers nation, states, counties, tracts, blocks)."""
        return join(self.pmtiles_dir, "regions.pmtiles")

    @property
    def building_pmtiles(self) -> str:
        """The building footprint archive."""
        return join(self.pmtiles_dir, "buildings.pmtiles")

    @property
    def building_centroid_pmtiles(self) -> str:
        """The building centroid archive."""
        return join(self.pmtiles_dir, "building_centroids.pmtiles")

    # ------------------------------------------------------------------ per asset
    def outputs(self, asset_key: str, region_id: str = REGION_ID_PLACEHOLDER) -> dict[str, str]:
        """What ``asset_key`` writes, by output name (region assets: for ``region_id``, or the
        pattern).

        Raises:
            KeyError: naming the key, when it is not one of :data:`ASSET_KEYS`.
        """
        outputs: dict[str, dict[str, str]] = {
            "wind_direction_distribution": {"distribution": self.wind_distribution},
            "region_risk_rasters": {"raster_store": self.raster_store},
            "region_buildings": {"buildings": self.region_buildings(region_id)},
            "region_statistics_partials": {"partial": self.region_statistics_partial(region_id)},
            "risk_pyramid": {"pyramid": self.risk_pyramid},
            "buildings_geoparquet": {
                "consolidated": self.consolidated_buildings,
                "hive": self.partitioned_buildings,
            },
            "region_summary_stats": {"statistics": self.region_summary_stats_dir},
            "region_analysis_files": {"analysis": self.region_analysis_dir},
            "regional_pmtiles": {"pmtiles": self.regional_pmtiles},
            "region_tile_features": {"features": self.tile_features(region_id)},
            "building_pmtiles": {"pmtiles": self.building_pmtiles},
            "building_centroid_pmtiles": {"pmtiles": self.building_centroid_pmtiles},
        }
        if asset_key not in outputs:
            raise KeyError(f"unknown asset key {asset_key!r}; expected one of {ASSET_KEYS}")
        return outputs[asset_key]

    def location(self, asset_key: str, region_id: str = REGION_ID_PLACEHOLDER) -> str:
        """The one location ``asset_key`` writes (for ``region_id``).

        Raises:
            KeyError: naming the key, when it is unknown or writes several outputs.
        """
        outputs = self.outputs(asset_key, region_id)
        if len(outputs) != 1:
            raise KeyError(f"{asset_key} writes {len(outputs)} outputs: {sorted(outputs)}")
        return next(iter(outputs.values()))
