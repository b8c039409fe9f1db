"""Where every output lives under the storage root.

The layout follows the published Open Climate Risk buckets, so existing readers find things
where they expect them::

    {root}/output/fire-risk/tensor/{env}[/v{version}]/ocr.icechunk
    {root}/intermediate/fire-risk/vector/{env}[/v{version}]/geoparquet-regions/{region_id}.parquet
    {root}/intermediate/fire-risk/tensor/{env}[/v{version}]/wind-direction-distribution.zarr

Locations are strings (a local path or an ``s3://`` URI), so the same layout serves both; the
storage helpers turn them into something they can write to.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from pathlib import Path


class StorageError(RuntimeError):
    """An output location cannot be used; the message names the location and the reason."""


def is_remote(location: str) -> bool:
    """True for URIs (``s3://...``), False for local paths."""
    return "://" in location


def join(root: str, *parts: str) -> str:
    """Join path segments onto a local path or a URI."""
    if is_remote(root):
        return posixpath.join(root, *parts)
    return str(Path(root).joinpath(*parts))


def local_path(location: str) -> Path:
    """The local path of ``location``.

    Remote roots validate (``OCR_STORAGE_ROOT=s3://...``) but this build writes only to local
    disk; every write funnels through here so object storage slots in at one place.
    """
    if is_remote(location):
        raise StorageError(
            f"{location}: this build writes outputs to local folders only; set OCR_STORAGE_ROOT "
            "to a local folder"
        )
    return Path(location)


@dataclass(frozen=True)
class OutputPaths:
    """The output layout for one environment (and optional version) under one storage root."""

    root: str
    environment: str
    version: str | None = None

    def _scoped(self, *kind: str) -> str:
        parts = [*kind, self.environment]
        if self.version:
            parts.append(f"v{self.version}")
        return join(self.root, *parts)

    @property
    def raster_store(self) -> str:
        """The Icechunk repository holding the 30 m risk rasters of every region."""
        return join(self._scoped("output", "fire-risk", "tensor"), "ocr.icechunk")

    @property
    def wind_distribution(self) -> str:
        """The coarse (CONUS404 grid) fire-weather wind-direction distribution (Zarr)."""
        return join(
            self._scoped("intermediate", "fire-risk", "tensor"), "wind-direction-distribution.zarr"
        )

    @property
    def region_buildings_dir(self) -> str:
        """The folder of per-region building GeoParquet files."""
        return join(self._scoped("intermediate", "fire-risk", "vector"), "geoparquet-regions")

    def region_buildings(self, region_id: str) -> str:
        """The GeoParquet file of one region's buildings."""
        return join(self.region_buildings_dir, f"{region_id}.parquet")
