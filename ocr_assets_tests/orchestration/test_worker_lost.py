"""A Dask worker lost mid-region: the region is retried, nothing is half-committed (fault 13).

A region is materialized the way a deployment runs it on a remote region cluster
(``ComputeResource`` pointed at the cluster's scheduler, the real raster-store IO manager), on a
local cluster of two worker *processes*. A worker plugin (``compute_fakes.StopOnce``) holds the
first worker that reaches a stage, and the test kills that process (SIGKILL): while it computes
the region, and while it commits it (its Icechunk session has written the region's chunks, it
holds the commit lock). Dask reschedules the lost work on the other worker (recomputing the
value the dead worker kept), so the materialization succeeds with no retry of Dagster's, the
store's ``main`` never shows the region before its one complete commit, and the committed
rasters equal those of a run without a fault (the control, run first on the same path).

A worker lost more often than ``distributed.scheduler.allowed-failures`` (3) fails the work with
``KilledWorker``, and a lost connection with ``CommClosedError`` (an ``OSError``); neither is
bad input, so the step's retry policy tries again.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import dagster as dg
import dask
import icechunk
import numpy as np
import pytest
import xarray as xr
from distributed import Client, LocalCluster
from distributed.comm.core import CommClosedError
from distributed.scheduler import KilledWorker

from ocr_assets.deploy.job import step_failures
from ocr_assets.orchestration.assets.regions import region_risk_rasters
from ocr_assets.orchestration.assets.wind import wind_direction_distribution
from ocr_assets.orchestration.errors import final_on_bad_input
from ocr_assets.orchestration.jobs import PHASE01_JOB
from ocr_assets.orchestration.resources import ComputeResource, OutputStorage
from ocr_assets.storage.raster_store import icechunk_storage
from ocr_assets_tests.helpers import (
    GRAPH,
    asset_job,
    materialize,
    materialize_region,
    pipeline_resources,
    region_instance,
)
from ocr_assets_tests.orchestration.compute_fakes import StopOnce

REGION = "y1_x1"
#: Seconds the test waits for a worker to reach the stage (the region's inputs are read; two
#: cores shared with other tests) and a held worker waits to be killed.
STAGE_SECONDS = 120.0
#: Seconds the run may take once the held worker is killed (the region recomputed elsewhere).
RECOVERY_SECONDS = 300.0
RAN = re.compile(r"^region_risk_rasters: region_rasters ran on cluster .*\(pid (?P<pid>\d+)\)")


@pytest.fixture(scope="module")
def wind_root(synthetic_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Outputs holding only the wind distribution (copy before use)."""
    root = tmp_path_factory.mktemp("wind-only")
    result = materialize_region([wind_direction_distribution], None, synthetic_root, root)
    assert result.success, step_failures(result)
    return root


@pytest.fixture
def storage(wind_root: Path, tmp_path: Path) -> OutputStorage:
    root = tmp_path / "outputs"
    shutil.copytree(wind_root, root)
    return OutputStorage(root=str(root))


def two_workers() -> LocalCluster:
    """A cluster of two single-threaded worker processes (each restarted by its nanny when
    killed)."""
    return LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address="127.0.0.1:0",
        memory_limit=0,
    )


@pytest.fixture
def cluster() -> Iterator[LocalCluster]:
    with two_workers() as cluster:
        yield cluster


def region_run(
    synthetic_root: Path, storage: OutputStorage, address: str
) -> tuple[dg.ExecuteInProcessResult, list[int]]:
    """Materialize the region's rasters on the cluster at ``address`` (no Dagster retries);
    the run and the process IDs that computed the region."""
    compute = ComputeResource().on_cluster(address)
    with dg.DagsterInstance.ephemeral() as instance:
        result = materialize(
            GRAPH,
            pipeline_resources(synthetic_root, storage, compute),
            partition_key=REGION,
            selection=[region_risk_rasters],
            instance=instance,
        )
        pids = [
            int(match["pid"])
            for entry in instance.all_logs(result.run_id)
            if (match := RAN.match(entry.user_message or "")) is not None
        ]
    return result, pids


def regions_on_main(storage: OutputStorage) -> list[str]:
    """The region of every commit on the raster store's ``main``, newest first (read without
    the store's commit lock)."""
    location = storage.layout.raster_store
    if not icechunk.Repository.exists(icechunk_storage(location)):
        return []
    repository = icechunk.Repository.open(icechunk_storage(location))
    return [
        str(snapshot.metadata["region_id"])
        for snapshot in repository.ancestry(branch="main")
        if "region_id" in snapshot.metadata
    ]


