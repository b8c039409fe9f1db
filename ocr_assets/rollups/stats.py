"""Summary statistics per census level (``region_summary_stats``), built incrementally.

For blocks, tracts, counties, states and the nation, the published columns in the published
order (:func:`~ocr_assets.rollups.schema.statistics_schema`): ``GEOID``, the level's name
columns (county ``NAME``; state ``STUSPS``, ``NAME``; nation ``NAME``), ``building_count``
(int64), the mean (double) then the median (float32) of each of the seven building variables,
``risk_score_2011_hist`` / ``risk_score_2047_hist`` (11 doubles: the count of RPS exactly 0,
then the upper-inclusive bins of :func:`~ocr_assets.rollups.schema.histogram_index`) and the
polygon geometry. As published, only polygons with at least one building appear.

Which polygon a building belongs to
    the one containing its footprint's centroid (planar, in EPSG:4326 degrees). A centroid on
    the boundary is covered by the polygons on both sides; it then belongs to the one with the
    smallest GEOID, so every centroid inside the census coverage has exactly one polygon per
    level, whatever the order of files or rows. A centroid outside every polygon of a level is
    not counted at that level.

Incremental design
    :func:`region_partial` does the heavy per-region work once: it reads the region's
    buildings, computes centroids, assigns them to the polygons of every level and scores them.
    The partial is two tables, stored as ``{name}.parquet`` in the partial's folder
    (:mod:`ocr_assets.storage.tables`):

    - ``assignments``: per building, its row in the region file and its block
      ``GEOID`` (to name it in check failures), the GEOID it belongs to at each level, the seven
      variables and its two histogram indices (what exact medians need);
    - ``aggregates``: per (level, GEOID) touched by the region, the count, float64 sums,
      medians and the two histograms.

    :func:`summary_statistics` merges the partials of all regions for one level: counts,
    histograms and sums (hence means) are summed from the aggregates (exact for the integers;
    the means equal a from-scratch computation up to float64 rounding of the summation order).
    Medians are computed in float64 and stored as float32 (the published DuckDB ``median`` of
    a FLOAT column is a FLOAT). A median cannot be merged from medians: where a polygon's buildings all come from one region
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
import shapely

from ocr_assets.rollups._sources import TableSource, parquet_dataset, parquet_file, source_name
from ocr_assets.rollups.schema import (
    HISTOGRAM_LENGTH,
    LEVELS,
    NAME_COLUMNS,
    SCORED_CLIMATES,
    STATISTICS_VARIABLES,
    VARIABLE_RANGES,
    histogram_column,
    histogram_index,
    histogram_index_column,
    mean_column,
    median_column,
    statistics_schema,
)
from ocr_assets.rollups.validation import CensusPolygons, validate_region_schema
from ocr_assets.storage.geoparquet import geo_metadata, write_table
from ocr_assets.storage.tables import table_file, write_tables

#: The tables of a region partial.
ASSIGNMENTS = "assignments"
AGGREGATES = "aggregates"

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
    """One region's partial aggregates (:func:`region_partial`).

    Attributes:
        assignments: Per building: its row, block GEOID, polygon of every level, variables and
            histogram indices.
        aggregates: Per (level, GEOID) the region touches: count, sums, medians, histograms.
        source: The region building table it summarises (its location, or ``in-memory table``).
        unassigned: Per level, buildings whose centroid no polygon of that level covers.
    """

    assignments: pa.Table
    aggregates: pa.Table
    source: str
    unassigned: dict[str, int]

    @property
    def buildings(self) -> int:
        """Buildings read."""
        return self.assignments.num_rows

    @property
    def tables(self) -> dict[str, pa.Table]:
        """The partial as named tables (its stored form: a folder of ``{name}.parquet``)."""
        return {ASSIGNMENTS: self.assignments, AGGREGATES: self.aggregates}


def _assignment_schema() -> pa.Schema:
    fields = [pa.field("row", pa.int64()), pa.field("GEOID", pa.string())]
    fields += [pa.field(level, pa.string()) for level in LEVELS]
    fields += [pa.field(variable, pa.float32()) for variable in STATISTICS_VARIABLES]
    fields += [pa.field(histogram_index_column(c), pa.int8()) for c in SCORED_CLIMATES]
    return pa.schema(fields)


def _histogram_indices(batch: pa.RecordBatch) -> list[pa.Array]:
    """Histogram index of every building for both climates."""
    return [
        pa.array(histogram_index(batch.column(v).to_numpy(zero_copy_only=False)), type=pa.int8())
        for v in SCORED_CLIMATES.values()
    ]


def _check_values(batch: pa.RecordBatch, source: str) -> None:
    """No NaN, null or out-of-range variable: an error naming the file, column and value."""
    for variable, (low, high) in VARIABLE_RANGES.items():
        column = batch.column(variable)
        missing = pc.fill_null(pc.is_nan(column), True)
        if pc.any(missing).as_py():
            raise ValueError(
                f"{source}: column {variable!r} has NaN or null values; buildings with any "
                "NaN variable must be dropped before the roll-ups"
            )
        outside = pc.or_(pc.less(column, low), pc.greater(column, high))
        if pc.any(outside).as_py():
            example = pc.filter(column, outside)[0].as_py()
            raise ValueError(
                f"{source}: column {variable!r} has values outside [{low:g}, {high:g}], "
                f"e.g. {example!r}"
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
    parts += [f'sum(CAST("{v}" AS DOUBLE)) AS "{_SUM.format(v)}"' for v in STATISTICS_VARIABLES]
    parts += [
        f'median(CAST("{v}" AS DOUBLE)) AS "{median_column(v)}"' for v in STATISTICS_VARIABLES
    ]
    for climate in SCORED_CLIMATES:
        parts += [
            f'count(*) FILTER (WHERE "{histogram_index_column(climate)}" = {k}) '
            f'AS "{_HIST_BIN.format(histogram_column(climate), k)}"'
            for k in range(HISTOGRAM_LENGTH)
        ]
    return (
        f'SELECT {", ".join(parts)} FROM {relation} WHERE "{level}" IS NOT NULL GROUP BY "{level}"'
    )


def region_partial(buildings: TableSource, census: Mapping[str, CensusPolygons]) -> RegionPartial:
    """Assign one region's buildings to census polygons and aggregate them per polygon.

    Args:
        buildings: The region building GeoParquet file (or the table, in memory).
        census: Validated polygons of every level in :data:`LEVELS` (see
            :func:`~ocr_assets.rollups.validation.census_polygons`); they must include every
            polygon that can contain one of the region's building centroids.

    Raises:
        ValueError: a level missing from ``census``; the buildings file breaking the region
            building table contract; NaN, null or out-of-range variables (naming file and
            column).
    """
    missing = [level for level in LEVELS if level not in census]
    if missing:
        raise ValueError(f"census polygons missing for level(s) {missing}")
    source = source_name(buildings)
    file = parquet_file(buildings)
    validate_region_schema(file.schema_arrow, source)
    schema = _assignment_schema()
    unassigned = dict.fromkeys(LEVELS, 0)
    batches = []
    count = 0
    columns = ["GEOID", "geometry", *STATISTICS_VARIABLES]
    for batch in file.iter_batches(batch_size=_BATCH_ROWS, columns=columns):
        if not batch.num_rows:
            continue
        _check_values(batch, source)
        rows = np.arange(count, count + batch.num_rows, dtype=np.int64)
        arrays = [pa.array(rows), batch.column("GEOID").cast(pa.string())]
        arrays += _assign_batch(batch, census, unassigned)
        arrays += [batch.column(v) for v in STATISTICS_VARIABLES]
        arrays += _histogram_indices(batch)
        batches.append(pa.RecordBatch.from_arrays(arrays, schema=schema))
        count += batch.num_rows
    assignments = pa.Table.from_batches(batches, schema=schema)
    query = " UNION ALL ".join(
        f"SELECT '{level}' AS level, * FROM ({_aggregate_sql(level, 'assignments')})"
        for level in LEVELS
    )
    with duckdb.connect() as con:
        con.register("assignments", assignments)
        aggregates = con.sql(query).to_arrow_table()
    return RegionPartial(assignments, aggregates, source, unassigned)


def write_region_partial(
    buildings: TableSource, census: Mapping[str, CensusPolygons], output: str
) -> RegionPartial:
    """:func:`region_partial` written into the folder ``output`` (replaced atomically)."""
    partial = region_partial(buildings, census)
    write_tables(partial.tables, output)
    return partial


def _merged_aggregates(con: duckdb.DuckDBPyConnection, level: str) -> pd.DataFrame:
    """Per GEOID: summed counts, sums and histograms; median kept if one region contributed."""
    sums = [f'sum("{_SUM.format(v)}") AS "{_SUM.format(v)}"' for v in STATISTICS_VARIABLES]
    medians = [
        f'CASE WHEN count(*) = 1 THEN any_value("{median_column(v)}") END AS "{median_column(v)}"'
        for v in STATISTICS_VARIABLES
    ]
    bins = [
        f'CAST(sum("{name}") AS BIGINT) AS "{name}"'
        for climate in SCORED_CLIMATES
        for name in (
            _HIST_BIN.format(histogram_column(climate), k) for k in range(HISTOGRAM_LENGTH)
        )
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
        f'median(CAST("{v}" AS DOUBLE)) AS "{median_column(v)}"' for v in STATISTICS_VARIABLES
    )
    query = (
        f'SELECT a."{level}" AS GEOID, {medians} FROM assignments a '
        f'WHERE a."{level}" IN (SELECT GEOID FROM shared) GROUP BY a."{level}"'
    )
    return con.sql(query).df()


def summary_statistics(partials: Sequence[str], census: CensusPolygons) -> gpd.GeoDataFrame:
    """Merge region partials into the statistics of one census level (by GEOID).

    Args:
        partials: Folders of region partials (:meth:`RegionPartial.tables` as stored), one per
            region, all built with the same census polygons.
        census: The level's polygons; those with at least one building appear, in GEOID
            order, with the published columns.

    Raises:
        ValueError: a partial names a GEOID that ``census`` does not have (partials built from
            other census polygons).
    """
    level = census.level
    merged = _merged_columns()
    if partials:
        with duckdb.connect() as con:
            con.register(
                "aggregates", parquet_dataset([table_file(p, AGGREGATES) for p in partials])
            )
            merged = _merged_aggregates(con, level)
            shared = merged.loc[merged["regions"] > 1, "GEOID"]
            if len(shared):
                con.register(
                    "assignments", parquet_dataset([table_file(p, ASSIGNMENTS) for p in partials])
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
    return _statistics_frame(census.frame, merged, level)


def _merged_columns() -> pd.DataFrame:
    """The merged aggregates of no partials: no rows, every column."""
    names = ["GEOID", "building_count", *(_SUM.format(v) for v in STATISTICS_VARIABLES)]
    names += [median_column(v) for v in STATISTICS_VARIABLES]
    names += [
        _HIST_BIN.format(histogram_column(climate), k)
        for climate in SCORED_CLIMATES
        for k in range(HISTOGRAM_LENGTH)
    ]
    return pd.DataFrame(
        {name: pd.Series(dtype=str if name == "GEOID" else float) for name in names}
    )


def _statistics_frame(
    frame: gpd.GeoDataFrame, merged: pd.DataFrame, level: str
) -> gpd.GeoDataFrame:
    """The polygons with buildings, their means and histogram lists, in published order."""
    populated = frame.loc[frame["GEOID"].isin(merged["GEOID"])].reset_index(drop=True)
    by_geoid = merged.set_index("GEOID").reindex(populated["GEOID"])

    def column(name: str) -> np.ndarray:
        return by_geoid[name].to_numpy(dtype=np.float64)

    counts = column("building_count").astype(np.int64)
    out: dict[str, object] = {}
    for name in ("GEOID", *NAME_COLUMNS[level]):
        out[name] = populated[name].to_numpy(dtype=object)
    out["building_count"] = counts
    for v in STATISTICS_VARIABLES:
        out[mean_column(v)] = column(_SUM.format(v)) / counts
    for v in STATISTICS_VARIABLES:
        out[median_column(v)] = column(median_column(v)).astype(np.float32)
    for climate in SCORED_CLIMATES:
        name = histogram_column(climate)
        bins = np.stack(
            [column(_HIST_BIN.format(name, k)) for k in range(HISTOGRAM_LENGTH)], axis=-1
        ).reshape(len(counts), HISTOGRAM_LENGTH)
        out[name] = pd.Series(list(bins), dtype=object)
    return gpd.GeoDataFrame(out, geometry=populated.geometry.array, crs=frame.crs)


def statistics_table(stats: gpd.GeoDataFrame, level: str) -> pa.Table:
    """One level's statistics as an Arrow table of exactly the published schema, with its
    GeoParquet ``geo`` metadata (and no pandas metadata, so every reader sees plain types)."""
    schema = statistics_schema(level)
    arrays = []
    for field in schema:
        if field.name == "geometry":
            arrays.append(pa.array(shapely.to_wkb(stats.geometry.array), type=pa.binary()))
        elif pa.types.is_list(field.type):
            arrays.append(pa.array([list(h) for h in stats[field.name]], type=field.type))
        else:
            arrays.append(pa.array(stats[field.name].to_numpy(), type=field.type))
    geo = geo_metadata(stats.crs, stats.geometry.array, covering=False)
    return pa.Table.from_arrays(arrays, schema=schema.with_metadata({"geo": geo}))


@dataclass(frozen=True)
class SummaryStatistics:
    """What :func:`write_summary_statistics` wrote for one level.

    Attributes:
        location: The statistics GeoParquet file.
        level: The census level.
        rows: Polygons with at least one building (the rows written).
        buildings: Sum of ``building_count``.
        bytes: File size.
    """

    location: str
    level: str
    rows: int
    buildings: int
    bytes: int


def write_summary_statistics(
    partials: Sequence[str], census: CensusPolygons, output: str
) -> SummaryStatistics:
    """:func:`summary_statistics` written atomically as GeoParquet 1.1 (zstd, WKB).

    The file has exactly the published columns (no covering ``bbox`` column), with the types
    of :func:`~ocr_assets.rollups.schema.statistics_schema`.
    """
    stats = summary_statistics(partials, census)
    size = write_table(statistics_table(stats, census.level), str(output))
    return SummaryStatistics(
        location=str(output),
        level=census.level,
        rows=len(stats),
        buildings=int(stats["building_count"].sum()),
        bytes=size,
    )
