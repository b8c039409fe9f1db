"""Dagster resources: where the inputs are, where (and how) outputs are stored, what computes.

Assets, checks, ops and the IO managers (:mod:`ocr_assets.io_managers`) receive these by
parameter name (``catalog``, ``storage``, ``compute``); the Definitions build them from the
validated :class:`~ocr_assets.settings.Settings` of the environment, as ``dg.EnvVar`` for the
settings read from the process environment (:func:`from_env_var`).
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import dagster as dg
from pydantic import field_validator

from ocr_assets.catalog import InputCatalog
from ocr_assets.deploy.compute import (
    ClusterFactory,
    ClusterSpec,
    cluster_spec,
    make_cluster,
    parse_overrides,
    shared_local_cluster,
)
from ocr_assets.deploy.layout import Layout
from ocr_assets.settings import (
    Settings,
    check_range,
    validate_environment,
    validate_root,
    validate_version,
)
from ocr_assets.storage import (
    RasterStore,
    ensure_writable,
)
from ocr_assets.storage.guard import check_shrink

if TYPE_CHECKING:
    from distributed import Client

PROVIDER = "CarbonPlan"
LICENSE = "CC-BY-4.0"
LICENSE_URL = "https://creativecommons.org/licenses/by/4.0/"


def from_env_var(value: Any, variable: str, environ: Mapping[str, str] | None) -> Any:
    """``dg.EnvVar(variable)`` when ``environ`` sets ``variable`` to exactly ``value``, else ``value``.

    Settings read from the process environment reach the resources as ``dg.EnvVar``: the UI
    shows which variable each setting comes from, and a run reads it when it starts (the
    resource's validators check it then, with the messages of :class:`Settings`; they pass an
    unresolved ``EnvVar`` through). A value that
    validation changed (a relative path made absolute once, at load) stays a literal, so every
    run agrees on it whatever its working directory.
    """
    raw = environ.get(variable) if environ is not None else None
    return dg.EnvVar(variable) if raw and raw == value else value


class InputCatalogResource(dg.ConfigurableResource):
    """The input data sets (synthetic demo inputs or the real public data) under ``root``."""

    root: str

    @field_validator("root", mode="before")
    @classmethod
    def _check_root(cls, value: str) -> str:
        return value if isinstance(value, dg.EnvVar) else validate_root(value, "OCR_INPUT_ROOT")

    @classmethod
    def from_settings(
        cls, settings: Settings, environ: Mapping[str, str] | None = None
    ) -> InputCatalogResource:
        """The inputs of ``settings`` (``OCR_INPUT_ROOT`` as an ``EnvVar`` when set there)."""
        return cls(root=from_env_var(settings.input_root, "OCR_INPUT_ROOT", environ))

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
            may lose (``OCR_MAX_OUTPUT_LOSS``); see :meth:`check_loss`.
        force: Replace published roll-ups whatever they lose (``OCR_FORCE``).
    """

    root: str
    environment: str = "local"
    version: str | None = None
    commit_attempts: int = 5
    max_output_loss: float = 0.5
    force: bool = False

    @field_validator("root", mode="before")
    @classmethod
    def _check_root(cls, value: str) -> str:
        return value if isinstance(value, dg.EnvVar) else validate_root(value, "OCR_STORAGE_ROOT")

    @field_validator("environment", mode="before")
    @classmethod
    def _check_environment(cls, value: str) -> str:
        return value if isinstance(value, dg.EnvVar) else validate_environment(value)

    @field_validator("version", mode="before")
    @classmethod
    def _check_version(cls, value: str | None) -> str | None:
        return value if isinstance(value, dg.EnvVar) else validate_version(value)

    @field_validator("max_output_loss")
    @classmethod
    def _check_max_output_loss(cls, value: float) -> float:
        return check_range(value, "OCR_MAX_OUTPUT_LOSS", 0.0, 1.0)

    @classmethod
    def from_settings(
        cls, settings: Settings, environ: Mapping[str, str] | None = None
    ) -> OutputStorage:
        """The storage of the environment described by ``settings``.

        With ``environ`` (the variables ``settings`` were read from), ``OCR_STORAGE_ROOT``,
        ``OCR_ENVIRONMENT`` and ``OCR_VERSION`` are configured as ``dg.EnvVar``
        (:func:`from_env_var`); the loss guard's number and flag stay values (``EnvVar`` holds
        strings and integers only).
        """
        return cls(
            root=from_env_var(settings.storage_root, "OCR_STORAGE_ROOT", environ),
            environment=from_env_var(settings.environment, "OCR_ENVIRONMENT", environ),
            version=from_env_var(settings.version, "OCR_VERSION", environ),
            max_output_loss=settings.guard.max_loss_share,
            force=settings.guard.force,
        )

    def check_loss(self, location: str, old: int | None, new: int, what: str) -> None:
        """Refuse to replace ``location`` (``old`` ``what``) by one with far fewer (``new``).

        Raises:
            OutputLossError: giving both counts, unless :attr:`force`.
        """
        check_shrink(location, old, new, self.max_output_loss, self.force, what)

    @property
    def paths(self) -> Layout:
        """The output layout under ``root``."""
        return Layout(self.root, self.environment, self.version)

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
        return RasterStore(self.paths.raster_store, max_attempts=self.commit_attempts)


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


