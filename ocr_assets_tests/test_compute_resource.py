"""The compute resource: per-asset cluster specs, the Coiled path through a recording factory,
region maps with retries on a real local cluster."""

from __future__ import annotations

import pytest

from ocr_assets.resources import ComputeResource
from ocr_assets_tests import compute_fakes
from ocr_assets_tests.deploy_fixtures import clean_deploy_env  # noqa: F401 (fixture)


@pytest.fixture
def env(clean_deploy_env: pytest.MonkeyPatch) -> pytest.MonkeyPatch:  # noqa: F811
    """No deployment variable set in the process environment."""
    return clean_deploy_env


@pytest.fixture
def calls() -> list[dict]:
    compute_fakes.CALLS.clear()
    return compute_fakes.CALLS


def test_local_environment_gets_a_local_cluster(env: pytest.MonkeyPatch) -> None:
    spec = ComputeResource().spec("region_risk_rasters")
    assert (spec.backend, spec.n_workers, spec.threads_per_worker) == ("local", 1, 2)


def test_staging_region_work_asks_coiled_for_the_seed_size(
    env: pytest.MonkeyPatch, calls: list[dict]
) -> None:
    env.setenv("COILED_SOFTWARE_ENV_NAME", "ocr-main")
    compute = ComputeResource(environment="staging", cluster_factory=compute_fakes.FACTORY_PATH)
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


def test_rollup_sizes_and_overrides(env: pytest.MonkeyPatch, calls: list[dict]) -> None:
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


def test_ocr_compute_local_forces_a_local_cluster(
    env: pytest.MonkeyPatch, calls: list[dict]
) -> None:
    env.setenv("OCR_COMPUTE", "local")
    compute = ComputeResource(environment="qa", cluster_factory=compute_fakes.FACTORY_PATH)
    assert compute.run("region_buildings", len, "y2_x5") == 5
    assert calls == [
        {
            "n_workers": 1,
            "threads_per_worker": 2,
            "processes": False,
            "dashboard_address": "127.0.0.1:0",
        }
    ]


def test_bad_configuration_is_named() -> None:
    with pytest.raises(Exception, match="OCR_ENVIRONMENT='dev'"):
        ComputeResource(environment="dev")
    with pytest.raises(Exception, match="unknown asset key 'nope'"):
        ComputeResource(overrides='{"nope": {}}')
    compute = ComputeResource(cluster_factory="no_colon")
    with pytest.raises(ValueError, match="module:attribute"), compute.cluster("risk_pyramid"):
        pass
