"""Every asset's work on its own cluster, sized as the seed sizes its job.

A staging graph (wind, two regions, every roll-up and branch) is materialized with the recording
cluster factory serving each requested cluster from one shared cluster whose worker is a
separate process: each asset run asks for exactly one cluster, with the seed's VM types and
disks, and its work is logged as run on that cluster by a process that is not this one.
:meth:`ComputeResource.run` itself is checked for errors that keep their type across a process
boundary, for a given scheduler address (no cluster opened), and for work that stays in place
when already on a worker.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from distributed import Client, LocalCluster

from ocr_assets.assets import (
    build_aggregation_assets,
    build_region_assets,
    build_summary_checks,
    build_tile_assets,
    wind_direction_distribution,
)
from ocr_assets.deployment import step_failures
from ocr_assets.io_managers import pipeline_resources
from ocr_assets.resources import ComputeResource, OutputStorage
from ocr_assets.storage import StorageError
from ocr_assets_tests import compute_fakes
from ocr_assets_tests.deploy_fixtures import clean_deploy_env  # noqa: F401 (fixture)

REGIONS = ["y0_x2", "y1_x1"]
PARTITIONS = dg.StaticPartitionsDefinition(REGIONS)
NO_RETRIES = dg.RetryPolicy(max_retries=0)
REGION = build_region_assets(PARTITIONS, retry_policy=NO_RETRIES)
AGGREGATION = build_aggregation_assets(PARTITIONS, REGION, retry_policy=NO_RETRIES)
TILES = build_tile_assets(PARTITIONS, REGION, AGGREGATION.summary_stats, NO_RETRIES)
CHECKS = build_summary_checks(AGGREGATION.summary_stats, AGGREGATION.statistics_partials)
PER_REGION = [REGION.rasters, REGION.buildings, AGGREGATION.statistics_partials, TILES.features]
ROLLUPS = [asset for asset in (*AGGREGATION.all, *TILES.all) if asset.partitions_def is None]
GRAPH = [wind_direction_distribution, *PER_REGION, *ROLLUPS, CHECKS]

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
    "building_pmtiles": ("c8g.12xlarge", "c8g.12xlarge", 250, 1),
    "building_centroid_pmtiles": ("c8g.12xlarge", "c8g.12xlarge", 250, 1),
    "risk_pyramid": ("m8g.4xlarge", "m8g.4xlarge", None, 1),
}

RAN = re.compile(
    r"^(?P<asset>\w+): (?P<fn>\w+) ran on cluster (?P<cluster>\S+), .*\(pid (?P<pid>\d+)\)"
)


@pytest.fixture
def calls(clean_deploy_env: pytest.MonkeyPatch) -> Iterator[list[dict]]:  # noqa: F811
    clean_deploy_env.setenv("COILED_SOFTWARE_ENV_NAME", "ocr-main")
    compute_fakes.CALLS.clear()
    yield compute_fakes.CALLS
    compute_fakes.CALLS.clear()


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
        result = dg.materialize(
            GRAPH,
            selection=selection,
            partition_key=partition_key,
            instance=instance,
            resources=pipeline_resources(
                str(synthetic_root),
                OutputStorage(root=str(root), environment="staging"),
                ComputeResource(
                    environment="staging", cluster_factory=compute_fakes.PROCESS_FACTORY_PATH
                ),
            ),
        )
        assert result.success
        return [
            match.groupdict()
            for entry in instance.all_logs(result.run_id)
            if (match := RAN.match(entry.user_message or "")) is not None
        ]


@pytest.mark.integration
def test_staging_graph_runs_every_asset_on_a_cluster_sized_for_it(
    calls: list[dict], process_cluster: str, synthetic_root: Path, tmp_path: Path
) -> None:
    root = tmp_path / "data"
    staging_run([wind_direction_distribution], synthetic_root, root)
    assert [call["tags"]["Asset"] for call in calls] == ["wind_direction_distribution"]
    calls.clear()
    runs = []
    for region_id in REGIONS:
        runs += staging_run(PER_REGION, synthetic_root, root, region_id)
    runs += staging_run(ROLLUPS, synthetic_root, root)

    requested = Counter(call["tags"]["Asset"] for call in calls)
    assert requested == {
        **{asset.key.to_user_string(): len(REGIONS) for asset in PER_REGION},
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
    # Each asset run's work ran once, on the cluster requested for that asset, in the worker
    # process rather than in this (the orchestrating) process.
    assert len(runs) == len(calls)
    for run in runs:
        index = int(run["cluster"].removeprefix("recorded-"))
        assert calls[index]["tags"]["Asset"] == run["asset"]
        assert int(run["pid"]) != os.getpid()
    assert {run["cluster"] for run in runs} == {f"recorded-{i}" for i in range(len(calls))}


def test_worker_errors_keep_type_and_message(calls: list[dict], process_cluster: str) -> None:
    compute = ComputeResource(
        environment="staging", cluster_factory=compute_fakes.PROCESS_FACTORY_PATH
    )
    with pytest.raises(StorageError, match="nope is missing"):
        compute.run("buildings_geoparquet", compute_fakes.fail_with, "nope is missing")
    (call,) = calls
    assert call["tags"]["Asset"] == "buildings_geoparquet"


@pytest.mark.integration
def test_bad_input_on_the_worker_is_a_final_failure(
    calls: list[dict], process_cluster: str, synthetic_root: Path, tmp_path: Path
) -> None:
    """A damaged ``region_buildings`` file: one attempt despite the retry policy, naming it."""
    retrying = build_aggregation_assets(
        PARTITIONS, REGION, retry_policy=dg.RetryPolicy(max_retries=2)
    ).statistics_partials
    storage = OutputStorage(root=str(tmp_path), environment="staging")
    damaged = Path(storage.paths.region_buildings(REGIONS[0]))
    damaged.parent.mkdir(parents=True)
    damaged.write_bytes(b"not parquet")
    result = dg.materialize(
        [wind_direction_distribution, REGION.rasters, REGION.buildings, retrying],
        selection=[retrying],
        partition_key=REGIONS[0],
        resources=pipeline_resources(
            str(synthetic_root),
            storage,
            ComputeResource(
                environment="staging", cluster_factory=compute_fakes.PROCESS_FACTORY_PATH
            ),
        ),
        raise_on_error=False,
    )
    assert not result.success
    failure = step_failures(result)[retrying.op.name]
    assert failure.startswith(f"ParquetInputError: {damaged}: not a readable Parquet file")
    assert [call["tags"]["Asset"] for call in calls] == ["region_statistics_partials"]
    assert not Path(storage.paths.region_statistics_partial(REGIONS[0])).exists()


@pytest.mark.integration
def test_missing_upstream_output_fails_before_any_cluster_starts(
    calls: list[dict], process_cluster: str, synthetic_root: Path, tmp_path: Path
) -> None:
    """The IO manager names the missing region file when loading; no cluster is requested."""
    result = dg.materialize(
        GRAPH,
        selection=[AGGREGATION.statistics_partials],
        partition_key=REGIONS[0],
        resources=pipeline_resources(
            str(synthetic_root),
            OutputStorage(root=str(tmp_path), environment="staging"),
            ComputeResource(
                environment="staging", cluster_factory=compute_fakes.PROCESS_FACTORY_PATH
            ),
        ),
        raise_on_error=False,
    )
    assert not result.success
    failure = step_failures(result)["region_statistics_partials"]
    assert failure.startswith("StorageError: region_buildings is missing for region(s) y0_x2")
    assert calls == []


def test_given_scheduler_address_opens_no_cluster(calls: list[dict], process_cluster: str) -> None:
    compute = ComputeResource(
        environment="staging",
        cluster_factory=compute_fakes.PROCESS_FACTORY_PATH,
        scheduler_address=process_cluster,
    )
    assert compute.run("region_risk_rasters", compute_fakes.worker_pid) != os.getpid()
    assert calls == []


def test_resources_travel_as_configuration(process_cluster: str, tmp_path: Path) -> None:
    storage = OutputStorage(root=str(tmp_path), environment="staging", version="1.2.3")
    compute = ComputeResource(scheduler_address=process_cluster)
    assert compute.run("region_buildings", compute_fakes.storage_fields, storage=storage) == {
        "root": str(tmp_path),
        "environment": "staging",
        "version": "1.2.3",
    }


def test_on_a_worker_the_work_runs_in_place(calls: list[dict], process_cluster: str) -> None:
    with Client(process_cluster) as client:
        outer, inner, clusters = client.submit(compute_fakes.nested_run, pure=False).result()
    assert outer == inner != os.getpid()
    assert clusters == 0


def test_local_asset_runs_share_one_in_process_cluster(
    clean_deploy_env: pytest.MonkeyPatch,  # noqa: F811
) -> None:
    compute = ComputeResource()
    first = compute.run("region_summary_stats", compute_fakes.worker_address)
    assert compute.run("building_pmtiles", compute_fakes.worker_address) == first
    assert compute.run("region_buildings", compute_fakes.worker_pid) == os.getpid()
