"""Blocking data-quality checks on ``region_summary_stats``, before any tile is built.

One multi-check reads the statistics of every level (without geometries) and the region
partials of every region in the raster store once, from storage and on the statistics' cluster,
and reports three blocking checks (the library's :mod:`ocr_assets.rollups.checks`):

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

from ocr_assets.orchestration.assets.regions import BUILDINGS
from ocr_assets.orchestration.assets.rollups import committed_regions, every_region
from ocr_assets.orchestration.assets.statistics import (
    PARTIALS,
    region_summary_stats,
    statistics_files,
    statistics_names,
)
from ocr_assets.orchestration.resources import ComputeResource, OutputStorage
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


@dataclass(frozen=True)
class SummaryOutcomes:
    """The outcomes of the summary statistics checks (per level, and the county membership)."""

    histograms: dict[str, CheckOutcome]
    means: dict[str, CheckOutcome]
    membership: CheckOutcome


def summary_outcomes(statistics: Mapping[str, str], partials: Sequence[str]) -> SummaryOutcomes:
    """Check the statistics of every level (files by level) and the partials (its cluster)."""
    stats = {level: read_statistics(statistics[level]) for level in LEVELS}
    return SummaryOutcomes(
        histograms={level: check_histograms(frame) for level, frame in stats.items()},
        means={level: check_means_in_range(frame) for level, frame in stats.items()},
        membership=check_county_membership(list(partials), counties=stats["counties"]),
    )


_SPECS = [
    dg.AssetCheckSpec(
        name,
        asset=region_summary_stats,
        blocking=True,
        additional_deps=[every_region(PARTIALS)],
        description=description,
    )
    for name, description in (
        (HISTOGRAMS, "Both risk-score histograms sum to building_count (every level)."),
        (MEANS, "Every polygon has buildings; means within variable ranges."),
        (COUNTY_MEMBERSHIP, "Every building row is in exactly one county and counted once there."),
    )
]


@dg.multi_asset_check(specs=_SPECS)
def region_summary_stats_checks(
    storage: OutputStorage, compute: ComputeResource
) -> Iterator[dg.AssetCheckResult]:
    """Check the statistics of every level and the partials, on the statistics' cluster."""
    key = region_summary_stats.key
    layout = storage.layout
    regions = committed_regions(storage, BUILDINGS, PARTIALS)
    outcomes: SummaryOutcomes = compute.run(
        key.to_user_string(),
        summary_outcomes,
        statistics_files(layout.region_summary_stats_dir, statistics_names(layout)),
        [layout.region_statistics_partial(region_id) for region_id in regions],
    )
    yield _per_level(HISTOGRAMS, key, outcomes.histograms)
    yield _per_level(MEANS, key, outcomes.means)
    membership = outcomes.membership
    yield dg.AssetCheckResult(
        check_name=COUNTY_MEMBERSHIP,
        asset_key=key,
        passed=membership.passed,
        metadata={
            "failures": membership.failures,
            "examples": dg.MetadataValue.json(list(membership.examples)),
            "checked": membership.description,
            **membership.counts,
        },
    )
