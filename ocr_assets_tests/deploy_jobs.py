"""Running the ``deploy`` job in tests: Definitions over tiny inputs, one call per deployment."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.definitions.asset_checks.asset_check_evaluation import AssetCheckEvaluation

from ocr_assets.branches import OptionalBranches
from ocr_assets.definitions import build_definitions
from ocr_assets.deploy.environments import DEPLOYMENT_JOB, DEPLOYMENT_RUN_TAG
from ocr_assets.resources import ComputeResource
from ocr_assets.settings import Settings


def persistent_instance(tmp_path: Path) -> dg.DagsterInstance:
    """A Dagster instance with SQLite storage in a fresh folder (like ``DAGSTER_HOME``)."""
    home = tmp_path / "dagster-home"
    home.mkdir(parents=True, exist_ok=True)
    return dg.DagsterInstance.local_temp(str(home))


def run_deploy(
    monkeypatch: pytest.MonkeyPatch,
    instance: dg.DagsterInstance,
    settings: Settings,
    regions: str,
    branches: OptionalBranches,
    raise_on_error: bool = True,
    compute: ComputeResource | None = None,
    run_config: dict | None = None,
    **variables: str,
) -> dg.ExecuteInProcessResult:
    """Execute the ``deploy`` job of ``settings``'s Definitions, as CI does.

    ``regions`` and ``variables`` are set in the process environment, where the job reads them.
    """
    monkeypatch.setenv("OCR_REGIONS", regions)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    defs = build_definitions(settings, branches, compute=compute)
    return defs.get_job_def(DEPLOYMENT_JOB).execute_in_process(
        instance=instance,
        tags={DEPLOYMENT_RUN_TAG: settings.environment},
        run_config=run_config,
        raise_on_error=raise_on_error,
    )


def partitions_materialized(instance: dg.DagsterInstance, name: str) -> Counter[str | None]:
    """How many materializations each partition of ``name`` has."""
    records = instance.fetch_materializations(dg.AssetKey(name), limit=1000).records
    return Counter(record.partition_key for record in records)


def check_results(instance: dg.DagsterInstance, asset: str, check: str) -> dict[str | None, bool]:
    """Partition -> passed, of the latest evaluation of ``asset``'s check ``check`` per partition."""
    key = dg.AssetCheckKey(dg.AssetKey(asset), check)
    results: dict[str | None, bool] = {}
    for record in instance.event_log_storage.get_asset_check_execution_history(key, limit=1000):
        if record.event is None or record.event.dagster_event is None:
            continue
        evaluation = record.event.dagster_event.event_specific_data
        if isinstance(evaluation, AssetCheckEvaluation):
            results.setdefault(evaluation.partition, evaluation.passed)  # newest first
    return results
