"""Data-quality checks on the statistics, computed without Dagster (asset checks wrap them).

Each returns a :class:`CheckOutcome`; the blocking checks before the tiles are
:func:`check_histograms`, :func:`check_means_in_range` and :func:`check_county_membership`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pandas as pd

from ocr_assets.rollups._sources import parquet_dataset
from ocr_assets.rollups.schema import (
    SCORED_CLIMATES,
    VARIABLE_RANGES,
    histogram_column,
    mean_column,
)
from ocr_assets.rollups.stats import ASSIGNMENTS_FILE
from ocr_assets.storage.paths import join

_EXAMPLES = 5


@dataclass(frozen=True)
class CheckOutcome:
    """Result of one check.

    Attributes:
        passed: Whether the check holds.
        description: What was checked, and on how much.
        failures: Number of offending rows (polygons or buildings).
        examples: A few offending GEOIDs or building ids.
        counts: Extra numbers worth recording (e.g. buildings checked).
    """

    passed: bool
    description: str
    failures: int
    examples: tuple[str, ...] = ()
    counts: dict[str, int] = field(default_factory=dict)


def check_histograms(stats: pd.DataFrame) -> CheckOutcome:
    """Both risk-score histograms of every polygon sum to its ``building_count``."""
    bad = np.zeros(len(stats), dtype=bool)
    for climate in SCORED_CLIMATES:
        sums = np.array([int(np.sum(h)) for h in stats[histogram_column(climate)]], dtype=np.int64)
        bad |= sums != stats["building_count"].to_numpy()
    return CheckOutcome(
        passed=not bad.any(),
        description=f"risk-score histograms sum to building_count ({len(stats)} polygons)",
        failures=int(bad.sum()),
        examples=tuple(stats.loc[bad, "GEOID"].astype(str).head(_EXAMPLES)),
    )


def check_means_in_range(stats: pd.DataFrame) -> CheckOutcome:
    """Every mean lies within its variable's range; it is NaN exactly where there are no buildings."""
    empty = stats["building_count"].to_numpy() == 0
    bad = np.zeros(len(stats), dtype=bool)
    for variable, (low, high) in VARIABLE_RANGES.items():
        mean = stats[mean_column(variable)].to_numpy(dtype=np.float64)
        with np.errstate(invalid="ignore"):
            inside = (mean >= low) & (mean <= high)
        bad |= np.where(empty, ~np.isnan(mean), ~inside)
    return CheckOutcome(
        passed=not bad.any(),
        description=(
            f"means within variable ranges, NaN only without buildings ({len(stats)} polygons)"
        ),
        failures=int(bad.sum()),
        examples=tuple(stats.loc[bad, "GEOID"].astype(str).head(_EXAMPLES)),
    )


def check_county_membership(
    partials: Sequence[str], counties: pd.DataFrame | None = None
) -> CheckOutcome:
    """Every building row of every region partial is assigned to exactly one county.

    A row fails when no county covers its centroid. A centroid covered by two counties (on
    their shared boundary) is given to one of them by the boundary rule of the statistics, so
    no row is assigned twice; with ``counties`` (the county statistics, ``building_count``
    column) the check also proves that each assigned row is counted exactly once there: the
    county building counts must sum to the number of assigned rows.

    The same building ``id`` in two regions is the published behaviour for a building exactly
    on a region border (SCIENCE.md, not deduplicated): it is reported in
    ``counts["repeated_ids"]`` and does not fail the check.
    """
    if not partials:
        return CheckOutcome(True, "every building in exactly one county (0 buildings)", 0)
    with duckdb.connect() as con:
        con.register("assignments", parquet_dataset([join(p, ASSIGNMENTS_FILE) for p in partials]))
        total, outside = con.execute(
            "SELECT count(*), count(*) FILTER (WHERE counties IS NULL) FROM assignments"
        ).fetchone()
        (repeated_ids,) = con.execute(
            "SELECT count(*) FROM (SELECT id FROM assignments GROUP BY id HAVING count(*) > 1)"
        ).fetchone()
        examples = con.execute(
            "SELECT DISTINCT id FROM assignments WHERE counties IS NULL ORDER BY id LIMIT ?",
            [_EXAMPLES],
        ).fetchall()
    assigned = int(total) - int(outside)
    counts = {
        "buildings": int(total),
        "outside_counties": int(outside),
        "repeated_ids": int(repeated_ids),
    }
    failures = int(outside)
    if counties is not None:
        counted = int(counties["building_count"].sum())
        counts["counted_in_counties"] = counted
        failures += abs(counted - assigned)
    return CheckOutcome(
        passed=failures == 0,
        description=f"every building in exactly one county ({total} buildings)",
        failures=failures,
        examples=tuple(str(row[0]) for row in examples),
        counts=counts,
    )
