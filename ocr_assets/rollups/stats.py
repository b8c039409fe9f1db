"""Summary statistics per census level (``region_summary_stats``), built incrementally.

For blocks, tracts, counties, states and the nation: ``GEOID`` (+ ``NAME``, + ``STUSPS`` where
the census has them), ``building_count``, the mean and median of each of the seven building
variables, ``risk_score_2011_hist`` / ``risk_score_2047_hist`` (11 counts: score 0, then the
10 score bins of :func:`ocr_assets.science.risk_score`) and the polygon geometry. Every census
polygon appears; one without buildings has count 0, NaN means and medians and zero histograms.

Which polygon a building belongs to
    the one containing its footprint's centroid (planar, in EPSG:4326 degrees). A centroid on
    the boundary is covered by the polygons on both sides; it then belongs to the one with the
    smallest GEOID, so every centroid inside the census coverage has exactly one polygon per
    level, whatever the order of files or rows. A centroid outside every polygon of a level is
    not counted at that level.

Incremental design
    :func:`write_region_partial` does the heavy per-region work once: it reads the region's
    buildings, computes centroids, assigns them to the polygons of every level and scores them.
    It writes two tables into the partial's folder:

    - ``assignments.parquet``: per building, its ``id``, the GEOID it belongs to at each level,
      the seven variables and the two scores (what exact medians need);
    - ``aggregates.parquet``: per (level, GEOID) touched by the region, the count, float64 sums,
      medians and the two histograms.

    :func:`summary_statistics` merges the partials of all regions for one level: counts,
    histograms and sums (hence means) are summed from the aggregates (exact for the integers;
    the means equal a from-scratch computation up to float64 rounding of the summation order).
    A median cannot be merged from medians: where a polygon's buildings all come from one region
    the region's median is taken as is (exact); polygons shared by several regions (border
    blocks/tracts/counties, every state spanning regions, the nation) get their medians from
    those polygons' rows of the assignment tables, read again (exact, but it scans the values
    of every building of such polygons, which for the nation means all of them).
    Re-materializing one region therefore redoes only that region's partial plus the cheap merge.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import duckdb
import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import shapely

from ocr_assets.rollups._sources import parquet_dataset, parquet_file
from ocr_assets.rollups.schema import (
    LEVELS,
    SCORED_CLIMATES,
    histogram_column,
    mean_column,
    median_column,
    score_column,
)
from ocr_assets.rollups.validation import CensusPolygons, validate_region_schema
from ocr_assets.science import BUILDING_VARIABLES, N_SCORES, risk_score
from ocr_assets.storage.atomic import atomic_output
from ocr_assets.storage.geoparquet import write_geoparquet
from ocr_assets.storage.paths import join

#: File names inside a region partial's folder.
ASSIGNMENTS_FILE = "assignments.parquet"
AGGREGATES_FILE = "aggregates.parquet"

_BATCH_ROWS = 65_536
_SUM = "sum_{}"
_HIST_BIN = "{}_{}"


def assign_to_polygons(points: np.ndarray, polygons: np.ndarray) -> np.ndarray:
    """Index into ``polygons`` of the polygon each point belongs to, ``-1`` for none.

    A point belongs to the polygons that cover it (interior or boundary); of several, the one
    with the lowest index wins. With polygons sorted by GEOID that is the smallest GEOID.
    """
    tree = shapely.STRtree(points)
    polygon_index, point_index = tree.query(polygons, predicate="covers")
    owner = np.full(len(points), len(polygons), dtype=np.int64)
    np.minimum.at(owner, point_index, polygon_index)
    owner[owner == len(polygons)] = -1
    return owner


@dataclass(frozen=True)
class RegionPartial:
    """What :func:`write_region_partial` wrote for one region.

    Attributes:
        location: The partial's folder (input of :func:`summary_statistics`).
        source: The region building file it summarises.
        buildings: Buildings read.
        unassigned: Per level, buildings whose centroid no polygon of that level covers.
    """

    location: str
    source: str
    buildings: int
    unassigned: dict[str, int]


def _assignment_schema() -> pa.Schema:
    fields = [pa.field("id", pa.string())]
    fields += [pa.field(level, pa.string()) for level in LEVELS]
    fields += [pa.field(variable, pa.float32()) for variable in BUILDING_VARIABLES]
    fields += [pa.field(score_column(climate), pa.int8()) for climate in SCORED_CLIMATES]
    return pa.schema(fields)


def _scores(batch: pa.RecordBatch, source: str) -> list[pa.Array]:
    """Risk scores of both climates; NaN or out-of-range RPS is an error naming the column."""
    arrays = []
    for variable in SCORED_CLIMATES.values():
        values = batch.column(variable).to_numpy(zero_copy_only=False)
        try:
            scores = risk_score(values)
        except ValueError as error:
            raise ValueError(f"{source}: column {variable!r}: {error}") from error
        arrays.append(pa.array(scores, type=pa.int8()))
    return arrays


def _check_no_nan(batch: pa.RecordBatch, source: str) -> None:
    for variable in BUILDING_VARIABLES:
        missing = pc.fill_null(pc.is_nan(batch.column(variable)), True)
        if pc.any(missing).as_py():
            raise ValueError(
                f"{source}: column {variable!r} has NaN or null values; buildings with any "
                "NaN variable must be dropped before the roll-ups"
            )


def _assign_batch(
    batch: pa.RecordBatch, census: Mapping[str, CensusPolygons], unassigned: dict[str, int]
) -> list[pa.Array]:
    """GEOID (or null) of each building's polygon at every level."""
    centroids = shapely.centroid(shapely.from_wkb(batch.column("geometry")))
    extent = shapely.box(*shapely.total_bounds(centroids))
    columns = []
    for level in LEVELS:
        polygons = census[level]
        # Sorted candidate positions keep the GEOID order, so the lowest index is the smallest.
        candidates = np.sort(polygons.frame.sindex.query(extent))
        local = assign_to_polygons(centroids, polygons.geometries[candidates])
        unassigned[level] += int((local < 0).sum())
        geoids = pc.take(polygons.geoids, pa.array(candidates, type=pa.int64()))
        columns.append(pc.take(geoids, pa.array(local, mask=local < 0)))
    return columns


