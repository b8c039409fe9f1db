"""The raster store: one Icechunk repository holding the 30 m risk variables of every region.

Layout: one Zarr group on the full 30 m grid, latitude and longitude ascending, one chunk per
processing region, so regions never share a chunk. The group is created on first use from a
prototype region (variable names, attributes); after that each region writes only its own chunk
and commits once, with the message ``region {region_id}`` and the region ID in the commit
metadata. The commit history is therefore also the record of which regions are present. The
caller decides what else a region commit records; ``region_risk_rasters`` adds the identities of
the inputs the region was computed from (:mod:`ocr_assets.catalog.staleness`) and commits only
rasters that passed the region checks, so nothing unchecked reaches readers of the branch.

Concurrency. Regions write disjoint chunks, so a commit that finds the branch moved can rebase
onto it (``ConflictDetector``) without losing anything; a genuine conflict (two sessions
creating the group, or one region written twice at once) makes the losing writer redo its
write on a fresh session. Both loops are bounded: after ``max_attempts`` the write fails with
:class:`RasterStoreConflictError`. Icechunk's local-filesystem storage cannot update the branch
atomically (it says so itself and, measured, loses commits when two land at once), so on local
disk commits are serialised with an advisory file lock beside the repository; object stores do
this with conditional writes and need no lock.

Remote repositories (``s3://bucket/prefix``) use Icechunk's S3 storage with credentials from the
environment; the configured endpoint (``AWS_ENDPOINT_URL``) selects an S3-compatible server
(path-style addressing, plain HTTP allowed for ``http://`` endpoints), Icechunk's retry budget
set to the configured attempts
and every call to the repository bounded (:mod:`ocr_assets.storage.objects`): Icechunk's S3
client waits forever on an endpoint that accepts connections and never answers. Lookups (the
repository, its history, tags) get the probe deadline. Icechunk reports no bytes, so a write
is watched by its chunks: the session's store is wrapped (:class:`ProgressStore`) and every
chunk stored is progress, so a region write fails once no chunk was stored for the stall
time-out, however big the region. A commit writes a handful of small objects (manifests, the
snapshot, the branch reference) and reports nothing: it is one answer, bounded in all by the
stall time-out. There concurrency is Icechunk's
optimistic kind alone: a commit that lost the race rebases or is redone by the same bounded
loops.

Versions. :meth:`RasterStore.tag` names the current commit (production tags ``v{version}``);
:meth:`RasterStore.open` and :meth:`RasterStore.committed_regions` read a tag instead of the
branch when given one, so any tagged version can be read back.

Attributes (CF conventions, so xarray, rioxarray, odc-geo, GDAL and NetCDF export read the store
as it is; docs/rasters.md): every variable names the scalar ``spatial_ref`` coordinate, which holds
the CRS (``crs_wkt`` and GDAL's ``spatial_ref``), in ``grid_mapping``; ``valid_range`` is a pair
of numbers; every attribute is flat (strings, numbers, lists of numbers). The dataset attributes
are the metadata dict given to :meth:`RasterStore.ensure_layout`, ``Conventions`` and the region
grid as flat ``region_grid_*`` keys (:func:`grid_attrs`, read back with :func:`stored_grid`).
"""

from __future__ import annotations

import fcntl
import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import icechunk
import numpy as np
import pyproj
import xarray as xr
import zarr

from ocr_assets.regions import RegionGrid
from ocr_assets.storage import objects
from ocr_assets.storage.atomic import ensure_writable
from ocr_assets.storage.config import QUIET_ICECHUNK_LOG, current
from ocr_assets.storage.errors import StorageError
from ocr_assets.storage.layout import is_remote, local_path
from ocr_assets.storage.objects import Progress
from ocr_assets.storage.reads import bounded_reads

BRANCH = "main"
DIMS = ("latitude", "longitude")
#: The store's coordinate reference system (the 30 m inputs' grid).
CRS = "EPSG:4326"
#: Name of the CF grid-mapping coordinate holding the CRS (the rioxarray / odc-geo convention).
GRID_MAPPING = "spatial_ref"
CONVENTIONS = "CF-1.8"
#: Prefix of the flat dataset attributes recording the region grid.
GRID_ATTR_PREFIX = "region_grid_"
_COORD_ATTRS = {
    "latitude": {"standard_name": "latitude", "units": "degrees_north", "axis": "Y"},
    "longitude": {"standard_name": "longitude", "units": "degrees_east", "axis": "X"},
}
#: CF spellings of the science's units (UDUNITS ``percent``, as the published store writes).
_CF_UNITS = {"%": "percent"}
#: Dataset attribute of a region's rasters (JSON text) and key of its commit metadata: the
#: identities of the inputs the region was computed from (:mod:`ocr_assets.catalog.staleness`).
INPUT_VERSIONS = "input_versions"
#: Dataset attribute naming the region a region's rasters belong to.
REGION_ID = "region_id"

