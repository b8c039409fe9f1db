"""The raster store: one Icechunk repository holding the 30 m risk variables of every region.

Layout: one Zarr group on the full 30 m grid, latitude and longitude ascending, one chunk per
processing region, so regions never share a chunk. The group is created on first use from a
prototype region (variable names, attributes); after that each region writes only its own chunk
and commits once, with the message ``region {region_id}`` and the region ID in the commit
metadata. The commit history is therefore also the record of which regions are present.

Concurrency. Regions write disjoint chunks, so a commit that finds the branch moved can rebase
onto it (``ConflictDetector``) without losing anything; a genuine conflict (two sessions
creating the group, or one region written twice at once) makes the losing writer redo its
write on a fresh session. Both loops are bounded: after ``max_attempts`` the write fails with
:class:`RasterStoreConflictError`. Icechunk's local-filesystem storage cannot update the branch
atomically (it says so itself and, measured, loses commits when two land at once), so on local
disk commits are serialised with an advisory file lock beside the repository; object stores do
this with conditional writes and need no lock.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import icechunk
import numpy as np
import xarray as xr
import zarr

from ocr_assets.regions import RegionGrid
from ocr_assets.storage.atomic import ensure_writable
from ocr_assets.storage.paths import StorageError, local_path

BRANCH = "main"
DIMS = ("latitude", "longitude")
_COORD_ATTRS = {
    "latitude": {"standard_name": "latitude", "units": "degrees_north"},
    "longitude": {"standard_name": "longitude", "units": "degrees_east"},
}


# Local commits are serialised by the lock below, which answers Icechunk's warning that local
# storage cannot update a branch atomically; keep that warning out of every run's log unless the
# user configured Icechunk's logging (ICECHUNK_LOG).
if "ICECHUNK_LOG" not in os.environ:
    icechunk.set_logs_filter("warn,icechunk::storage::object_store=error")


class RasterStoreConflictError(RuntimeError):
    """A commit kept conflicting with concurrent writers after the allowed attempts."""


def store_window(grid: RegionGrid, region_id: str) -> tuple[slice, slice]:
    """The region's ``(latitude, longitude)`` index slices in the store's ascending layout."""
    rows, cols = grid.window(region_id)
    return grid.latitude_index(rows), cols


@dataclass(frozen=True)
class RasterStore:
    """An Icechunk repository at ``location`` (created on first use).

    Attributes:
        location: Folder of the repository.
        max_attempts: Write attempts on a fresh session after a genuine conflict; the same
            number bounds Icechunk's rebase loop inside each commit.
        retry_delay: Seconds to wait before attempt ``n`` is ``retry_delay * (n - 1)``.
    """

    location: str
    max_attempts: int = 5
    retry_delay: float = 0.2

    @property
    def _lock_path(self) -> str:
        return f"{local_path(self.location)}.lock"

    @contextmanager
    def _commit_lock(self) -> Iterator[None]:
        """Serialise branch updates between threads and processes on local disk."""
        with open(self._lock_path, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    @cached_property
    def repository(self) -> icechunk.Repository:
        """The repository, created (in an empty folder) if it does not exist yet."""
        path = local_path(self.location)
        ensure_writable(str(path.parent))
        with self._commit_lock():
            return icechunk.Repository.open_or_create(icechunk.local_filesystem_storage(str(path)))

    def exists(self) -> bool:
        """True when a repository is present at ``location``."""
        path = local_path(self.location)
        return path.exists() and icechunk.Repository.exists(
            icechunk.local_filesystem_storage(str(path))
        )

    # ------------------------------------------------------------------ committing
    def _commit(
        self, message: str, metadata: Mapping[str, Any], write: Callable[[icechunk.Session], None]
    ) -> str:
        """Run ``write`` on a fresh session and commit it, retrying on conflicts (bounded)."""
        last_error: Exception | None = None
        for attempt in range(1, self.max_attempts + 1):
            if attempt > 1:
                time.sleep(self.retry_delay * (attempt - 1))
            session = self.repository.writable_session(BRANCH)
            write(session)
            if not session.has_uncommitted_changes:
                return session.snapshot_id
            try:
                with self._commit_lock():
                    return session.commit(
                        message,
                        metadata=dict(metadata),
                        rebase_with=icechunk.ConflictDetector(),
                        rebase_tries=self.max_attempts,
                    )
            except (icechunk.ConflictError, icechunk.RebaseFailedError) as error:
                last_error = error
        raise RasterStoreConflictError(
            f"{self.location}: commit {message!r} still conflicted after {self.max_attempts} "
            f"attempts; last error: {last_error}"
        )

    # ------------------------------------------------------------------ layout
    def ensure_layout(
        self, grid: RegionGrid, prototype: xr.Dataset, attrs: Mapping[str, Any]
    ) -> None:
        """Create the full-grid group and any variable of ``prototype`` it does not hold yet.

        Variables are float32 ``(latitude, longitude)`` arrays chunked one region per chunk and
        filled with NaN (unwritten regions cost no storage); they take ``prototype``'s attributes.
        The group's attributes are ``attrs`` plus ``grid`` (the grid parameters).

        Raises:
            StorageError: when the store was created for a different grid.
        """

        def write(session: icechunk.Session) -> None:
            root = zarr.open_group(session.store, mode="a", zarr_format=3)
            stored = root.attrs.get("grid")
            if stored is None:
                root.attrs.update({**attrs, "grid": grid.to_dict()})
                for name, values in (
                    ("latitude", grid.latitude()),
                    ("longitude", grid.longitude()),
                ):
                    array = root.create_array(
                        name,
                        shape=values.shape,
                        chunks=values.shape,
                        dtype="float64",
                        dimension_names=[name],
                        attributes=_COORD_ATTRS[name],
                    )
                    array[:] = values
            elif stored != grid.to_dict():
                raise StorageError(
                    f"raster store {self.location} was created for grid {stored}, not "
                    f"{grid.to_dict()}; use another OCR_STORAGE_ROOT or remove the store"
                )
            existing = set(root.array_keys())
            for name, variable in prototype.data_vars.items():
                if name in existing:
                    continue
                root.create_array(
                    str(name),
                    shape=(grid.height, grid.width),
                    chunks=(grid.region_rows, grid.region_cols),
                    dtype="float32",
                    fill_value=np.nan,
                    dimension_names=list(DIMS),
                    attributes=dict(variable.attrs),
                )

        self._commit("initialise raster store layout", {"layout": True}, write)

    # ------------------------------------------------------------------ regions
    def write_region(
        self,
        grid: RegionGrid,
        region_id: str,
        data: xr.Dataset,
        metadata: Mapping[str, Any] | None = None,
    ) -> str:
        """Write one region's variables into its chunk and commit; return the snapshot ID.

        ``data`` must be exactly the region's window: dims ``(latitude, longitude)``, ascending
        coordinates equal to the grid's pixel centres (to a thousandth of a pixel).

        Raises:
            StorageError: when ``data`` is not on the region's window.
            RasterStoreConflictError: when concurrent commits kept conflicting.
        """
        lat_slice, lon_slice = store_window(grid, region_id)
        expected = {
            "latitude": grid.latitude()[lat_slice],
            "longitude": grid.longitude()[lon_slice],
        }
        for dim, values in expected.items():
            actual = data.indexes.get(dim)
            if actual is None or len(actual) != len(values):
                got = "missing" if actual is None else f"{len(actual)} values"
                raise StorageError(
                    f"region {region_id}: {dim} has {got}, the region window has {len(values)}"
                )
            offset = float(np.max(np.abs(np.asarray(actual) - values)))
            if offset > grid.pixel_size * 1e-3:
                raise StorageError(
                    f"region {region_id}: {dim} is off the region window by up to {offset:.3g} "
                    "degrees (it must be on the grid's pixel centres)"
                )
        payload = xr.Dataset(
            {
                name: (DIMS, np.asarray(variable.transpose(*DIMS).values, dtype=np.float32))
                for name, variable in data.data_vars.items()
            }
        )

        def write(session: icechunk.Session) -> None:
            payload.to_zarr(
                session.store,
                region={"latitude": lat_slice, "longitude": lon_slice},
                mode="r+",
                consolidated=False,
            )

        return self._commit(
            f"region {region_id}", {**(metadata or {}), "region_id": region_id}, write
        )

    def open(self) -> xr.Dataset:
        """The whole store as a lazily loaded dataset (latest commit on the branch)."""
        session = self.repository.readonly_session(branch=BRANCH)
        return xr.open_zarr(session.store, consolidated=False, chunks=None)

    def read_region(self, grid: RegionGrid, region_id: str) -> xr.Dataset:
        """The region's window of every variable (lazily loaded)."""
        lat_slice, lon_slice = store_window(grid, region_id)
        return self.open().isel(latitude=lat_slice, longitude=lon_slice)

    def committed_regions(self) -> dict[str, str]:
        """Region IDs present in the store, each with the snapshot ID of its latest commit."""
        if not self.exists():
            return {}
        regions: dict[str, str] = {}
        for snapshot in self.repository.ancestry(branch=BRANCH):
            region_id = snapshot.metadata.get("region_id")
            if region_id is not None and region_id not in regions:
                regions[str(region_id)] = snapshot.id
        return regions