def _aggregate_sql(level: str, relation: str) -> str:
    """Per-polygon count, sums, medians and histograms of one level over ``relation``.

    Identifiers come from the fixed schema (levels, variables); no value is spliced in.
    """
    if level not in LEVELS:
        raise ValueError(f"unknown census level {level!r}; expected one of {LEVELS}")
    parts = [f'"{level}" AS GEOID', "count(*) AS building_count"]
    parts += [f'sum(CAST("{v}" AS DOUBLE)) AS "{_SUM.format(v)}"' for v in BUILDING_VARIABLES]
    parts += [f'median(CAST("{v}" AS DOUBLE)) AS "{median_column(v)}"' for v in BUILDING_VARIABLES]
    for climate in SCORED_CLIMATES:
        parts += [
            f'count(*) FILTER (WHERE "{score_column(climate)}" = {k}) '
            f'AS "{_HIST_BIN.format(histogram_column(climate), k)}"'
            for k in range(N_SCORES)
        ]
    return (
        f'SELECT {", ".join(parts)} FROM {relation} WHERE "{level}" IS NOT NULL GROUP BY "{level}"'
    )


def write_region_partial(
    buildings: str, census: Mapping[str, CensusPolygons], output: str
) -> RegionPartial:
    """Assign one region's buildings to census polygons and write its partial aggregates.

    Args:
        buildings: The region building GeoParquet file.
        census: Validated polygons of every level in :data:`LEVELS` (see
            :func:`~ocr_assets.rollups.validation.census_polygons`); they must include every
            polygon that can contain one of the region's building centroids.
        output: Folder to write the partial to (replaced atomically).

    Raises:
        ValueError: a level missing from ``census``; the buildings file breaking the region
            building table contract; NaN or out-of-range variables (naming file and column).
    """
    missing = [level for level in LEVELS if level not in census]
    if missing:
        raise ValueError(f"census polygons missing for level(s) {missing}")
    source = str(buildings)
    file = parquet_file(source)
    validate_region_schema(file.schema_arrow, source)
    schema = _assignment_schema()
    unassigned = dict.fromkeys(LEVELS, 0)
    count = 0
    with atomic_output(output) as folder:
        folder.mkdir(parents=True)
        with pq.ParquetWriter(folder / ASSIGNMENTS_FILE, schema, compression="zstd") as writer:
            columns = ["id", "geometry", *BUILDING_VARIABLES]
            for batch in file.iter_batches(batch_size=_BATCH_ROWS, columns=columns):
                if not batch.num_rows:
                    continue
                _check_no_nan(batch, source)
                arrays = [batch.column("id").cast(pa.string())]
                arrays += _assign_batch(batch, census, unassigned)
                arrays += [batch.column(v) for v in BUILDING_VARIABLES]
                arrays += _scores(batch, source)
                writer.write_batch(pa.RecordBatch.from_arrays(arrays, schema=schema))
                count += batch.num_rows
        query = " UNION ALL ".join(
            f"SELECT '{level}' AS level, * FROM ({_aggregate_sql(level, 'assignments')})"
            for level in LEVELS
        )
        with duckdb.connect() as con:
            con.register("assignments", parquet_dataset([str(folder / ASSIGNMENTS_FILE)]))
            aggregates = con.sql(query).to_arrow_table()
        pq.write_table(aggregates, folder / AGGREGATES_FILE, compression="zstd")
    return RegionPartial(
        location=str(output), source=source, buildings=count, unassigned=unassigned
    )


