"""Per-asset cluster sizes, the local and (fake) Coiled cluster factories, region retries.

The sizes are :mod:`ocr_assets.config.compute`'s; the factories that make clusters of them are
:mod:`ocr_assets.orchestration.clusters`'."""

from __future__ import annotations

import inspect
import logging
from typing import Any, ClassVar

import pytest

from ocr_assets.config.compute import (
    PACKAGE_SYNC_WARNING,
    SIZES,
    ClusterSpec,
    cluster_spec,
    parse_overrides,
)
from ocr_assets.config.naming import DeploymentError
from ocr_assets.config.settings import Settings
from ocr_assets.orchestration.clusters import make_cluster
from ocr_assets.storage.layout import ASSET_KEYS

TILE_ASSETS = ("regional_pmtiles", "building_pmtiles", "building_centroid_pmtiles")


class FakeCoiledCluster:
    """Stands in for ``coiled.Cluster``: records every construction, starts nothing."""

    calls: ClassVar[list[dict[str, Any]]] = []

    def __init__(self, **kwargs: Any) -> None:
        FakeCoiledCluster.calls.append(kwargs)
        self.closed = False

    def __enter__(self) -> FakeCoiledCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.closed = True


@pytest.fixture
def fake_coiled() -> type[FakeCoiledCluster]:
    FakeCoiledCluster.calls = []
    return FakeCoiledCluster


def test_every_asset_has_a_size() -> None:
    assert set(SIZES) == set(ASSET_KEYS)


@pytest.mark.parametrize(
    ("asset", "vm", "scheduler", "disk"),
    [
        ("region_risk_rasters", "m8g.2xlarge", None, None),
        ("region_buildings", "m8g.2xlarge", None, None),
        ("risk_pyramid", "m8g.4xlarge", "m8g.4xlarge", None),
        ("buildings_geoparquet", "c8g.12xlarge", "c8g.12xlarge", None),
        ("region_summary_stats", "m8g.16xlarge", "m8g.16xlarge", None),
        ("region_analysis_files", "r8g.4xlarge", "r8g.4xlarge", None),
        ("regional_pmtiles", "c8g.12xlarge", "c8g.12xlarge", 250),
        ("building_pmtiles", "c8g.12xlarge", "c8g.12xlarge", 250),
        ("building_centroid_pmtiles", "c8g.12xlarge", "c8g.12xlarge", 250),
    ],
)
def test_seed_sizes(asset: str, vm: str, scheduler: str | None, disk: int | None) -> None:
    spec = cluster_spec("staging", asset)
    assert (spec.backend, spec.vm_type, spec.scheduler_vm_type, spec.disk_size_gb) == (
        "coiled",
        vm,
        scheduler,
        disk,
    )
    assert spec.spot_policy == "spot_with_fallback"
    assert spec.region == "us-west-2"
    assert spec.tags == {"Project": "OCR", "Environment": "staging", "Asset": asset}


def test_local_environment_and_ocr_compute_local() -> None:
    local = cluster_spec("local", "regional_pmtiles")
    forced = cluster_spec("production", "regional_pmtiles", backend="local")
    for spec in (local, forced):
        assert spec.backend == "local"
        assert (spec.vm_type, spec.scheduler_vm_type, spec.disk_size_gb) == (None, None, None)
        assert spec.to_dict()["threads_per_worker"] == 2
    assert forced.tags["Environment"] == "production"
    assert cluster_spec("local", "risk_pyramid", backend="coiled").backend == "coiled"
    with pytest.raises(DeploymentError, match="OCR_COMPUTE='gpu' is not a compute backend"):
        cluster_spec("qa", "risk_pyramid", backend="gpu")
    # OCR_COMPUTE reaches the spec through the settings.
    settings = Settings.from_variables({"OCR_ENVIRONMENT": "local", "OCR_COMPUTE": "coiled"})
    assert settings.cluster_spec("risk_pyramid").backend == "coiled"


def test_cluster_spec_reads_no_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCR_COMPUTE", "local")
    monkeypatch.setenv("OCR_COMPUTE_OVERRIDES", '{"*": {"n_workers": 9}}')
    monkeypatch.setenv("COILED_SOFTWARE_ENV_NAME", "from-the-environment")
    spec = cluster_spec("qa", "region_risk_rasters")
    assert (spec.backend, spec.n_workers, spec.software) == ("coiled", 20, None)


