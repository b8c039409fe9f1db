"""A cluster factory for :class:`ocr_assets.orchestration.resources.ComputeResource` tests.

``ComputeResource(cluster_factory="ocr_assets_tests.orchestration.compute_fakes:recording_cluster")`` records
the keyword arguments a cluster was asked for (exactly what ``coiled.Cluster`` would get) and
returns a small in-process ``distributed.LocalCluster``, so the work still runs.
``recording_process_cluster`` records the same way and serves every request from one shared
cluster whose worker is a separate process; the module-level functions below are the work such
tests ship to it.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Generator
from typing import Any

import numpy as np
import xarray as xr
from distributed import LocalCluster
from distributed.core import Status
from distributed.diagnostics.plugin import WorkerPlugin

from ocr_assets.storage import StorageError
from ocr_assets.storage.config import StorageConfig, current

#: Keyword arguments of every cluster asked for, oldest first (clear it before a test).
CALLS: list[dict[str, Any]] = []

FACTORY_PATH = "ocr_assets_tests.orchestration.compute_fakes:recording_cluster"


def recording_cluster(**kwargs: Any) -> LocalCluster:
    """Record ``kwargs``; return a one-worker, two-thread in-process cluster."""
    CALLS.append(kwargs)
    return LocalCluster(
        n_workers=1,
        threads_per_worker=2,
        processes=False,
        dashboard_address="127.0.0.1:0",
        memory_limit=0,
    )


class SharedClusterView:
    """One requested cluster, served by a shared running cluster (``Client(view)`` works).

    Attributes:
        name: ``recorded-<n>``: the ``n``-th entry of :data:`CALLS` asked for it.
        scheduler_address: The shared cluster's scheduler.
        status: Always running (the shared cluster's owner closes it).
    """

    status = Status.running

    def __init__(self, name: str, scheduler_address: str) -> None:
        self.name = name
        self.scheduler_address = scheduler_address

    def __await__(self) -> Generator[Any, None, SharedClusterView]:
        """Already started (``Client`` awaits its cluster)."""
        return asyncio.sleep(0, result=self).__await__()

    async def close(self) -> None:
        """The shared cluster stays up."""

    def __enter__(self) -> SharedClusterView:
        return self

    def __exit__(self, *exc: object) -> None:
        """The shared cluster stays up (its owner closes it)."""


#: Scheduler address of the process cluster that :func:`recording_process_cluster` serves from.
SHARED_SCHEDULER: list[str] = []

PROCESS_FACTORY_PATH = "ocr_assets_tests.orchestration.compute_fakes:recording_process_cluster"


def recording_process_cluster(**kwargs: Any) -> SharedClusterView:
    """Record ``kwargs``; serve the request from :data:`SHARED_SCHEDULER` (worker processes).

    Starting worker processes per request costs seconds each; sharing one process cluster keeps
    a whole graph's test short while every asset's work still runs outside the test process.
    """
    CALLS.append(kwargs)
    (address,) = SHARED_SCHEDULER
    return SharedClusterView(f"recorded-{len(CALLS) - 1}", address)


def worker_pid() -> int:
    """The process ID of whoever runs this."""
    return os.getpid()


def fail_with(message: str) -> None:
    """Raise a bad-input error (a :class:`~ocr_assets.storage.StorageError`) with ``message``."""
    raise StorageError(message)


def crash(message: str) -> None:
    """Raise an error that is not bad input (a later attempt may succeed)."""
    raise ConnectionResetError(message)


def storage_config() -> StorageConfig:
    """The storage configuration in effect where this runs."""
    return current()


def pid_of(value: object) -> int:
    """The process ID of whoever runs this on ``value``."""
    return os.getpid()


def rasters(shape: tuple[int, int]) -> xr.Dataset:
    """A dataset of ``shape`` (computed where this runs)."""
    return xr.Dataset(
        {"rps_2011": (("latitude", "longitude"), np.full(shape, 0.5, np.float32))},
        coords={"latitude": np.arange(shape[0]), "longitude": np.arange(shape[1])},
        attrs={"region_id": "y0_x1"},
    )


def worker_address() -> str:
    """The address of the Dask worker that runs this."""
    from distributed import get_worker

    return get_worker().address


class StopOnce(WorkerPlugin):
    """A Dask worker plugin that holds the first worker to reach a stage until it is killed.

    Registered with ``client.register_plugin``, it patches, in each worker process, the product
    call the stage names: ``compute`` holds the region's work as it reads its inputs
    (``InputCatalog.region_inputs``), ``commit`` holds the raster store's commit after the
    session has written the region's chunks (``RasterStore._transfer`` for ``commit region ...``,
    inside the commit lock). The first worker to get there creates ``marker`` holding its
    process ID and waits; every later call (another worker, a restarted one) passes through.
    A worker never killed gives up after ``hold_seconds`` with an error, so a broken test fails
    rather than hangs.

    Attributes:
        stage: ``compute`` or ``commit``.
        marker: File the held worker writes its process ID to.
        hold_seconds: How long the held worker waits to be killed.
    """

    name = "ocr-stop-once"

    def __init__(self, stage: str, marker: str, hold_seconds: float = 60.0) -> None:
        if stage not in ("compute", "commit"):
            raise ValueError(f"stage must be 'compute' or 'commit', got {stage!r}")
        self.stage = stage
        self.marker = marker
        self.hold_seconds = hold_seconds

    def _hold(self) -> None:
        """Wait to be killed, the first time any worker gets here."""
        try:
            fd = os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        time.sleep(self.hold_seconds)
        raise RuntimeError(f"worker {os.getpid()} held at {self.stage} was never killed")

    def setup(self, worker: Any) -> None:
        """Patch the stage's call in this worker process."""
        from ocr_assets.catalog import InputCatalog
        from ocr_assets.storage.raster_store import RasterStore

        hold = self._hold
        if self.stage == "compute":
            region_inputs = InputCatalog.region_inputs

            def held_inputs(catalog: InputCatalog, region_id: str) -> Any:
                hold()
                return region_inputs(catalog, region_id)

            InputCatalog.region_inputs = held_inputs  # type: ignore[method-assign]
        else:
            transfer = RasterStore._transfer

            def held_transfer(store: RasterStore, operation: str, *args: Any, **kwargs: Any) -> Any:
                if operation.startswith("commit region"):
                    hold()
                return transfer(store, operation, *args, **kwargs)

            RasterStore._transfer = held_transfer  # type: ignore[method-assign]