# Quiet until the entry point configures the storage (``ocr_assets.storage.config.configure``
# applies the user's ICECHUNK_LOG instead when it is set).
icechunk.set_logs_filter(QUIET_ICECHUNK_LOG)


class RasterStoreConflictError(RuntimeError):
    """A commit kept conflicting with concurrent writers after the allowed attempts."""


class ProgressStore(zarr.storage.WrapperStore[Any]):
    """A Zarr store that ticks ``progress`` whenever a key (a chunk, metadata) was stored."""

    def __init__(self, store: Any, progress: Progress) -> None:
        super().__init__(store)
        self.progress = progress

    async def set(self, key: str, value: Any) -> None:
        """Store ``value`` at ``key``, then tick the progress."""
        await super().set(key, value)
        self.progress.tick()


def icechunk_storage(location: str) -> icechunk.Storage:
    """Icechunk storage for a local folder or an ``s3://bucket/prefix`` location."""
    if not is_remote(location):
        return icechunk.local_filesystem_storage(str(local_path(location)))
    scheme, _, rest = location.partition("://")
    if scheme != "s3":
        raise StorageError(f"{location}: the raster store supports local folders and s3:// only")
    bucket, _, prefix = rest.partition("/")
    limits = current()
    endpoint = limits.endpoint_url
    return icechunk.s3_storage(
        bucket=bucket,
        prefix=prefix or None,
        region=limits.region,
        endpoint_url=endpoint,
        allow_http=bool(endpoint and endpoint.startswith("http://")),
        force_path_style=endpoint is not None,
        from_env=True,
        network_stream_timeout_seconds=max(1, round(limits.read_timeout)),
    )


def crs_attrs(crs: str) -> dict[str, Any]:
    """CF grid-mapping attributes of ``crs`` plus ``spatial_ref`` (its WKT, as GDAL reads it)."""
    attrs = dict(pyproj.CRS.from_user_input(crs).to_cf())
    attrs["spatial_ref"] = attrs["crs_wkt"]
    return require_flat_attrs(attrs, f"the CRS {crs}")


def require_flat_attrs(attrs: Mapping[str, Any], owner: str) -> dict[str, Any]:
    """``attrs`` as a dict, checked to hold only strings, numbers and lists of numbers.

    Those are the attribute types NetCDF, GDAL and every Zarr reader take.

    Raises:
        StorageError: naming ``owner``, the key and the type of the first other value.
    """

    def number(value: Any) -> bool:
        return isinstance(value, int | float | np.integer | np.floating) and not isinstance(
            value, bool | np.bool_
        )

    for key, value in attrs.items():
        flat = (
            isinstance(value, str)
            or number(value)
            or (
                isinstance(value, list | tuple | np.ndarray)
                and np.ndim(value) == 1
                and all(number(item) for item in value)
            )
        )
        if not flat:
            raise StorageError(
                f"{owner}: attribute {key!r} is a {type(value).__name__} ({value!r}); attributes "
                "must be strings, numbers or lists of numbers (NetCDF and Zarr readers)"
            )
    return dict(attrs)


def valid_range(name: str, spec: str | Sequence[float]) -> list[float]:
    """``[low, high]`` of a ``"low..high"`` text or a pair of numbers.

    Raises:
        StorageError: naming the variable, when ``spec`` is neither or ``low >= high``.
    """
    parts = spec.split("..") if isinstance(spec, str) else list(spec)
    try:
        low, high = (float(part) for part in parts)
    except (TypeError, ValueError):
        low = high = float("nan")
    if not low < high:
        raise StorageError(
            f"variable {name}: valid_range {spec!r} is not 'low..high' or a pair of numbers "
            "with low < high"
        )
    return [low, high]