def test_overrides_from_the_settings_and_from_code() -> None:
    text = (
        '{"*": {"n_workers": 3}, "region_risk_rasters": {"vm_type": "m8g.4xlarge"},'
        ' "regional_pmtiles": {"disk_size_gb": 500, "scheduler_vm_type": null}}'
    )
    settings = Settings.from_variables(
        {"OCR_ENVIRONMENT": "qa", "OCR_STORAGE_ROOT": "/data", "OCR_COMPUTE_OVERRIDES": text}
    )
    for spec_of in (
        settings.cluster_spec,  # OCR_COMPUTE_OVERRIDES, parsed by the settings
        lambda asset: cluster_spec("qa", asset, overrides=parse_overrides(text)),  # from code
    ):
        rasters = spec_of("region_risk_rasters")
        assert (rasters.vm_type, rasters.n_workers) == ("m8g.4xlarge", 3)
        tiles = spec_of("regional_pmtiles")
        assert (tiles.vm_type, tiles.scheduler_vm_type, tiles.disk_size_gb) == (
            "c8g.12xlarge",
            None,
            500,
        )
        assert spec_of("risk_pyramid").n_workers == 3
    pyramid = cluster_spec("qa", "risk_pyramid", overrides={"risk_pyramid": {"n_workers": 7}})
    assert pyramid.n_workers == 7
    local = cluster_spec("local", "risk_pyramid", overrides={"*": {"threads_per_worker": 6}})
    assert local.threads_per_worker == 6


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ('{"region_rasters": {}}', "unknown asset key 'region_rasters'"),
        ('{"*": {"vm": "x"}}', "unknown field 'vm'"),
        ('{"*": {"n_workers": 0}}', "must be a positive integer"),
        ('{"*": {"n_workers": true}}', "must be a positive integer"),
        ('{"*": {"vm_type": null}}', "must be a non-empty string$"),
        ('{"*": {"disk_size_gb": "big"}}', "must be a positive integer or null"),
        ('{"*": 3}', "must be an object"),
        ("[1]", "must be a JSON object"),
    ],
)
def test_bad_overrides_name_the_setting(overrides: str, message: str) -> None:
    with pytest.raises(DeploymentError, match=message) as info:
        parse_overrides(overrides)
    assert str(info.value).startswith("OCR_COMPUTE_OVERRIDES")


def test_unknown_asset_and_environment() -> None:
    with pytest.raises(DeploymentError, match="unknown asset key 'tiles'"):
        cluster_spec("qa", "tiles")
    with pytest.raises(DeploymentError, match="OCR_ENVIRONMENT='dev'"):
        cluster_spec("dev", "risk_pyramid")


def test_fake_coiled_factory_records_exact_kwargs(
    fake_coiled: type[FakeCoiledCluster], caplog: pytest.LogCaptureFixture
) -> None:
    spec = cluster_spec("production", "building_pmtiles", software="ocr-v1-2-3")
    with caplog.at_level(logging.WARNING), make_cluster(spec, factory=fake_coiled) as cluster:
        assert isinstance(cluster, FakeCoiledCluster)
    assert cluster.closed
    assert fake_coiled.calls == [
        {
            "n_workers": 2,
            "worker_vm_types": ["c8g.12xlarge"],
            "scheduler_vm_types": ["c8g.12xlarge"],
            "worker_disk_size": 250,
            "spot_policy": "spot_with_fallback",
            "region": "us-west-2",
            "tags": {"Project": "OCR", "Environment": "production", "Asset": "building_pmtiles"},
            "idle_timeout": "20 minutes",
            "software": "ocr-v1-2-3",
        }
    ]
    assert PACKAGE_SYNC_WARNING not in caplog.text


def test_without_software_env_coiled_uses_package_sync_and_warns(
    fake_coiled: type[FakeCoiledCluster], caplog: pytest.LogCaptureFixture
) -> None:
    spec = cluster_spec("qa", "region_risk_rasters", software="")
    with caplog.at_level(logging.WARNING, logger="ocr_assets.orchestration.clusters"):
        make_cluster(spec, factory=fake_coiled)
    (kwargs,) = fake_coiled.calls
    assert "software" not in kwargs and "container" not in kwargs
    assert kwargs["worker_vm_types"] == ["m8g.2xlarge"]
    assert kwargs["n_workers"] == 20
    assert "scheduler_vm_types" not in kwargs and "worker_disk_size" not in kwargs
    assert "COILED_SOFTWARE_ENV_NAME not set; Coiled will use package sync" in caplog.messages


def test_a_named_spec_names_its_cluster(fake_coiled: type[FakeCoiledCluster]) -> None:
    spec = ClusterSpec("coiled", "qa", "risk_pyramid", 1, vm_type="m8g.4xlarge", name="run-1")
    make_cluster(spec, factory=fake_coiled)
    assert fake_coiled.calls[0]["name"] == "run-1"


def test_coiled_kwargs_are_parameters_of_coiled_cluster(
    fake_coiled: type[FakeCoiledCluster],
) -> None:
    coiled = pytest.importorskip("coiled")
    accepted = set(inspect.signature(coiled.Cluster.__init__).parameters)
    for asset in ASSET_KEYS:
        make_cluster(cluster_spec("staging", asset, software="x"), fake_coiled)
    for kwargs in fake_coiled.calls:
        assert set(kwargs) <= accepted


def test_local_factory_gets_local_kwargs() -> None:
    calls: ClassVar[list[dict[str, Any]]] = []

    def factory(**kwargs: Any) -> Any:
        calls.append(kwargs)
        return FakeCoiledCluster()

    make_cluster(cluster_spec("local", "region_risk_rasters"), factory)
    assert calls == [
        {
            "n_workers": 1,
            "threads_per_worker": 2,
            "processes": False,
            "memory_limit": 0,
            "dashboard_address": "127.0.0.1:0",
        }
    ]