def _merged_aggregates(con: duckdb.DuckDBPyConnection, level: str) -> pd.DataFrame:
    """Per GEOID: summed counts, sums and histograms; median kept if one region contributed."""
    sums = [f'sum("{_SUM.format(v)}") AS "{_SUM.format(v)}"' for v in BUILDING_VARIABLES]
    medians = [
        f'CASE WHEN count(*) = 1 THEN any_value("{median_column(v)}") END AS "{median_column(v)}"'
        for v in BUILDING_VARIABLES
    ]
    bins = [
        f'CAST(sum("{name}") AS BIGINT) AS "{name}"'
        for climate in SCORED_CLIMATES
        for name in (_HIST_BIN.format(histogram_column(climate), k) for k in range(N_SCORES))
    ]
    query = (
        "SELECT GEOID, CAST(sum(building_count) AS BIGINT) AS building_count, "
        f"count(*) AS regions, {', '.join(sums + medians + bins)} "
        "FROM aggregates WHERE level = ? GROUP BY GEOID"
    )
    return con.sql(query, params=[level]).df()


def _shared_medians(con: duckdb.DuckDBPyConnection, level: str, geoids: pd.Series) -> pd.DataFrame:
    """Exact medians of the polygons several regions contribute to, from the assignments."""
    con.register("shared", pa.table({"GEOID": pa.array(geoids.tolist(), type=pa.string())}))
    medians = ", ".join(
        f'median(CAST("{v}" AS DOUBLE)) AS "{median_column(v)}"' for v in BUILDING_VARIABLES
    )
    query = (
        f'SELECT a."{level}" AS GEOID, {medians} FROM assignments a '
        f'WHERE a."{level}" IN (SELECT GEOID FROM shared) GROUP BY a."{level}"'
    )
    return con.sql(query).df()


