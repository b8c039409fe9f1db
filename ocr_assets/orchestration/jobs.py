"""The asset jobs: one partitions definition each (a Dagster run targets one region, or none).

=====================  ===========  ==========================================================
job                    partitioned  selects
=====================  ===========  ==========================================================
``wind``               -            ``wind_direction_distribution``
``phase01``            region       ``region_risk_rasters`` (+ its checks), ``region_buildings``
``phase02_regions``    region       ``region_statistics_partials``
``phase02``            -            the phase 02 roll-ups (+ the summary checks)
``phase03_regions``    region       ``region_tile_features``
``phase03``            -            the two building archives
``regions``            region       every region asset (what a deployment runs per region)
``rollups``            -            every roll-up (what a deployment runs after the regions)
=====================  ===========  ==========================================================

The optional branches (``risk_pyramid``: ``OCR_CREATE_PYRAMID``; ``region_analysis_files``:
``OCR_WRITE_REGIONAL_STATS``) stay in the graph (the UI shows them and anyone can materialize
them), but the jobs select them only when their flag is on, as the published CLI builds them
only when asked. Every op of every job retries as the environment's policy says
(``ocr-assets plan`` shows it: 2 retries, 3 in production), waiting 5 s x attempt; bad input
fails at once (:mod:`ocr_assets.orchestration.errors`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import dagster as dg

from ocr_assets.config.compute import RETRY_DELAY_SECONDS
from ocr_assets.orchestration.console import console_config

WIND_JOB = "wind"
PHASE01_JOB = "phase01"
PHASE02_REGIONS_JOB = "phase02_regions"
PHASE02_JOB = "phase02"
PHASE03_REGIONS_JOB = "phase03_regions"
PHASE03_JOB = "phase03"
REGIONS_JOB = "regions"
ROLLUPS_JOB = "rollups"

#: The asset groups of the phases.
PHASE_GROUPS = {"phase01": "phase01", "phase02": "phase02", "phase03": "phase03"}


def retry_policy(retries: int, delay: float = RETRY_DELAY_SECONDS) -> dg.RetryPolicy:
    """``retries`` retries, waiting ``delay`` x attempt (the published pipeline: 5 s)."""
    return dg.RetryPolicy(max_retries=retries, delay=delay, backoff=dg.Backoff.LINEAR)


def build_asset_jobs(
    assets: Sequence[dg.AssetsDefinition | dg.SourceAsset],
    branches: Mapping[str, bool],
    retries: int,
    delay: float = RETRY_DELAY_SECONDS,
) -> list[dg.UnresolvedAssetJobDefinition]:
    """The asset jobs over the materializable ``assets``.

    Args:
        assets: The code location's assets (source assets are observed, never selected).
        branches: Optional asset -> whether the jobs select it.
        retries: Retries of every op (the environment's policy).
        delay: Seconds of the first retry's wait (each later one waits ``delay`` longer).
    """
    materializable = [asset for asset in assets if isinstance(asset, dg.AssetsDefinition)]
    switched_off = [dg.AssetKey(key) for key, on in branches.items() if not on]
    wind = dg.AssetSelection.assets("wind_direction_distribution")
    regions = dg.AssetSelection.assets(*(a for a in materializable if a.partitions_def is not None))
    rollups = (
        dg.AssetSelection.assets(*(a for a in materializable if a.partitions_def is None)) - wind
    ) - dg.AssetSelection.assets(*switched_off)
    phase = {name: dg.AssetSelection.groups(group) for name, group in PHASE_GROUPS.items()}
    jobs = {
        WIND_JOB: (wind, "The fire-weather wind distribution (once per deployment)."),
        PHASE01_JOB: (
            phase["phase01"] & regions,
            "Phase 01 per region: risk rasters (with their blocking checks), then buildings.",
        ),
        PHASE02_REGIONS_JOB: (phase["phase02"] & regions, "Phase 02 per region: partials."),
        PHASE02_JOB: (
            phase["phase02"] & rollups,
            "Phase 02 roll-ups: building GeoParquet, summary statistics, analysis files, "
            "regional tiles and the pyramid.",
        ),
        PHASE03_REGIONS_JOB: (phase["phase03"] & regions, "Phase 03 per region: tile features."),
        PHASE03_JOB: (
            phase["phase03"] & rollups,
            "Phase 03 roll-ups: building and centroid tiles.",
        ),
        REGIONS_JOB: (regions, "Every region-partitioned asset, for one region."),
        ROLLUPS_JOB: (rollups, "Every roll-up (optional branches per their flags)."),
    }
    policy = retry_policy(retries, delay)
    return [
        dg.define_asset_job(
            name,
            selection=selection,
            description=description,
            op_retry_policy=policy,
            # The terminal logger (orchestration.console): Dagster starts a job's loggers only
            # when the run config names them.
            config=console_config(verbose=False),
        )
        for name, (selection, description) in jobs.items()
    ]