def wait_for_marker(marker: Path, running: Future) -> int:
    """The process ID a held worker wrote to ``marker`` (the run's error if it ended first)."""
    deadline = time.monotonic() + STAGE_SECONDS
    while not (marker.exists() and marker.read_text()):
        if running.done():
            raise AssertionError(
                f"the run ended before a worker reached the stage: {running.result()}"
            )
        assert time.monotonic() < deadline, f"no worker reached the stage in {STAGE_SECONDS} s"
        time.sleep(0.1)
    return int(marker.read_text())


@pytest.fixture(scope="module")
def control_rasters(
    synthetic_root: Path, wind_root: Path, tmp_path_factory: pytest.TempPathFactory
) -> xr.Dataset:
    """The region's rasters committed by a run without a fault, on the same path."""
    root = tmp_path_factory.mktemp("control") / "outputs"
    shutil.copytree(wind_root, root)
    storage = OutputStorage(root=str(root))
    with two_workers() as cluster:
        result, pids = region_run(synthetic_root, storage, cluster.scheduler_address)
    assert result.success, step_failures(result)
    assert pids and os.getpid() not in pids
    store = storage.raster_store()
    assert regions_on_main(storage) == [REGION]
    return store.region(REGION).load()


@pytest.mark.integration
@pytest.mark.parametrize("stage", ["compute", "commit"])
def test_a_worker_killed_mid_region_is_replaced_and_the_region_committed_once(
    stage: str,
    control_rasters: xr.Dataset,
    cluster: LocalCluster,
    storage: OutputStorage,
    synthetic_root: Path,
    tmp_path: Path,
) -> None:
    marker = tmp_path / "held-worker"
    with Client(cluster, set_as_default=False) as client:
        client.register_plugin(StopOnce(stage, str(marker), STAGE_SECONDS))
        with ThreadPoolExecutor(1) as pool:
            running = pool.submit(region_run, synthetic_root, storage, cluster.scheduler_address)
            held = wait_for_marker(marker, running)
            # Held mid-stage: the region is not on main yet (at the commit stage its chunks are
            # written and the held worker has the commit lock, which `RasterStore` would wait
            # for: the history is read without it).
            assert REGION not in regions_on_main(storage)
            os.kill(held, signal.SIGKILL)
            result, pids = running.result(timeout=RECOVERY_SECONDS)
    assert result.success, step_failures(result)
    if stage == "compute":
        assert held not in pids
    assert regions_on_main(storage).count(REGION) == 1
    committed = storage.raster_store().region(REGION).load()
    for name, variable in control_rasters.data_vars.items():
        np.testing.assert_array_equal(committed[name].values, variable.values, err_msg=name)


@pytest.mark.integration
def test_a_worker_lost_on_every_try_fails_the_step_and_its_retry_commits(
    control_rasters: xr.Dataset,
    storage: OutputStorage,
    synthetic_root: Path,
    tmp_path: Path,
) -> None:
    """With no second chance on the cluster (``allowed-failures`` 0), the lost worker fails
    the step with ``KilledWorker``; the job's retry policy runs it again, and it commits."""
    marker = tmp_path / "held-worker"
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), two_workers() as cluster:
        compute = ComputeResource().on_cluster(cluster.scheduler_address)
        job = asset_job(PHASE01_JOB, pipeline_resources(synthetic_root, storage, compute), 1)
        with (
            Client(cluster, set_as_default=False) as client,
            ThreadPoolExecutor(1) as pool,
            region_instance([REGION]) as instance,
        ):
            client.register_plugin(StopOnce("compute", str(marker), STAGE_SECONDS))
            running = pool.submit(
                job.execute_in_process,
                instance=instance,
                partition_key=REGION,
                asset_selection=[region_risk_rasters.key],
                raise_on_error=False,
            )
            os.kill(wait_for_marker(marker, running), signal.SIGKILL)
            result = running.result(timeout=RECOVERY_SECONDS)
    assert result.success, step_failures(result)
    retried = [
        event
        for event in result.all_events
        if event.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY
    ]
    assert [event.step_key for event in retried] == ["region_risk_rasters"]
    assert "KilledWorker" in str(retried[0].event_specific_data.error)
    assert regions_on_main(storage).count(REGION) == 1
    committed = storage.raster_store().region(REGION).load()
    for name, variable in control_rasters.data_vars.items():
        np.testing.assert_array_equal(committed[name].values, variable.values, err_msg=name)


@pytest.mark.parametrize(
    "error",
    [
        KilledWorker("('region_rasters-1',)", "tcp://127.0.0.1:40000", "worker lost 4 times"),
        CommClosedError("in <TCP (closed) ConnectionPool.gather>: Stream is closed"),
    ],
)
def test_a_lost_worker_stays_retryable(error: Exception) -> None:
    with pytest.raises(type(error)), final_on_bad_input():
        raise error
