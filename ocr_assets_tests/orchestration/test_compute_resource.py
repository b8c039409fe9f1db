"""The compute resource: per-asset cluster specs, the Coiled path through a recording factory,
and the clusters a run keeps open only while they hold its values."""

from __future__ import annotations

import pytest

from ocr_assets.orchestration.resources import ComputeResource
from ocr_assets_tests.orchestration import compute_fakes


@pytest.fixture
def calls() -> list[dict]:
    compute_fakes.CALLS.clear()
    return compute_fakes.CALLS


def test_local_environment_gets_a_local_cluster() -> None:
    spec = ComputeResource().spec("region_risk_rasters")
    assert (spec.backend, spec.n_workers, spec.threads_per_worker) == ("local", 1, 2)


def test_staging_region_work_asks_coiled_for_the_seed_size(calls: list[dict]) -> None:
    compute = ComputeResource(
        environment="staging", software_env="ocr-main", cluster_factory=compute_fakes.FACTORY_PATH
    )
    assert compute.run("region_risk_rasters", str.upper, "y0_x1") == "Y0_X1"
    assert calls == [
        {
            "n_workers": 20,
            "worker_vm_types": ["m8g.2xlarge"],
            "spot_policy": "spot_with_fallback",
            "region": "us-west-2",
            "tags": {"Project": "OCR", "Environment": "staging", "Asset": "region_risk_rasters"},
            "idle_timeout": "20 minutes",
            "software": "ocr-main",
        }
    ]


def test_rollup_sizes_and_overrides(calls: list[dict]) -> None:
    compute = ComputeResource(
        environment="production",
        overrides='{"building_pmtiles": {"disk_size_gb": 500}}',
        cluster_factory=compute_fakes.FACTORY_PATH,
    )
    with compute.cluster("building_pmtiles"):
        pass
    (call,) = calls
    assert call["worker_vm_types"] == ["c8g.12xlarge"]
    assert call["scheduler_vm_types"] == ["c8g.12xlarge"]
    assert call["worker_disk_size"] == 500


def test_local_backend_forces_a_local_cluster(calls: list[dict]) -> None:
    compute = ComputeResource(
        environment="qa", backend="local", cluster_factory=compute_fakes.FACTORY_PATH
    )
    assert compute.run("region_buildings", len, "y2_x5") == 5
    assert calls == [
        {
            "n_workers": 1,
            "threads_per_worker": 2,
            "processes": False,
            "memory_limit": 0,
            "dashboard_address": "127.0.0.1:0",
        }
    ]


def test_a_cluster_closes_after_its_call_unless_it_keeps_a_value(calls: list[dict]) -> None:
    compute = ComputeResource(environment="staging", cluster_factory=compute_fakes.FACTORY_PATH)
    compute.run("buildings_geoparquet", len, "ab")
    compute.run("buildings_geoparquet", len, "abc")
    assert len(calls) == 2  # one cluster per call: nothing was kept
    compute.persist("region_risk_rasters", compute_fakes.rasters, (2, 3))
    compute.run("region_buildings", len, "abc")
    # The region assets' clusters are the same size: the one keeping the rasters is reused.
    assert [call["tags"]["Asset"] for call in calls[2:]] == ["region_risk_rasters"]
    compute.close()


def test_bad_configuration_is_named() -> None:
    with pytest.raises(Exception, match="OCR_ENVIRONMENT='dev'"):
        ComputeResource(environment="dev")
    with pytest.raises(Exception, match="unknown asset key 'nope'"):
        ComputeResource(overrides='{"nope": {}}')
    with pytest.raises(Exception, match="OCR_COMPUTE='gpu'"):
        ComputeResource(backend="gpu")
    compute = ComputeResource(cluster_factory="no_colon")
    with pytest.raises(ValueError, match="module:attribute"), compute.cluster("risk_pyramid"):
        pass