def variable_attrs(name: str, attrs: Mapping[str, Any]) -> dict[str, Any]:
    """The stored attributes of variable ``name`` from its science attributes ``attrs``.

    CF: units in UDUNITS spelling, ``long_name`` (the description, if none), a numeric
    ``valid_range``, and ``grid_mapping`` naming the CRS coordinate.
    """
    out = dict(attrs)
    if "units" in out:
        out["units"] = _CF_UNITS.get(out["units"], out["units"])
    if "description" in out:
        out.setdefault("long_name", out["description"])
    if "valid_range" in out:
        out["valid_range"] = valid_range(name, out["valid_range"])
    out["grid_mapping"] = GRID_MAPPING
    return require_flat_attrs(out, f"variable {name}")


def grid_attrs(grid: RegionGrid) -> dict[str, float | int]:
    """The grid parameters as flat dataset attributes ``region_grid_{parameter}``."""
    return {f"{GRID_ATTR_PREFIX}{key}": value for key, value in grid.to_dict().items()}


def stored_grid(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """The grid parameters recorded in dataset attributes (``{}`` when none are)."""
    return {
        key.removeprefix(GRID_ATTR_PREFIX): value
        for key, value in attrs.items()
        if key.startswith(GRID_ATTR_PREFIX)
    }


def repository_config() -> icechunk.RepositoryConfig:
    """Icechunk's own retry budget for storage requests: the configured attempts."""
    retries = icechunk.StorageRetriesSettings(
        max_tries=current().attempts, initial_backoff_ms=200, max_backoff_ms=10_000
    )
    return icechunk.RepositoryConfig(storage=icechunk.StorageSettings(retries=retries))


def region_attrs(
    grid: RegionGrid, region_id: str, input_versions: Mapping[str, str]
) -> dict[str, Any]:
    """The attributes a region's rasters carry: the region, its grid and its inputs' identities.

    They say where the region goes in the store (:meth:`RasterStore.commit_region`) and what its
    commit records; they are flat, so the dataset stays writable by any Zarr or NetCDF writer.
    """
    return {
        REGION_ID: region_id,
        **grid_attrs(grid),
        INPUT_VERSIONS: json.dumps(dict(input_versions), sort_keys=True),
    }


def region_of(data: xr.Dataset) -> tuple[RegionGrid, str]:
    """The grid and region ID recorded in a region's rasters (:func:`region_attrs`).

    Raises:
        StorageError: when the attributes are missing.
    """
    grid = stored_grid(data.attrs)
    if REGION_ID not in data.attrs or not grid:
        raise StorageError(
            f"rasters without {REGION_ID!r} and {GRID_ATTR_PREFIX}* attributes cannot be placed "
            "in the raster store"
        )
    return RegionGrid(**grid), str(data.attrs[REGION_ID])


def store_window(grid: RegionGrid, region_id: str) -> tuple[slice, slice]:
    """The region's ``(latitude, longitude)`` index slices in the store's ascending layout.

    Region rows count from the south like the ascending latitude axis, so this is the region's
    pixel window; the last region row and column may be partial chunks.
    """
    return grid.window(region_id)


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
    def remote(self) -> bool:
        """True for object-store repositories (no local commit lock)."""
        return is_remote(self.location)

    def _commit_lock(self) -> AbstractContextManager[None]:
        """Serialise branch updates on local disk; object stores need no lock."""
        return nullcontext() if self.remote else self._file_lock()

    @contextmanager
    def _file_lock(self) -> Iterator[None]:
        """An advisory lock file beside the local repository (threads and processes)."""
        with open(f"{local_path(self.location)}.lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    @cached_property
    def repository(self) -> icechunk.Repository:
        """The repository, created (in an empty folder) if it does not exist yet."""
        if not self.remote:
            ensure_writable(str(local_path(self.location).parent))
        storage = icechunk_storage(self.location)
        with self._commit_lock():
            return self._call(
                "open raster store",
                lambda: icechunk.Repository.open_or_create(storage, config=repository_config()),
            )

    def _call(self, operation: str, fn: Callable[[], Any], retry: bool = True) -> Any:
        """``fn`` under the storage limits (deadline, bounded retries) for a remote store."""
        return objects.bounded_call(operation, self.location, fn, retry=retry)

    def exists(self) -> bool:
        """True when a repository is present at ``location``."""
        if not self.remote and not local_path(self.location).exists():
            return False
        storage = icechunk_storage(self.location)
        return bool(self._call("check raster store", lambda: icechunk.Repository.exists(storage)))

    # ------------------------------------------------------------------ committing
    def _transfer(self, operation: str, fn: Callable[[Progress], Any], retry: bool = True) -> Any:
        """``fn(progress)`` as a transfer (stall time-out) for a remote store."""
        return objects.bounded_transfer(operation, self.location, fn, retry=retry)

    def _commit(
        self,
        message: str,
        metadata: Mapping[str, Any],
        write: Callable[[zarr.abc.store.Store], None],
    ) -> str:
        """Run ``write`` on the store of a fresh session (each key stored is progress) and
        commit it, retrying on conflicts (bounded)."""
        last_error: Exception | None = None
        for attempt in range(1, self.max_attempts + 1):
            if attempt > 1:
                time.sleep(self.retry_delay * (attempt - 1))
            session = self._call("open session", lambda: self.repository.writable_session(BRANCH))
            self._transfer(
                f"write {message}",
                lambda progress, session=session: write(ProgressStore(session.store, progress)),
                retry=False,
            )
            if not session.has_uncommitted_changes:
                return session.snapshot_id
            try:
                with self._commit_lock():
                    # Not retried blindly: a commit that timed out may have landed.
                    return self._transfer(
                        f"commit {message}",
                        lambda _progress, session=session: session.commit(
                            message,
                            metadata=dict(metadata),
                            rebase_with=icechunk.ConflictDetector(),
                            rebase_tries=self.max_attempts,
                        ),
                        retry=False,
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
        filled with NaN (unwritten regions cost no storage); their attributes are
        :func:`variable_attrs` of ``prototype``'s. The group's attributes are ``attrs`` (the
        dataset metadata), ``Conventions`` and :func:`grid_attrs`; ``spatial_ref`` holds the CRS.

        Raises:
            StorageError: when the store was created for a different grid, or an attribute is
                not flat (strings, numbers, lists of numbers).
        """
        dataset_attrs = require_flat_attrs(attrs, f"raster store {self.location}")
        # ``coordinates`` makes xarray read ``spatial_ref`` as a coordinate of every variable.
        arrays = {
            str(name): {**variable_attrs(str(name), variable.attrs), "coordinates": GRID_MAPPING}
            for name, variable in prototype.data_vars.items()
        }

        def write(store: zarr.abc.store.Store) -> None:
            root = zarr.open_group(store, mode="a", zarr_format=3)
            stored = stored_grid(root.attrs)
            if not stored:
                if list(root.array_keys()):
                    raise StorageError(
                        f"raster store {self.location} holds arrays but no region grid "
                        f"attributes ({GRID_ATTR_PREFIX}*): written by an older version? Use "
                        "another OCR_STORAGE_ROOT or remove the store"
                    )
                root.attrs.update({**dataset_attrs, "Conventions": CONVENTIONS, **grid_attrs(grid)})
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
                root.create_array(
                    GRID_MAPPING,
                    shape=(),
                    dtype="int32",
                    fill_value=0,
                    dimension_names=[],
                    attributes=crs_attrs(CRS),
                )
            elif stored != grid.to_dict():
                raise StorageError(
                    f"raster store {self.location} was created for grid {stored}, not "
                    f"{grid.to_dict()}; use another OCR_STORAGE_ROOT or remove the store"
                )
            existing = set(root.array_keys())
            for name, variable_attributes in arrays.items():
                if name in existing:
                    continue
                root.create_array(
                    name,
                    shape=(grid.height, grid.width),
                    chunks=(grid.region_rows, grid.region_cols),
                    dtype="float32",
                    fill_value=np.nan,
                    dimension_names=list(DIMS),
                    attributes=variable_attributes,
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

        def write(store: zarr.abc.store.Store) -> None:
            payload.to_zarr(
                store,
                region={"latitude": lat_slice, "longitude": lon_slice},
                mode="r+",
                consolidated=False,
            )

        return self._commit(
            f"region {region_id}", {**(metadata or {}), "region_id": region_id}, write
        )

    def commit_region(
        self, data: xr.Dataset, metadata: Mapping[str, Any], store_attrs: Mapping[str, Any]
    ) -> str:
        """Commit a region's rasters (placed by their :func:`region_attrs`); the snapshot ID.

        The store is created on first use with ``store_attrs`` (the dataset metadata); the
        commit records ``metadata``, the region and the identities of its inputs.

        Raises:
            StorageError: the rasters carry no region attributes, are off the region's window,
                or the store was built for another grid.
            RasterStoreConflictError: when concurrent commits kept conflicting.
        """
        grid, region_id = region_of(data)
        self.ensure_layout(grid, data, store_attrs)
        recorded = json.loads(data.attrs.get(INPUT_VERSIONS, "{}"))
        return self.write_region(grid, region_id, data, {**metadata, INPUT_VERSIONS: recorded})

    def region(self, region_id: str) -> xr.Dataset:
        """A committed region's rasters, lazily (dask, one chunk per variable), with the region
        attributes (:func:`region_attrs`, without input identities).

        Raises:
            StorageError: naming the store when the region has not been committed to it.
        """
        if region_id not in self.committed_regions():
            raise StorageError(
                f"region {region_id} is not in the raster store {self.location}: "
                "materialize region_risk_rasters for it first"
            )
        session = self._call(
            "open raster store session", lambda: self.repository.readonly_session(branch=BRANCH)
        )
        whole = xr.open_zarr(
            bounded_reads(session.store, self.location), consolidated=False, chunks={}
        )
        grid = RegionGrid(**stored_grid(whole.attrs))
        latitude, longitude = store_window(grid, region_id)
        region = whole.isel(latitude=latitude, longitude=longitude)
        region.attrs = {REGION_ID: region_id, **grid_attrs(grid)}
        return region

    def open(self, tag: str | None = None) -> xr.Dataset:
        """The whole store as a lazily loaded dataset (latest commit, or the commit of ``tag``)."""
        session = self._call(
            "open raster store session",
            lambda: (
                self.repository.readonly_session(tag=tag)
                if tag
                else self.repository.readonly_session(branch=BRANCH)
            ),
        )
        return xr.open_zarr(
            bounded_reads(session.store, self.location), consolidated=False, chunks=None
        )

    def read_region(self, grid: RegionGrid, region_id: str) -> xr.Dataset:
        """The region's window of every variable (lazily loaded)."""
        lat_slice, lon_slice = store_window(grid, region_id)
        return self.open().isel(latitude=lat_slice, longitude=lon_slice)

    def grid_parameters(self) -> dict[str, Any]:
        """The grid parameters the store was created for (``{}`` before its layout exists)."""
        return stored_grid(self.open().attrs)

    def region_commits(self, tag: str | None = None) -> dict[str, icechunk.SnapshotInfo]:
        """Region IDs present in the store, each with its latest commit (ID and metadata).

        With ``tag``, the regions of the tagged commit's history instead of the branch's.
        """
        if not self.exists():
            return {}
        history = self._call(
            "read raster store history",
            lambda: list(
                self.repository.ancestry(tag=tag)
                if tag
                else self.repository.ancestry(branch=BRANCH)
            ),
        )
        regions: dict[str, icechunk.SnapshotInfo] = {}
        for snapshot in history:
            region_id = snapshot.metadata.get("region_id")
            if region_id is not None and str(region_id) not in regions:
                regions[str(region_id)] = snapshot
        return regions

    def committed_regions(self, tag: str | None = None) -> dict[str, str]:
        """Region IDs present in the store, each with the snapshot ID of its latest commit.

        With ``tag``, the regions of the tagged commit's history instead of the branch's.
        """
        return {region_id: info.id for region_id, info in self.region_commits(tag).items()}

    def tags(self) -> set[str]:
        """The tags of the repository (empty when it does not exist)."""
        if not self.exists():
            return set()
        return set(self._call("list raster store tags", lambda: self.repository.list_tags()))

    def tag(self, name: str) -> str:
        """Tag the branch's latest commit ``name`` and return its snapshot ID.

        Re-tagging the same commit is a no-op; a tag naming another commit is kept (tags are
        immutable, so a published version's rasters stay readable).

        Raises:
            StorageError: when ``name`` already names a different commit.
        """
        snapshot_id = self._call("look up branch", lambda: self.repository.lookup_branch(BRANCH))
        if name in self.tags():
            tagged = self._call("look up tag", lambda: self.repository.lookup_tag(name))
            if tagged != snapshot_id:
                raise StorageError(
                    f"raster store {self.location}: tag {name!r} already names snapshot "
                    f"{tagged}, not the latest {snapshot_id}; publish a new version instead"
                )
            return snapshot_id
        self._call(
            f"tag {name}", lambda: self.repository.create_tag(name, snapshot_id), retry=False
        )
        return snapshot_id
