"""Blocking data-quality checks on ``region_summary_stats``, before any tile is built.

One multi-check reads the statistics of every level (without geometries) and the region
partials once, and reports three blocking checks (the library's :mod:`ocr_assets.rollups.checks`):

- ``histograms_sum_to_building_count``: both risk-score histograms of every polygon of every
  level sum to its ``building_count``.
- ``means_within_variable_ranges``: every polygon written has buildings and every mean lies in
  its variable's range.
- ``every_building_in_one_county``: every building row of every region is assigned to exactly
  one county, and counted once in the county statistics.

Blocking: in a run that materializes ``region_summary_stats`` (or runs these checks), a failure
stops every downstream asset, i.e. the analysis files and all tiles.
"""

from collections.abc import Iterator

import dagster as dg
import pandas as pd
import pyarrow.parquet as pq

from ocr_assets.assets.rollup_support import partition_region_ids
from ocr_assets.resources import OutputStorage
from ocr_assets.rollups import (
    LEVELS,
    CheckOutcome,
    check_county_membership,
    check_histograms,
    check_means_in_range,
)
from ocr_assets.rollups.schema import (
    SCORED_CLIMATES,
    VARIABLE_RANGES,
    histogram_column,
    mean_column,
)
from ocr_assets.storage import objects

HISTOGRAMS = "histograms_sum_to_building_count"
MEANS = "means_within_variable_ranges"
COUNTY_MEMBERSHIP = "every_building_in_one_county"

#: The statistics columns the checks read (no geometry: memory stays small).
CHECKED_COLUMNS: tuple[str, ...] = (
    "GEOID",
    "building_count",
    *(histogram_column(climate) for climate in SCORED_CLIMATES),
    *(mean_column(variable) for variable in VARIABLE_RANGES),
)


def read_statistics(location: str) -> pd.DataFrame:
    """The checked columns of one level's statistics file (local or remote)."""
    fs, path = objects.filesystem(location)
    return pq.read_table(path, columns=list(CHECKED_COLUMNS), filesystem=fs).to_pandas()


def _per_level(
    name: str, asset_key: dg.AssetKey, outcomes: dict[str, CheckOutcome]
) -> dg.AssetCheckResult:
    """One check result summarising a check run on every level."""
    return dg.AssetCheckResult(
        check_name=name,
        asset_key=asset_key,
        passed=all(outcome.passed for outcome in outcomes.values()),
        metadata={
            "failures": sum(outcome.failures for outcome in outcomes.values()),
            "failures_per_level": dg.MetadataValue.json(
                {level: outcome.failures for level, outcome in outcomes.items()}
            ),
            "examples": dg.MetadataValue.json(
                {level: list(o.examples) for level, o in outcomes.items() if o.examples}
            ),
            "checked": dg.MetadataValue.json(
                {level: outcome.description for level, outcome in outcomes.items()}
            ),
        },
    )


def build_summary_checks(
    summary_stats: dg.AssetsDefinition, partitions_def: dg.PartitionsDefinition
) -> dg.AssetChecksDefinition:
    """The blocking checks of ``summary_stats`` (the ``region_summary_stats`` asset)."""

    @dg.multi_asset_check(
        specs=[
            dg.AssetCheckSpec(
                HISTOGRAMS,
                asset=summary_stats,
                blocking=True,
                description="Both risk-score histograms sum to building_count (every level).",
            ),
            dg.AssetCheckSpec(
                MEANS,
                asset=summary_stats,
                blocking=True,
                description="Every polygon has buildings; means within variable ranges.",
            ),
            dg.AssetCheckSpec(
                COUNTY_MEMBERSHIP,
                asset=summary_stats,
                blocking=True,
                description="Every building row is in exactly one county and counted once there.",
            ),
        ],
    )
    def region_summary_stats_checks(
        context: dg.AssetCheckExecutionContext, storage: OutputStorage
    ) -> Iterator[dg.AssetCheckResult]:
        """Read the statistics of every level and the partials, and check them."""
        paths = storage.paths
        stats = {level: read_statistics(paths.region_summary_stats(level)) for level in LEVELS}
        yield _per_level(
            HISTOGRAMS,
            summary_stats.key,
            {level: check_histograms(frame) for level, frame in stats.items()},
        )
        yield _per_level(
            MEANS,
            summary_stats.key,
            {level: check_means_in_range(frame) for level, frame in stats.items()},
        )
        partials = [
            paths.region_statistics_partial(region_id)
            for region_id in partition_region_ids(context, partitions_def)
        ]
        membership = check_county_membership(partials, counties=stats["counties"])
        yield dg.AssetCheckResult(
            check_name=COUNTY_MEMBERSHIP,
            asset_key=summary_stats.key,
            passed=membership.passed,
            metadata={
                "failures": membership.failures,
                "examples": dg.MetadataValue.json(list(membership.examples)),
                "checked": membership.description,
                **membership.counts,
            },
        )

    return region_summary_stats_checks
