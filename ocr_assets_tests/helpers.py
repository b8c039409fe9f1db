"""Dagster helpers shared by the tests: instances, region partitions, runs, what they recorded."""

from __future__ import annotations

import importlib.util
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import dagster as dg
from dagster._core.definitions.asset_checks.asset_check_evaluation import AssetCheckEvaluation

from ocr_assets.code_location import build_definitions
from ocr_assets.config.environments import DEPLOYMENT_JOB, DEPLOYMENT_RUN_TAG
from ocr_assets.config.settings import Settings
from ocr_assets.orchestration.assets import ASSETS, CHECKS
from ocr_assets.orchestration.graph import resources
from ocr_assets.orchestration.jobs import build_asset_jobs
from ocr_assets.orchestration.partitions import add_region_partitions
from ocr_assets.orchestration.resources import (
    ComputeResource,
    InputCatalogResource,
    OutputStorage,
)

#: The repository root (env files, workflows, docker/, the Makefile).
REPO_ROOT = Path(__file__).resolve().parents[1]


def persistent_instance(tmp_path: Path) -> dg.DagsterInstance:
    """A Dagster instance with SQLite storage in a fresh folder (like ``DAGSTER_HOME``)."""
    home = tmp_path / "dagster-home"
    home.mkdir(parents=True, exist_ok=True)
    return dg.DagsterInstance.local_temp(str(home))


def region_instance(region_ids: Iterable[str]) -> dg.DagsterInstance:
    """An ephemeral instance whose region partitions are ``region_ids``."""
    instance = dg.DagsterInstance.ephemeral()
    add_region_partitions(instance, region_ids)
    return instance


def pipeline_resources(
    input_root: str | Path,
    storage: OutputStorage | str | Path,
    compute: ComputeResource | None = None,
) -> dict[str, Any]:
    """Every resource of the asset graph, over ``input_root`` and ``storage`` (local compute)."""
    if not isinstance(storage, OutputStorage):
        storage = OutputStorage(root=str(storage))
    return resources(
        InputCatalogResource(root=str(input_root)),
        storage,
        compute or ComputeResource(environment=storage.environment),
    )


def materialize(
    assets: Sequence[Any],
    resources: Mapping[str, Any],
    partition_key: str | None = None,
    selection: Sequence[Any] | None = None,
    instance: dg.DagsterInstance | None = None,
    raise_on_error: bool = False,
) -> dg.ExecuteInProcessResult:
    """``dagster.materialize`` with the region partition ``partition_key`` known to the
    instance (an ephemeral one unless given)."""
    if instance is None:
        instance = dg.DagsterInstance.ephemeral()
    if partition_key is not None:
        add_region_partitions(instance, [partition_key])
    return dg.materialize(
        list(assets),
        selection=selection,
        partition_key=partition_key,
        resources=dict(resources),
        instance=instance,
        raise_on_error=raise_on_error,
    )


def run_deploy(
    instance: dg.DagsterInstance,
    settings: Settings,
    raise_on_error: bool = True,
    compute: ComputeResource | None = None,
    run_config: dict | None = None,
) -> dg.ExecuteInProcessResult:
    """Execute the ``deploy`` job of ``settings``'s code location, as CI does."""
    defs = build_definitions(settings, compute=compute)
    return defs.resolve_job_def(DEPLOYMENT_JOB).execute_in_process(
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


def asset_job(
    name: str,
    resources: Mapping[str, Any],
    retries: int = 0,
    branches: Mapping[str, bool] | None = None,
) -> dg.JobDefinition:
    """The asset job ``name`` over ``resources``, retrying ``retries`` times without waiting."""
    definitions = dg.Definitions(
        assets=ASSETS,
        asset_checks=CHECKS,
        jobs=build_asset_jobs(ASSETS, branches or {}, retries, delay=0),
        resources=dict(resources),
    )
    return definitions.resolve_job_def(name)


#: Every asset and check of the code location (materialize a selection of it).
GRAPH: list[Any] = [*ASSETS, *CHECKS]


def materialize_region(
    selection: Sequence[Any],
    region_id: str | None,
    input_root: str | Path,
    storage: OutputStorage | str | Path,
) -> dg.ExecuteInProcessResult:
    """Materialize ``selection`` of the graph for ``region_id`` (``None``: roll-ups) on
    ``storage``; the other assets' outputs are read from storage."""
    return materialize(
        GRAPH,
        pipeline_resources(input_root, storage),
        partition_key=region_id,
        selection=selection,
    )


def load_script(name: str) -> ModuleType:
    """``scripts/{name}.py`` of the repository, as a module (the smoke checks)."""
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
