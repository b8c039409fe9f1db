"""Dagster resources: where the inputs are, where outputs are stored, and what computes.

Assets, checks and ops receive these by parameter name (``catalog``, ``storage``, ``compute``).
The code location builds them from the validated :class:`~ocr_assets.config.settings.Settings`
(:meth:`from_settings`); the settings taken from the process environment are configured as
``dg.EnvVar``, so the UI names the variable each comes from and every run reads it when it
starts.

:class:`ComputeResource` is how an asset's work reaches its own sized cluster:

- :meth:`~ComputeResource.run` runs a module-level function on the asset's cluster and returns
  its (small) result: the roll-ups, which write their outputs there, and the checks;
- :meth:`~ComputeResource.persist` runs it and keeps the (large) result on the cluster: the region
  assets return that lazy value, and their IO manager stores it there
  (:func:`~ocr_assets.orchestration.clusters.run_where_it_lives`). On the process's own
  in-process cluster (local runs, tests) the value itself comes back, at no cost.

Clusters holding kept values stay open until the run ends (Dagster tears the resource down);
others close as soon as their call returns.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

import dagster as dg
import dask
import numpy as np
import xarray as xr
from pydantic import PrivateAttr, field_validator

from ocr_assets.catalog import InputCatalog
from ocr_assets.config.compute import ClusterSpec, cluster_spec, parse_backend, parse_overrides
from ocr_assets.config.environments import get_policy, validate_storage_root
from ocr_assets.config.naming import DeploymentError, validate_version
from ocr_assets.config.settings import Settings, SettingsError, check_range
from ocr_assets.orchestration.clusters import (
    STALL_SECONDS,
    ClusterFactory,
    ClusterStalledError,
    WorkerRun,
    make_cluster,
    result_of,
    shared_local_cluster,
    task,
    wait_for,
)
from ocr_assets.orchestration.errors import final_on_bad_input
from ocr_assets.regions import region_sort_key
from ocr_assets.rollups.schema import DatasetMetadata
from ocr_assets.storage import Layout, RasterStore, StorageError, ensure_writable, objects
from ocr_assets.storage.guard import LossGuard, record_regions

PROVIDER = "CarbonPlan"
LICENSE = "CC-BY-4.0"
LICENSE_URL = "https://creativecommons.org/licenses/by/4.0/"


def from_env_var(value: Any, variable: str, settings: Settings) -> Any:
    """``dg.EnvVar(variable)`` when ``settings`` took ``value`` from that variable, else ``value``.

    A value validation changed (a relative path made absolute once, at load) stays a literal, so
    every run agrees on it whatever its working directory.
    """
    return dg.EnvVar(variable) if variable in settings.from_environment else value


def _validated(value: Any, check: Callable[[Any], Any]) -> Any:
    """``check(value)`` as a settings error, passing an unresolved ``dg.EnvVar`` through."""
    if isinstance(value, dg.EnvVar):
        return value
    try:
        return check(value)
    except SettingsError:
        raise
    except DeploymentError as error:
        raise SettingsError(str(error)) from error


class InputCatalogResource(dg.ConfigurableResource):
    """The input data sets (synthetic demo inputs or the real public data) under ``root``."""

    root: str

    @field_validator("root", mode="before")
    @classmethod
    def _check_root(cls, value: str) -> str:
        return _validated(value, lambda v: validate_storage_root(v, "OCR_INPUT_ROOT"))

    @classmethod
    def from_settings(cls, settings: Settings) -> InputCatalogResource:
        """The inputs of ``settings``."""
        return cls(root=from_env_var(settings.input_root, "OCR_INPUT_ROOT", settings))

    def catalog(self) -> InputCatalog:
        """The catalog of the input data sets."""
        return InputCatalog(self.root)


class OutputStorage(dg.ConfigurableResource):
    """Where outputs are written for one environment (and optional version).

    Attributes:
        root: Local folder or ``s3://bucket/prefix`` holding every output.
        environment: ``local``, ``qa``, ``staging`` or ``production``.
        version: Optional semantic version; outputs then live under ``v{version}``.
        commit_attempts: Bound on the raster store's conflict retries per region commit.
        max_output_loss: Largest share of a published roll-up's content (buildings) a new one
            may lose (``OCR_MAX_OUTPUT_LOSS``); see :attr:`guard`.
        force: Replace published roll-ups whatever they lose (``OCR_FORCE``).
        tile_shard_zoom: Zoom of the building tiles' shards (``OCR_TILE_SHARD_ZOOM``).
    """

    root: str
    environment: str = "local"
    version: str | None = None
    commit_attempts: int = 5
    max_output_loss: float = 0.5
    force: bool = False
    tile_shard_zoom: int = 6

    @field_validator("root", mode="before")
    @classmethod
    def _check_root(cls, value: str) -> str:
        return _validated(value, lambda v: validate_storage_root(v, "OCR_STORAGE_ROOT"))

    @field_validator("environment", mode="before")
    @classmethod
    def _check_environment(cls, value: str) -> str:
        return _validated(value, lambda v: get_policy(v).name)

    @field_validator("version", mode="before")
    @classmethod
    def _check_version(cls, value: str | None) -> str | None:
        return _validated(value, lambda v: validate_version(v) if v else None)

    @field_validator("max_output_loss")
    @classmethod
    def _check_max_output_loss(cls, value: float) -> float:
        return check_range(value, "OCR_MAX_OUTPUT_LOSS", 0.0, 1.0)

    @classmethod
    def from_settings(cls, settings: Settings) -> OutputStorage:
        """The storage of ``settings`` (roots, environment and version as ``dg.EnvVar`` where
        they came from the process environment; the loss guard's number and flag as values:
        ``EnvVar`` holds strings and integers only)."""
        return cls(
            root=from_env_var(settings.storage_root, "OCR_STORAGE_ROOT", settings),
            environment=from_env_var(settings.environment, "OCR_ENVIRONMENT", settings),
            version=from_env_var(settings.version, "OCR_VERSION", settings),
            max_output_loss=settings.max_output_loss,
            force=settings.force,
            tile_shard_zoom=int(settings.tile_shard_zoom or 6),
        )

    @property
    def layout(self) -> Layout:
        """The output layout under ``root``."""
        return Layout(self.root, self.environment, self.version)

    @property
    def guard(self) -> LossGuard:
        """The loss guard of the roll-ups (:mod:`ocr_assets.storage.guard`)."""
        return LossGuard(self.max_output_loss, self.force)

    @property
    def dataset_metadata(self) -> DatasetMetadata:
        """The dataset metadata published with every output: ``version``, or ``unversioned``."""
        return DatasetMetadata.for_version(self.version)

    @property
    def dataset_version(self) -> str:
        """The version stamped on published datasets: ``version`` or the package version."""
        return self.version or importlib.metadata.version("ocr-assets")

    @property
    def dataset_attrs(self) -> dict[str, str]:
        """Attributes every published dataset carries (version, provider, licence)."""
        return {
            "version": self.dataset_version,
            "environment": self.environment,
            "provider": PROVIDER,
            "license": LICENSE,
            "license_url": LICENSE_URL,
        }

    def ensure_writable(self) -> None:
        """Fail fast, naming the folder, when the storage root cannot be written."""
        ensure_writable(self.root)

    def raster_store(self) -> RasterStore:
        """The Icechunk raster store of the environment."""
        return RasterStore(self.layout.raster_store, max_attempts=self.commit_attempts)

    def built_regions(self, assets: Sequence[str], rollup: str | None = None) -> list[str]:
        """The regions a roll-up is built from: every region committed to the raster store, each
        checked to have the per-region outputs of ``assets``, south-west first.

        With ``rollup`` (the roll-up about to be published), also the subset guard: the regions
        must include every region it was last published from, unless forced
        (:meth:`~ocr_assets.storage.guard.LossGuard.check_regions`).

        Raises:
            StorageError: naming the regions (and what each lacks) when some lack an output,
                or when no region is committed at all.
            OutputLossError: naming the regions the roll-up would lose.
        """
        committed = sorted(self.raster_store().committed_regions(), key=region_sort_key)
        if not committed:
            raise StorageError(
                f"no region is committed to the raster store {self.layout.raster_store}: "
                "materialize region_risk_rasters (and the other region assets) first"
            )
        missing = {
            region_id: [
                asset
                for asset in assets
                if not objects.exists(self.layout.location(asset, region_id))
            ]
            for region_id in committed
        }
        lacking = {region_id: names for region_id, names in missing.items() if names}
        if lacking:
            details = "; ".join(f"{r}: {', '.join(names)}" for r, names in lacking.items())
            raise StorageError(
                f"{len(lacking)} of the {len(committed)} region(s) in the raster store lack "
                f"outputs the roll-up reads ({details}); materialize them for those regions "
                "first (the regions job)"
            )
        if rollup is not None:
            self.guard.check_regions(rollup, self.layout.rollup_record(rollup), committed)
        return committed

    def record_rollup(self, rollup: str, regions: Sequence[str], run_id: str) -> None:
        """Record that ``rollup`` was just published from ``regions`` by the run ``run_id``."""
        record_regions(self.layout.rollup_record(rollup), regions, run_id)


def import_factory(path: str) -> ClusterFactory:
    """The callable named ``module:attribute`` (a cluster factory).

    Raises:
        ValueError: naming the path when it is malformed or names nothing callable.
    """
    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"cluster_factory={path!r} must be 'module:attribute'")
    factory = getattr(importlib.import_module(module_name), attribute, None)
    if not callable(factory):
        raise ValueError(f"cluster_factory={path!r} does not name a callable")
    return factory


@dataclass
class _Session:
    """A client of one cluster, what keeps the cluster open, and the values kept on it."""

    client: Any
    name: str
    in_process: bool
    stack: ExitStack
    kept: list[Any] = field(default_factory=list)


class ComputeResource(dg.ConfigurableResource):
    """Dask clusters for the assets: local by default, Coiled clusters sized per asset when deployed.

    The cluster of an asset is its :func:`~ocr_assets.config.compute.cluster_spec` for the
    environment, backend, overrides and software environment configured here (table in
    ``docs/deployment.md``), made by :func:`~ocr_assets.orchestration.clusters.make_cluster`,
    or the running cluster at ``scheduler_address`` when one is given (the region runs of a
    deployment share its region cluster).

    Attributes:
        environment: ``local``, ``qa``, ``staging`` or ``production``.
        backend: ``local`` or ``coiled`` (``OCR_COMPUTE``; empty: the environment's).
        overrides: Compute overrides in the ``OCR_COMPUTE_OVERRIDES`` JSON format.
        software_env: The Coiled software environment (``COILED_SOFTWARE_ENV_NAME``).
        cluster_factory: ``module:attribute`` of a callable taking the cluster keyword
            arguments, used instead of ``distributed.LocalCluster`` / ``coiled.Cluster``
            (tests record what Coiled would be asked for this way).
        scheduler_address: Address of a running Dask scheduler to use instead of opening the
            asset's cluster (``tcp://host:8786``); that cluster's size is then whatever it has.
    """

    environment: str = "local"
    backend: str = ""
    overrides: str = ""
    software_env: str = ""
    cluster_factory: str | None = None
    scheduler_address: str | None = None

    _sessions: dict[tuple[Any, ...], _Session] = PrivateAttr(default_factory=dict)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _log: Any = PrivateAttr(default=None)

    @field_validator("environment", mode="before")
    @classmethod
    def _check_environment(cls, value: str) -> str:
        return _validated(value, lambda v: get_policy(v).name)

    @field_validator("backend")
    @classmethod
    def _check_backend(cls, value: str) -> str:
        return _validated(value, lambda v: parse_backend(v) if v else "")

    @field_validator("overrides")
    @classmethod
    def _check_overrides(cls, value: str) -> str:
        _validated(value, lambda v: parse_overrides(v, "compute overrides"))
        return value

    @classmethod
    def from_settings(cls, settings: Settings) -> ComputeResource:
        """The compute of ``settings``."""
        return cls(
            environment=from_env_var(settings.environment, "OCR_ENVIRONMENT", settings),
            backend=settings.compute_backend or "",
            overrides=json.dumps(dict(settings.compute_overrides))
            if settings.compute_overrides
            else "",
            software_env=settings.software_env or "",
        )

    # ------------------------------------------------------------------ lifecycle
    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """Log to the run that uses this resource."""
        self._log = context.log

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        """Close every client and cluster this run opened (releasing the values kept there)."""
        self.close()

    def close(self) -> None:
        """Close every client and cluster opened so far."""
        with self._lock:
            sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            session.stack.close()

    def _info(self, message: str) -> None:
        (self._log or logging.getLogger(__name__)).info(message)

    # ------------------------------------------------------------------ clusters
    def on_cluster(self, scheduler_address: str) -> ComputeResource:
        """This configuration, using the running cluster at ``scheduler_address``."""
        fields = {name: getattr(self, name) for name in type(self).model_fields}
        return type(self)(**{**fields, "scheduler_address": scheduler_address})

    def spec(self, asset_key: str) -> ClusterSpec:
        """The cluster ``asset_key`` gets."""
        return cluster_spec(
            self.environment,
            asset_key,
            backend=self.backend or None,
            overrides=parse_overrides(self.overrides, "compute overrides"),
            software=self.software_env or None,
        )

    @contextmanager
    def cluster(self, asset_key: str) -> Iterator[Any]:
        """The cluster of ``asset_key``, closed on exit."""
        factory = import_factory(self.cluster_factory) if self.cluster_factory else None
        with make_cluster(self.spec(asset_key), factory) as cluster:
            yield cluster

    def _session(self, asset_key: str) -> tuple[tuple[Any, ...], _Session]:
        """The open session of ``asset_key``'s cluster (opened on first use)."""
        from distributed import Client

        spec = self.spec(asset_key)
        if self.scheduler_address:
            key: tuple[Any, ...] = ("address", self.scheduler_address)
        elif spec.backend == "local" and not self.cluster_factory:
            key = ("in process", spec.threads_per_worker)
        else:
            size = spec.to_dict()
            key = ("own", *sorted((k, str(v)) for k, v in size.items()))
        with self._lock:
            if key in self._sessions:
                return key, self._sessions[key]
        stack = ExitStack()
        if key[0] == "address":
            client = stack.enter_context(Client(self.scheduler_address, set_as_default=False))
            session = _Session(client, str(self.scheduler_address), False, stack)
        elif key[0] == "in process":
            cluster = shared_local_cluster(spec)
            client = stack.enter_context(Client(cluster, set_as_default=False))
            session = _Session(client, f"{cluster.name} (local, in process)", True, stack)
        else:
            cluster = stack.enter_context(self.cluster(asset_key))
            client = stack.enter_context(Client(cluster, set_as_default=False))
            name = getattr(cluster, "name", None) or client.scheduler.address
            session = _Session(client, str(name), False, stack)
        with self._lock:
            self._sessions[key] = session
        return key, session

    def _release(self, key: tuple[Any, ...], session: _Session) -> None:
        """Close an own cluster that keeps no value (shared clusters stay open for the run)."""
        if key[0] != "own" or session.kept:
            return
        with self._lock:
            self._sessions.pop(key, None)
        session.stack.close()

    def _report(
        self,
        asset_key: str,
        fn: Callable[..., Any],
        session: _Session,
        ran: WorkerRun,
        opened: float,
    ) -> None:
        overhead = time.perf_counter() - opened - ran.seconds
        name = getattr(fn, "__qualname__", repr(fn))
        self._info(
            f"{asset_key}: {name} ran on cluster {session.name}, worker {ran.worker} "
            f"(pid {ran.pid}) in {ran.seconds:.1f} s; cluster overhead {overhead:.1f} s"
        )

    def _wait(
        self, asset_key: str, session: _Session, future: Any, fn: Callable[..., Any] | None = None
    ) -> Any:
        """``future``'s result; says what it waits for, fails if the cluster stalls."""
        what = asset_key if fn is None else f"{asset_key} ({getattr(fn, '__qualname__', fn)})"
        stall = STALL_SECONDS.get(self.spec(asset_key).backend, max(STALL_SECONDS.values()))
        return wait_for(future, session.name, what, stall_seconds=stall)

    # ------------------------------------------------------------------ work
    def run(self, asset_key: str, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """Run ``fn(*args, **kwargs)`` on ``asset_key``'s cluster and return its (small) result.

        ``fn`` must be an importable module-level function; its large inputs are lazy (read
        from storage on the worker, or kept on the cluster) and its large outputs are written
        there, so no large array passes through this process.

        Raises:
            dagster.Failure: final (not retried) for bad input raised by ``fn`` (a missing
                file, a bad value: :mod:`ocr_assets.orchestration.errors`).
            Exception: any other error ``fn`` raised on the worker, with its type and message.
        """
        opened = time.perf_counter()
        key, session = self._session(asset_key)
        try:
            with final_on_bad_input():
                ran: WorkerRun = self._wait(
                    asset_key, session, session.client.compute(task(fn, *args, **kwargs)), fn
                )
        finally:
            self._release(key, session)
        self._report(asset_key, fn, session, ran, opened)
        return ran.result

    def collect(self, asset_key: str, collection: Any) -> Any:
        """Compute the dask ``collection`` on ``asset_key``'s cluster; return the (small) result.

        For work spread over the workers as a graph (the wind distribution's 43 years of hourly
        data), where one function per task would not do.
        """
        opened = time.perf_counter()
        key, session = self._session(asset_key)
        try:
            with final_on_bad_input():
                result = self._wait(asset_key, session, session.client.compute(collection))
        finally:
            self._release(key, session)
        self._info(
            f"{asset_key}: computed on cluster {session.name} in "
            f"{time.perf_counter() - opened:.1f} s"
        )
        return result

    def persist(self, asset_key: str, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """Run ``fn(*args, **kwargs)`` on ``asset_key``'s cluster and keep its result there.

        Returns the result itself on the in-process cluster; on any other cluster a lazy value
        (a dask-backed ``xarray.Dataset`` for a dataset, a ``dask.delayed`` otherwise) whose
        data stays on the worker until the run ends, for the IO manager to store there and the
        assets of the same run to read.

        Raises:
            dagster.Failure: final (not retried) for bad input raised by ``fn``.
            Exception: any other error ``fn`` raised on the worker, with its type and message.
        """
        opened = time.perf_counter()
        key, session = self._session(asset_key)
        future = session.client.compute(task(fn, *args, **kwargs))
        try:
            self._wait(asset_key, session, future, fn)
        except ClusterStalledError:
            self._release(key, session)
            raise
        except Exception:
            error = future.exception().with_traceback(future.traceback())
            self._release(key, session)
            with final_on_bad_input():
                raise error from None
        if session.in_process:
            ran: WorkerRun = future.result()
            self._report(asset_key, fn, session, ran, opened)
            return ran.result
        ran = self._wait(
            asset_key, session, session.client.compute(dask.delayed(_described)(future))
        )
        self._report(asset_key, fn, session, ran, opened)
        kept = dask.delayed(result_of, pure=True)(future)
        value = session.client.persist(
            kept if ran.result is None else _lazy_dataset(kept, ran.result)
        )
        session.kept.extend([future, value])
        return value


@dataclass(frozen=True)
class _DatasetShape:
    """A dataset without its data: coordinates and attributes, and each variable's dims,
    shape, dtype and attributes (what a lazy view of it needs)."""

    coords: xr.Dataset
    variables: dict[str, tuple[tuple[str, ...], tuple[int, ...], np.dtype, dict[str, Any]]]


def _described(run: WorkerRun) -> WorkerRun:
    """``run`` with its result replaced by its :class:`_DatasetShape` (a dataset), or ``None``."""
    result = run.result
    shape = None
    if isinstance(result, xr.Dataset):
        shape = _DatasetShape(
            result.drop_vars(list(result.data_vars)),
            {
                str(name): (variable.dims, variable.shape, variable.dtype, dict(variable.attrs))
                for name, variable in result.data_vars.items()
            },
        )
    return WorkerRun(shape, run.worker, run.pid, run.seconds)


def _variable(dataset: xr.Dataset, name: str) -> np.ndarray:
    return np.asarray(dataset[name].values)


def _lazy_dataset(kept: Any, shape: _DatasetShape) -> xr.Dataset:
    """A dask-backed dataset over the dataset ``kept`` on the cluster (one chunk per variable,
    read from the kept dataset where it is)."""
    import dask.array as da

    lazy = shape.coords.copy()
    for name, (dims, size, dtype, attrs) in shape.variables.items():
        data = da.from_delayed(dask.delayed(_variable, pure=True)(kept, name), size, dtype)
        lazy[name] = xr.Variable(dims, data, attrs)
    return lazy
