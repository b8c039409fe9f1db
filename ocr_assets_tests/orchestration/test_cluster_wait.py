"""Waiting for a cluster: what is awaited is said, and a cluster that cannot run fails the wait.

A deployment whose cluster has lost every worker, or whose workers are all paused for memory,
used to wait on ``Future.result()`` forever. :func:`wait_for` fails it instead.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest
from distributed import Client, LocalCluster
from distributed.core import Status

from ocr_assets.orchestration import clusters
from ocr_assets.orchestration.clusters import ClusterStalledError, wait_for
from ocr_assets.orchestration.resources import ComputeResource
from ocr_assets.storage import objects
from ocr_assets.storage.config import StorageConfig, using


def slow_square(value: int, seconds: float) -> int:
    time.sleep(seconds)
    return value * value


def slow_upload(seconds: float) -> str:
    """A storage transfer that takes ``seconds`` (it reaches no endpoint)."""
    limits = StorageConfig(stall_timeout=30, attempts=1, endpoint_url="http://store.example")
    with using(limits):
        return objects.bounded_transfer(
            "upload", "s3://bucket/rollup", lambda _progress: time.sleep(seconds) or "sent"
        )


def broken(value: int) -> int:
    raise ValueError(f"bad value {value}")


@pytest.fixture
def client() -> Iterator[Client]:
    with (
        LocalCluster(
            n_workers=1,
            threads_per_worker=1,
            processes=False,
            dashboard_address="127.0.0.1:0",
            memory_limit=0,
        ) as cluster,
        Client(cluster, set_as_default=False) as client,
    ):
        yield client


@pytest.fixture
def quick_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clusters, "_POLL_SECONDS", 0.2)


@pytest.mark.usefixtures("quick_polls")
def test_a_running_worker_answers_and_the_wait_is_reported(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=clusters.__name__)
    future = client.submit(slow_square, 7, 1.5)
    assert wait_for(future, "test-cluster", "squaring", stall_seconds=1, report_seconds=0.5) == 49
    waiting = [r.getMessage() for r in caplog.records if "still waiting" in r.getMessage()]
    assert waiting and waiting[0].startswith("squaring: still waiting for cluster test-cluster")
    assert "'running': 1" in waiting[0]


@pytest.mark.usefixtures("quick_polls")
def test_the_wait_names_the_storage_call_a_running_worker_is_blocked_in(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=clusters.__name__)
    future = client.submit(slow_upload, 1.5)
    assert wait_for(future, "test-cluster", "uploading", stall_seconds=1, report_seconds=0.5)
    waiting = [r.getMessage() for r in caplog.records if "still waiting" in r.getMessage()]
    assert waiting and "'running': 1" in waiting[0]
    assert (
        "waiting on storage: upload s3://bucket/rollup at endpoint http://store.example"
        in (waiting[0])
    )


@pytest.mark.usefixtures("quick_polls")
def test_an_error_of_the_work_is_raised_as_it_is(client: Client) -> None:
    with pytest.raises(ValueError, match="bad value 3"):
        wait_for(client.submit(broken, 3), "test-cluster", "breaking", stall_seconds=1)


@pytest.mark.usefixtures("quick_polls")
def test_paused_workers_fail_the_wait_naming_the_cluster(client: Client) -> None:
    worker = next(iter(client.cluster.workers.values()))
    worker.status = Status.paused
    future = client.submit(slow_square, 2, 0)
    started = time.monotonic()
    with pytest.raises(ClusterStalledError) as raised:
        wait_for(future, "test-cluster", "region y1_x0", stall_seconds=1.0)
    assert time.monotonic() - started < 10
    message = str(raised.value)
    assert message.startswith("region y1_x0: cluster test-cluster has had no worker able to run")
    assert "'paused': 1" in message
    assert future.cancelled()


@pytest.mark.usefixtures("quick_polls")
def test_a_cluster_without_workers_fails_the_wait() -> None:
    with (
        LocalCluster(n_workers=0, processes=False, dashboard_address="127.0.0.1:0") as cluster,
        Client(cluster, set_as_default=False) as client,
    ):
        future = client.submit(slow_square, 2, 0)
        with pytest.raises(ClusterStalledError, match=r"\(workers: none\)"):
            wait_for(future, "empty", "region y1_x0", stall_seconds=0.5)


@pytest.mark.usefixtures("quick_polls")
def test_an_asset_run_on_a_stalled_local_cluster_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(clusters.STALL_SECONDS, "local", 1.0)
    compute = ComputeResource()
    cluster = clusters.shared_local_cluster(compute.spec("region_risk_rasters"))
    assert compute.run("region_risk_rasters", slow_square, 3, 0) == 9  # the control
    worker = next(iter(cluster.workers.values()))
    worker.status = Status.paused
    try:
        with pytest.raises(ClusterStalledError, match=r"^region_risk_rasters \(slow_square\)"):
            compute.run("region_risk_rasters", slow_square, 2, 0)
    finally:
        worker.status = Status.running
    assert compute.run("region_risk_rasters", slow_square, 4, 0) == 16
