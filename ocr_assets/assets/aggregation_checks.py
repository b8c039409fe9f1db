"""Blocking data-quality checks on ``region_summary_stats``, before any tile is built.

One multi-check reads the statistics of every level (without geometries) and the region
partials once, through their IO managers and on the statistics' cluster, and reports three
blocking checks (the library's :mod:`ocr_assets.rollups.checks`):

- ``histograms_sum_to_building_count``: both risk-score histograms of every polygon of every
  level sum to its ``building_count``.
- ``means_within_variable_ranges``: every polygon written has buildings and every mean lies in
  its variable's range.
- ``every_building_in_one_county``: every building row of every region is assigned to exactly
  one county, and counted once in the county statistics.

Blocking: in a run that materializes ``region_summary_stats`` (or runs these checks), a failure
stops every downstream asset, i.e. the analysis files and all tiles.
"""

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import dagster as dg
import pandas as pd
import pyarrow.parquet as pq

from ocr_assets.assets.aggregation import statistics_names
from ocr_assets.resources import ComputeResource, OutputStorage
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
from ocr_assets.storage import join, objects

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


@dataclass(frozen=True)
class SummaryOutcomes:
    """The outcomes of the summary statistics checks (per level, and the county membership)."""

    histograms: dict[str, CheckOutcome]
    means: dict[str, CheckOutcome]
    membership: CheckOutcome


def summary_outcomes(
    statistics: str, names: Mapping[str, str], partials: Sequence[str]
) -> SummaryOutcomes:
    """Check the statistics of every level in the folder ``statistics`` (on its cluster)."""
    stats = {level: read_statistics(join(statistics, names[level])) for level in LEVELS}
    return SummaryOutcomes(
        histograms={level: check_histograms(frame) for level, frame in stats.items()},
        means={level: check_means_in_range(frame) for level, frame in stats.items()},
        membership=check_county_membership(list(partials), counties=stats["counties"]),
    )


def build_summary_checks(
    summary_stats: dg.AssetsDefinition, partials: dg.AssetsDefinition
) -> dg.AssetChecksDefinition:
    """The blocking checks of ``summary_stats`` (``region_summary_stats``), read through the
    IO managers with every region's ``partials`` (``region_statistics_partials``)."""

    all_partials = dg.AssetDep(partials, partition_mapping=dg.AllPartitionMapping())

    @dg.multi_asset_check(
        specs=[
            dg.AssetCheckSpec(
                HISTOGRAMS,
                asset=summary_stats,
                blocking=True,
                additional_deps=[all_partials],
                description="Both risk-score histograms sum to building_count (every level).",
            ),
            dg.AssetCheckSpec(
                MEANS,
                asset=summary_stats,
                blocking=True,
                additional_deps=[all_partials],
                description="Every polygon has buildings; means within variable ranges.",
            ),
            dg.AssetCheckSpec(
                COUNTY_MEMBERSHIP,
                asset=summary_stats,
                blocking=True,
                additional_deps=[all_partials],
                description="Every building row is in exactly one county and counted once there.",
            ),
        ],
        ins={
            "statistics": dg.AssetIn(summary_stats.key),
            "partials": dg.AssetIn(partials.key),
        },
    )
    def region_summary_stats_checks(
        storage: OutputStorage,
        compute: ComputeResource,
        statistics: str,
        partials: dict[str, str],
    ) -> Iterator[dg.AssetCheckResult]:
        """Check the statistics of every level and the partials, on the statistics' cluster."""
        outcomes: SummaryOutcomes = compute.run(
            summary_stats.key.to_user_string(),
            summary_outcomes,
            statistics,
            statistics_names(storage.paths),
            list(partials.values()),
        )
        yield _per_level(HISTOGRAMS, summary_stats.key, outcomes.histograms)
        yield _per_level(MEANS, summary_stats.key, outcomes.means)
        membership = outcomes.membership
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
