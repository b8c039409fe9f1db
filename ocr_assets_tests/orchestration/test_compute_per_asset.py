"""Every asset's work on its own cluster, sized as the seed sizes its job.

A staging graph (wind, two regions, every roll-up and branch) is materialized with the recording
cluster factory serving each requested cluster from one shared cluster whose worker is a
separate process: each roll-up asks for exactly one cluster, with the seed's VM types and disks;
each region run asks for one region cluster that its four assets share (they are sized alike)
and that keeps their values until the run ends; every asset's work is logged as run on its
cluster by a process that is not this one, and the region values are stored by that process
too. :meth:`ComputeResource.run` itself is checked for errors that keep their type (or become
final failures, for bad input) across a process boundary, for a given scheduler address (no
cluster opened), and for the storage configuration travelling with the work.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import dagster as dg
import pytest
from dask.base import is_dask_collection
from distributed import LocalCluster

from ocr_assets.deploy.job import step_failures
from ocr_assets.orchestration.assets import ASSETS, CHECKS
from ocr_assets.orchestration.assets.regions import region_buildings, region_risk_rasters
from ocr_assets.orchestration.assets.statistics import region_statistics_partials
from ocr_assets.orchestration.assets.tiles import region_tile_features
from ocr_assets.orchestration.assets.wind import wind_direction_distribution
from ocr_assets.orchestration.clusters import run_where_it_lives
from ocr_assets.orchestration.resources import ComputeResource, OutputStorage
from ocr_assets.storage.config import configure, current
from ocr_assets_tests.helpers import materialize, pipeline_resources
from ocr_assets_tests.orchestration import compute_fakes

#: Every test here starts (or shares) a cluster whose worker is another process.
pytestmark = pytest.mark.integration

REGIONS = ["y0_x2", "y1_x1"]
PER_REGION = [
    region_risk_rasters,
    region_buildings,
    region_statistics_partials,
    region_tile_features,
]
MATERIALIZABLE = [asset for asset in ASSETS if isinstance(asset, dg.AssetsDefinition)]
ROLLUPS = [asset for asset in MATERIALIZABLE if asset.partitions_def is None][1:]  # not the wind
GRAPH = [*ASSETS, *CHECKS]

#: The seed's sizes (its batch jobs): worker VM, scheduler VM, disk in GB, workers.
SEED_SIZES: dict[str, tuple[str, str | None, int | None, int]] = {
    "region_risk_rasters": ("m8g.2xlarge", None, None, 20),
    "region_buildings": ("m8g.2xlarge", None, None, 20),
    "region_statistics_partials": ("m8g.2xlarge", None, None, 20),
    "region_tile_features": ("m8g.2xlarge", None, None, 20),
    "buildings_geoparquet": ("c8g.12xlarge", "c8g.12xlarge", None, 1),
    "region_summary_stats": ("m8g.16xlarge", "m8g.16xlarge", None, 1),
    "region_analysis_files": ("r8g.4xlarge", "r8g.4xlarge", None, 1),
    "regional_pmtiles": ("c8g.12xlarge", "c8g.12xlarge", 250, 1),
    "building_pmtiles": ("c8g.12xlarge", "c8g.12xlarge", 250, 2),  # shards in parallel
    "building_centroid_pmtiles": ("c8g.12xlarge", "c8g.12xlarge", 250, 1),
    "risk_pyramid": ("m8g.4xlarge", "m8g.4xlarge", None, 1),
}

RAN = re.compile(
    r"^(?P<asset>\w+): (?P<fn>\w+) ran on cluster (?P<cluster>\S+), .*\(pid (?P<pid>\d+)\)"
)


@pytest.fixture
def calls() -> Iterator[list[dict]]:
    compute_fakes.CALLS.clear()
    yield compute_fakes.CALLS
    compute_fakes.CALLS.clear()


def staging_compute(**fields: str) -> ComputeResource:
    return ComputeResource(
        environment="staging",
        software_env="ocr-main",
        cluster_factory=compute_fakes.PROCESS_FACTORY_PATH,
        **fields,
    )


@pytest.fixture(scope="module")
def process_cluster() -> Iterator[str]:
    """One worker process shared by every requested cluster; its scheduler address."""
    with LocalCluster(
        n_workers=1, threads_per_worker=2, processes=True, dashboard_address="127.0.0.1:0"
    ) as cluster:
        compute_fakes.SHARED_SCHEDULER[:] = [cluster.scheduler_address]
        yield cluster.scheduler_address
        compute_fakes.SHARED_SCHEDULER.clear()


def staging_run(
    selection: list, synthetic_root: Path, root: Path, partition_key: str | None = None
) -> list[dict[str, str]]:
    """Materialize ``selection`` in staging; the ``ran on cluster`` lines its run logged."""
    with dg.DagsterInstance.ephemeral() as instance:
        result = materialize(
            GRAPH,
            pipeline_resources(
                synthetic_root,
                OutputStorage(root=str(root), environment="staging"),
                staging_compute(),
            ),
            partition_key=partition_key,
            selection=selection,
            instance=instance,
        )
        assert result.success, step_failures(result)
        return [
            match.groupdict()
            for entry in instance.all_logs(result.run_id)
            if (match := RAN.match(entry.user_message or "")) is not None
        ]


def test_staging_graph_runs_every_asset_on_a_cluster_sized_for_it(
    calls: list[dict], process_cluster: str, synthetic_root: Path, tmp_path: Path
) -> None:
    root = tmp_path / "data"
    staging_run([wind_direction_distribution], synthetic_root, root)
    assert [call["tags"]["Asset"] for call in calls] == ["wind_direction_distribution"]
    calls.clear()
    region_runs = {}
    for region_id in REGIONS:
        first = len(calls)
        region_runs[region_id] = (first, staging_run(PER_REGION, synthetic_root, root, region_id))
    rollup_runs = staging_run(ROLLUPS, synthetic_root, root)

    requested = Counter(call["tags"]["Asset"] for call in calls)
    assert requested == {
        # One region cluster per region run, shared by its four assets.
        "region_risk_rasters": len(REGIONS),
        **{asset.key.to_user_string(): 1 for asset in ROLLUPS},
        # Its blocking checks read the statistics on a cluster of the same size.
        "region_summary_stats": 2,
    }
    for call in calls:
        asset = call["tags"]["Asset"]
        assert (
            call["worker_vm_types"][0],
            call.get("scheduler_vm_types", [None])[0],
            call.get("worker_disk_size"),
            call["n_workers"],
        ) == SEED_SIZES[asset], asset
        assert call["tags"] == {"Project": "OCR", "Environment": "staging", "Asset": asset}
        assert call["software"] == "ocr-main"
    # Every region asset's work ran on the cluster its run requested, in the worker process.
    for first, runs in region_runs.values():
        assert {run["asset"] for run in runs} == {a.key.to_user_string() for a in PER_REGION}
        assert {run["cluster"] for run in runs} == {f"recorded-{first}"}
        assert all(int(run["pid"]) != os.getpid() for run in runs)
    # Each roll-up's work (and the checks') ran on the cluster requested for it.
    for run in rollup_runs:
        index = int(run["cluster"].removeprefix("recorded-"))
        assert calls[index]["tags"]["Asset"] == run["asset"]
        assert int(run["pid"]) != os.getpid()
    assert len({run["cluster"] for run in rollup_runs}) == len(rollup_runs) == len(ROLLUPS) + 1


def test_values_kept_on_a_remote_cluster_stay_there(
    calls: list[dict], process_cluster: str
) -> None:
    """A region value is computed and kept on the worker; storing it runs there too."""
    compute = staging_compute()
    rasters = compute.persist("region_risk_rasters", compute_fakes.rasters, (3, 4))
    assert is_dask_collection(rasters) and rasters.attrs == {"region_id": "y0_x1"}
    assert rasters["rps_2011"].shape == (3, 4)
    assert run_where_it_lives(compute_fakes.pid_of, rasters) != os.getpid()
    assert float(compute.run("region_buildings", float, rasters["rps_2011"].sum())) == 6.0
    assert len(calls) == 1  # the kept value's cluster served every call
    compute.close()


def test_worker_errors_keep_type_and_message(calls: list[dict], process_cluster: str) -> None:
    compute = staging_compute()
    with pytest.raises(ConnectionResetError, match="endpoint went away"):
        compute.run("buildings_geoparquet", compute_fakes.crash, "endpoint went away")
    # Bad input is final: no retry can fix it.
    with pytest.raises(dg.Failure, match="StorageError: nope is missing") as failure:
        compute.run("buildings_geoparquet", compute_fakes.fail_with, "nope is missing")
    assert failure.value.allow_retries is False
    assert [call["tags"]["Asset"] for call in calls] == ["buildings_geoparquet"] * 2


def test_bad_input_on_the_worker_is_a_final_failure(
    calls: list[dict], process_cluster: str, synthetic_root: Path, tmp_path: Path
) -> None:
    """A damaged ``region_buildings`` file: one attempt despite the retries, naming it."""
    from ocr_assets.orchestration.jobs import PHASE02_REGIONS_JOB
    from ocr_assets_tests.helpers import asset_job, region_instance

    storage = OutputStorage(root=str(tmp_path), environment="staging")
    damaged = Path(storage.layout.region_buildings(REGIONS[0]))
    damaged.parent.mkdir(parents=True)
    damaged.write_bytes(b"not parquet")
    job = asset_job(
        PHASE02_REGIONS_JOB, pipeline_resources(synthetic_root, storage, staging_compute()), 2
    )
    result = job.execute_in_process(
        partition_key=REGIONS[0], instance=region_instance(REGIONS), raise_on_error=False
    )
    assert not result.success
    failure = step_failures(result)["region_statistics_partials"]
    assert failure.startswith(f"StorageError: {damaged}: not a readable GeoParquet file")
    restarts = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_RESTARTED]
    assert restarts == []
    assert [call["tags"]["Asset"] for call in calls] == ["region_statistics_partials"]
    assert not Path(storage.layout.region_statistics_partial(REGIONS[0])).exists()


def test_missing_upstream_output_fails_before_any_cluster_starts(
    calls: list[dict], process_cluster: str, synthetic_root: Path, tmp_path: Path
) -> None:
    """The IO manager names the missing region file when loading; no cluster is requested."""
    result = materialize(
        GRAPH,
        pipeline_resources(
            synthetic_root,
            OutputStorage(root=str(tmp_path), environment="staging"),
            staging_compute(),
        ),
        partition_key=REGIONS[0],
        selection=[region_statistics_partials],
    )
    assert not result.success
    failure = step_failures(result)["region_statistics_partials"]
    assert failure.startswith("StorageError: region_buildings is missing at ")
    assert "y0_x2.parquet" in failure
    assert calls == []


def test_given_scheduler_address_opens_no_cluster(calls: list[dict], process_cluster: str) -> None:
    compute = staging_compute(scheduler_address=process_cluster)
    assert compute.run("region_risk_rasters", compute_fakes.worker_pid) != os.getpid()
    assert calls == []


def test_the_storage_configuration_travels_with_the_work(process_cluster: str) -> None:
    """A worker in another process bounds its storage calls like the process that sent it."""
    configure(replace(current(), read_timeout=7.0, attempts=9))
    compute = ComputeResource(scheduler_address=process_cluster)
    on_worker = compute.run("region_buildings", compute_fakes.storage_config)
    assert (on_worker.read_timeout, on_worker.attempts) == (7.0, 9)


def test_local_asset_runs_share_one_in_process_cluster() -> None:
    compute = ComputeResource()
    first = compute.run("region_summary_stats", compute_fakes.worker_address)
    assert compute.run("building_pmtiles", compute_fakes.worker_address) == first
    assert compute.run("region_buildings", compute_fakes.worker_pid) == os.getpid()
