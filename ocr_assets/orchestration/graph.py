"""The asset graph with its jobs and resources: what the code location and the deploy job run.

:func:`graph_definitions` is the one composition of the module-level assets and checks
(:mod:`ocr_assets.orchestration.assets`), the asset jobs of the environment
(:mod:`ocr_assets.orchestration.jobs`) and the resources; the code location
(:mod:`ocr_assets.code_location`) adds the deploy job to it, and the deploy job resolves its
child jobs from it with the deployment's region cluster as their compute.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg

from ocr_assets.orchestration.assets import ASSETS, CHECKS
from ocr_assets.orchestration.console import console_logger
from ocr_assets.orchestration.io_managers import io_managers
from ocr_assets.orchestration.jobs import build_asset_jobs
from ocr_assets.orchestration.resources import (
    ComputeResource,
    InputCatalogResource,
    OutputStorage,
)


def resources(
    catalog: InputCatalogResource, storage: OutputStorage, compute: ComputeResource
) -> dict[str, Any]:
    """Every resource the assets and checks use, by key: inputs, storage, compute, IO managers."""
    return {"catalog": catalog, "storage": storage, "compute": compute, **io_managers(storage)}


def graph_definitions(
    catalog: InputCatalogResource,
    storage: OutputStorage,
    compute: ComputeResource,
    branches: Mapping[str, bool],
    retries: int,
) -> dg.Definitions:
    """The assets, checks, asset jobs, resources and terminal logger of one environment."""
    return dg.Definitions(
        assets=ASSETS,
        asset_checks=CHECKS,
        jobs=build_asset_jobs(ASSETS, branches, retries),
        resources=resources(catalog, storage, compute),
        loggers={"console": console_logger},
    )
