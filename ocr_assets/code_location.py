"""The code location of one environment: the asset graph, the deploy job, sensors, resources.

:func:`build_definitions` assembles everything from validated
:class:`~ocr_assets.config.settings.Settings`: the module-level assets and checks, the asset
jobs of the environment (:mod:`ocr_assets.orchestration.jobs`), the ``deploy`` job
(:mod:`ocr_assets.deploy.job`) and the resources built from the settings. The entry points call
it: :mod:`ocr_assets.definitions` (``make ui``, ``dagster job execute``) with the settings of
the process environment, ``make demo`` with its own. Building reads no data.
"""

from __future__ import annotations

import dagster as dg

from ocr_assets.config.settings import Settings
from ocr_assets.deploy.job import DeploymentResource, deploy
from ocr_assets.orchestration.graph import graph_definitions
from ocr_assets.orchestration.resources import (
    ComputeResource,
    InputCatalogResource,
    OutputStorage,
)
from ocr_assets.orchestration.run_monitoring import dead_runs_sensor


def build_definitions(settings: Settings, compute: ComputeResource | None = None) -> dg.Definitions:
    """The Definitions of one environment: assets, checks, jobs, sensors and resources.

    ``compute`` defaults to the environment's clusters (tests inject a recording factory).
    """
    catalog = InputCatalogResource.from_settings(settings)
    storage = OutputStorage.from_settings(settings)
    compute = compute or ComputeResource.from_settings(settings)
    graph = graph_definitions(catalog, storage, compute, settings.branches, settings.retries)
    return dg.Definitions.merge(
        graph,
        dg.Definitions(
            jobs=[deploy],
            # Process IDs name processes of this host only in the single-host local instance.
            sensors=[dead_runs_sensor] if settings.environment == "local" else [],
            resources={"deployment": DeploymentResource.from_settings(settings)},
        ),
    )