def summary_statistics(partials: Sequence[str], census: CensusPolygons) -> gpd.GeoDataFrame:
    """Merge region partials into the statistics of one census level (every polygon, by GEOID).

    Args:
        partials: Folders written by :func:`write_region_partial`, one per region, all built
            with the same census polygons.
        census: The level's polygons (all of them: polygons without buildings appear too).

    Raises:
        ValueError: a partial names a GEOID that ``census`` does not have (partials built from
            other census polygons).
    """
    level = census.level
    merged = pd.DataFrame({"GEOID": pd.Series(dtype=str)})
    if partials:
        with duckdb.connect() as con:
            con.register(
                "aggregates", parquet_dataset([join(p, AGGREGATES_FILE) for p in partials])
            )
            merged = _merged_aggregates(con, level)
            shared = merged.loc[merged["regions"] > 1, "GEOID"]
            if len(shared):
                con.register(
                    "assignments", parquet_dataset([join(p, ASSIGNMENTS_FILE) for p in partials])
                )
                exact = _shared_medians(con, level, shared).set_index("GEOID")
                merged = merged.set_index("GEOID")
                merged.update(exact)
                merged = merged.reset_index()
        unknown = ~merged["GEOID"].isin(census.frame["GEOID"])
        if unknown.any():
            raise ValueError(
                f"{census.source}: {int(unknown.sum())} {level} GEOID(s) of the partials are not "
                f"in the census polygons, e.g. {merged.loc[unknown, 'GEOID'].iloc[0]!r}"
            )
    return _statistics_frame(census.frame, merged)


def _statistics_frame(frame: gpd.GeoDataFrame, merged: pd.DataFrame) -> gpd.GeoDataFrame:
    """Attach merged aggregates to every polygon and derive means and histogram lists."""
    by_geoid = merged.set_index("GEOID").reindex(frame["GEOID"])

    def column(name: str, fill: float) -> np.ndarray:
        if name not in by_geoid:  # no partials at all
            return np.full(len(frame), fill)
        return by_geoid[name].to_numpy(dtype=np.float64, na_value=fill)

    counts = column("building_count", 0.0).astype(np.int64)
    out = {name: frame[name].to_numpy() for name in frame.columns if name != "geometry"}
    out["building_count"] = counts
    with np.errstate(invalid="ignore", divide="ignore"):
        for v in BUILDING_VARIABLES:
            out[mean_column(v)] = np.where(counts > 0, column(_SUM.format(v), 0.0) / counts, np.nan)
    for v in BUILDING_VARIABLES:
        out[median_column(v)] = column(median_column(v), np.nan)
    for climate in SCORED_CLIMATES:
        name = histogram_column(climate)
        bins = np.stack(
            [column(_HIST_BIN.format(name, k), 0.0) for k in range(N_SCORES)], axis=1
        ).astype(np.int64)
        out[name] = list(bins)
    return gpd.GeoDataFrame(out, geometry=frame.geometry.array, crs=frame.crs)


@dataclass(frozen=True)
class SummaryStatistics:
    """What :func:`write_summary_statistics` wrote for one level.

    Attributes:
        location: The statistics GeoParquet file.
        level: The census level.
        rows: Polygons (every polygon of the level).
        populated: Polygons with at least one building.
        buildings: Sum of ``building_count``.
        bytes: File size.
    """

    location: str
    level: str
    rows: int
    populated: int
    buildings: int
    bytes: int


def write_summary_statistics(
    partials: Sequence[str], census: CensusPolygons, output: str
) -> SummaryStatistics:
    """:func:`summary_statistics` written atomically as GeoParquet 1.1 (zstd, covering bbox)."""
    stats = summary_statistics(partials, census)
    size = write_geoparquet(stats, str(output))
    counts = stats["building_count"]
    return SummaryStatistics(
        location=str(output),
        level=census.level,
        rows=len(stats),
        populated=int((counts > 0).sum()),
        buildings=int(counts.sum()),
        bytes=size,
    )
