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
from collections.abc import Generator
from typing import Any

import numpy as np
import xarray as xr
from distributed import LocalCluster
from distributed.core import Status

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