@dataclass(frozen=True)
class ResourceConfig:
    """A configurable resource as plain values, rebuilt where it is used (a cluster worker).

    Attributes:
        kind: The resource class (pickled by reference).
        fields: Its configuration fields.
    """

    kind: type[dg.ConfigurableResource]
    fields: dict[str, Any]

    @classmethod
    def of(cls, resource: dg.ConfigurableResource) -> ResourceConfig:
        """The configuration of ``resource``."""
        kind = type(resource)
        return cls(kind, {name: getattr(resource, name) for name in kind.model_fields})

    def build(self) -> dg.ConfigurableResource:
        """A resource configured as the original."""
        return self.kind(**self.fields)


@dataclass(frozen=True)
class WorkerRun:
    """A function's result, where on the cluster it ran and how long it took.

    One opaque object, so Dask does not walk the result to estimate its size.

    Attributes:
        result: What the function returned.
        worker: The worker's address.
        pid: The worker's process ID.
        seconds: Wall time of the function.
    """

    result: Any
    worker: str
    pid: int
    seconds: float


def _on_worker(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> WorkerRun:
    """Run ``fn`` on this worker with resources rebuilt; return its result and where it ran.

    Dask collections inside ``fn`` compute on the worker's own threads (one machine sized for
    the asset), never back through the orchestrating client.
    """
    import dask
    from distributed import get_worker

    args = tuple(a.build() if isinstance(a, ResourceConfig) else a for a in args)
    kwargs = {k: v.build() if isinstance(v, ResourceConfig) else v for k, v in kwargs.items()}
    started = time.perf_counter()
    with dask.config.set(scheduler="threads"):
        result = fn(*args, **kwargs)
    return WorkerRun(result, get_worker().address, os.getpid(), time.perf_counter() - started)


def _on_a_worker() -> bool:
    """Whether the caller is a task running on a Dask worker."""
    from distributed import get_worker

    try:
        get_worker()
    except ValueError:
        return False
    return True


class ComputeResource(dg.ConfigurableResource):
    """Dask clusters for the assets: local by default, Coiled clusters sized per asset when deployed.

    The cluster of an asset is :func:`~ocr_assets.deploy.compute.cluster_spec` of the environment
    and asset (``OCR_COMPUTE=local`` forces a local cluster; ``OCR_COMPUTE_OVERRIDES`` resizes),
    made by :func:`~ocr_assets.deploy.compute.make_cluster`. The IO managers compute and store
    every deferred asset result with :meth:`run` on that cluster (checks evaluate there too), or
    on the running cluster at ``scheduler_address`` when one is given (several runs sharing one
    region cluster).

    Attributes:
        environment: ``local``, ``qa``, ``staging`` or ``production``.
        overrides: Compute overrides in the ``OCR_COMPUTE_OVERRIDES`` JSON format, applied over
            those of the process environment.
        cluster_factory: ``module:attribute`` of a callable taking the cluster keyword
            arguments, used instead of ``distributed.LocalCluster`` / ``coiled.Cluster``
            (tests record what Coiled would be asked for this way).
        scheduler_address: Address of a running Dask scheduler to use instead of opening the
            asset's cluster (``tcp://host:8786``); that cluster's size is then whatever it has.
    """

    environment: str = "local"
    overrides: str = ""
    cluster_factory: str | None = None
    scheduler_address: str | None = None

    @field_validator("environment", mode="before")
    @classmethod
    def _check_environment(cls, value: str) -> str:
        return value if isinstance(value, dg.EnvVar) else validate_environment(value)

    @field_validator("overrides")
    @classmethod
    def _check_overrides(cls, value: str) -> str:
        parse_overrides(value, "compute overrides")
        return value

    @classmethod
    def from_settings(
        cls, settings: Settings, environ: Mapping[str, str] | None = None
    ) -> ComputeResource:
        """The compute of the environment described by ``settings`` (see
        :meth:`OutputStorage.from_settings` for ``environ``)."""
        return cls(environment=from_env_var(settings.environment, "OCR_ENVIRONMENT", environ))

    def on_cluster(self, scheduler_address: str) -> ComputeResource:
        """This configuration, using the running cluster at ``scheduler_address``."""
        fields = ResourceConfig.of(self).fields
        return type(self)(**{**fields, "scheduler_address": scheduler_address})

    def spec(self, asset_key: str) -> ClusterSpec:
        """The cluster ``asset_key`` gets (reads ``OCR_COMPUTE*`` and the software environment)."""
        return cluster_spec(self.environment, asset_key, overrides=parse_overrides(self.overrides))

    @contextmanager
    def cluster(self, asset_key: str) -> Iterator[Any]:
        """The cluster of ``asset_key``, closed on exit."""
        factory = import_factory(self.cluster_factory) if self.cluster_factory else None
        with make_cluster(self.spec(asset_key), factory) as cluster:
            yield cluster

    @contextmanager
    def client(self, asset_key: str) -> Iterator[tuple[Client, str]]:
        """A client of ``asset_key``'s cluster (or :attr:`scheduler_address`), and its name.

        The client is not made dask's default: work goes to it explicitly, so dask computations
        elsewhere in this process (another region's checks, in another thread) never land on a
        client that is closing.

        A local spec without ``cluster_factory`` uses the process's shared in-process cluster
        (:func:`~ocr_assets.deploy.compute.shared_local_cluster`); others open the asset's
        cluster and close it on exit.
        """
        from distributed import Client

        if self.scheduler_address:
            with Client(self.scheduler_address, set_as_default=False) as client:
                yield client, self.scheduler_address
            return
        spec = self.spec(asset_key)
        if spec.backend == "local" and not self.cluster_factory:
            # The process's in-process cluster: closing the client leaves it up.
            cluster = shared_local_cluster(spec)
            with Client(cluster, set_as_default=False) as client:
                yield client, f"{cluster.name} (local, shared)"
            return
        with self.cluster(asset_key) as cluster, Client(cluster, set_as_default=False) as client:
            yield client, getattr(cluster, "name", None) or client.scheduler.address

    def run(self, asset_key: str, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """Run ``fn(*args, **kwargs)`` on ``asset_key``'s cluster and return its (small) result.

        ``fn`` must be an importable module-level function whose large inputs and outputs stay
        on the worker (it reads and writes storage there), so no large array passes through
        this process.
        Configurable resources among the arguments travel as their configuration
        (:class:`ResourceConfig`) and are rebuilt on the worker. Called from a task already on a
        worker (a region task of the ``deploy`` job), ``fn`` runs in place.

        Raises:
            Exception: whatever ``fn`` raised on the worker, with its type and message.
        """
        log = dg.get_dagster_logger()
        name = getattr(fn, "__qualname__", repr(fn))
        if _on_a_worker():
            ran = _on_worker(fn, *args, **kwargs)
            log.info(
                f"{asset_key}: {name} ran in place on worker {ran.worker} in {ran.seconds:.1f} s"
            )
            return ran.result
        args = tuple(
            ResourceConfig.of(a) if isinstance(a, dg.ConfigurableResource) else a for a in args
        )
        kwargs = {
            k: ResourceConfig.of(v) if isinstance(v, dg.ConfigurableResource) else v
            for k, v in kwargs.items()
        }
        opened = time.perf_counter()
        with self.client(asset_key) as (client, cluster):
            future = client.submit(functools.partial(_on_worker, fn, *args, **kwargs), pure=False)
            ran = future.result()
        overhead = time.perf_counter() - opened - ran.seconds
        log.info(
            f"{asset_key}: {name} ran on cluster {cluster}, worker {ran.worker} (pid {ran.pid}) "
            f"in {ran.seconds:.1f} s; cluster overhead {overhead:.1f} s"
        )
        return ran.result
