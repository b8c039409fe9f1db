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
from ocr_assets.rollups.stats import ASSIGNMENTS
from ocr_assets.storage.tables import table_file

_EXAMPLES = 5


@dataclass(frozen=True)
class CheckOutcome:
    """Result of one check.

    Attributes:
        passed: Whether the check holds.
        description: What was checked, and on how much.
        failures: Number of offending rows (polygons or buildings).
        examples: A few offending GEOIDs or buildings (block GEOID and row of the region file).
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
    """Every polygon has buildings and every mean lies within its variable's range (not NaN)."""
    bad = stats["building_count"].to_numpy() <= 0
    for variable, (low, high) in VARIABLE_RANGES.items():
        mean = stats[mean_column(variable)].to_numpy(dtype=np.float64, na_value=np.nan)
        with np.errstate(invalid="ignore"):
            bad |= ~((mean >= low) & (mean <= high))
    return CheckOutcome(
        passed=not bad.any(),
        description=(
            f"building_count > 0 and means within variable ranges ({len(stats)} polygons)"
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
    no row is assigned twice (the published join counts it in both); with ``counties`` (the
    county statistics, ``building_count`` column) the check also proves that each assigned row
    is counted exactly once there: the county building counts must sum to the number of
    assigned rows. Every building is in exactly one region file (the region table contract),
    so rows are buildings.
    """
    if not partials:
        return CheckOutcome(True, "every building in exactly one county (0 buildings)", 0)
    with duckdb.connect() as con:
        con.register("assignments", parquet_dataset([table_file(p, ASSIGNMENTS) for p in partials]))
        total, outside = con.execute(
            "SELECT count(*), count(*) FILTER (WHERE counties IS NULL) FROM assignments"
        ).fetchone()
        examples = con.execute(
            "SELECT DISTINCT GEOID, row FROM assignments WHERE counties IS NULL "
            "ORDER BY GEOID, row LIMIT ?",
            [_EXAMPLES],
        ).fetchall()
    assigned = int(total) - int(outside)
    counts = {"buildings": int(total), "outside_counties": int(outside)}
    failures = int(outside)
    if counties is not None:
        counted = int(counties["building_count"].sum())
        counts["counted_in_counties"] = counted
        failures += abs(counted - assigned)
    return CheckOutcome(
        passed=failures == 0,
        description=f"every building in exactly one county ({total} buildings)",
        failures=failures,
        examples=tuple(f"block {geoid}, row {row}" for geoid, row in examples),
        counts=counts,
    )
