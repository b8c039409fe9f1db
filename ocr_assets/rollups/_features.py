"""GeoJSON features encoded by DuckDB, streamed batch by batch to a text sink.

Used for the GeoJSON analysis files and for tippecanoe's newline-delimited inputs. Each
Arrow batch is registered with DuckDB as ``batch`` and one query turns its rows into complete
``Feature`` objects (``json_object`` for properties, ``ST_AsGeoJSON`` for WKB geometries), so
no per-row Python runs. Queries are assembled only from the fixed column names of the
roll-up tables; no data values or paths are spliced into SQL.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TextIO

import duckdb
import pyarrow as pa


def quoted(column: str) -> str:
    """``column`` as a SQL identifier; names are fixed schema names, rejected if odd."""
    if not column.replace("_", "").isalnum():
        raise ValueError(f"unexpected column name {column!r}")
    return f'"{column}"'


def number(column: str) -> str:
    """A JSON number from a float column, null for NaN (JSON has no NaN)."""
    c = quoted(column)
    return f"CASE WHEN isnan({c}) THEN NULL ELSE {c} END"


def short_float(column: str) -> str:
    """A float32 column as its shortest round-trip decimal (``0.1``, not ``0.100000001``)."""
    c = quoted(column)
    return f"CASE WHEN isnan({c}) THEN NULL ELSE CAST(CAST({c} AS VARCHAR) AS JSON) END"


def float32_exact(column: str) -> str:
    """A float32 column as the decimal of its exact value (``0.2741739451885223``).

    For vector tiles: tippecanoe keeps a number as a 4-byte float when the double it parses
    equals a float32, and as an 8-byte double otherwise. The shortest float32 decimal
    (:func:`short_float`, ``0.27417395``) parses to a double that is not a float32; this one
    does, so the tile stores 4 bytes and a client reads back the float32 value itself.
    """
    c = quoted(column)
    return f"CASE WHEN isnan({c}) THEN NULL ELSE CAST(CAST({c} AS DOUBLE) AS JSON) END"


def wkb_geometry(column: str = "geometry") -> str:
    """The GeoJSON geometry of a WKB column."""
    return f"CAST(ST_AsGeoJSON(ST_GeomFromWKB({quoted(column)})) AS JSON)"


def feature_query(
    properties: Mapping[str, str],
    geometry: str,
    where: str | None = None,
    identifier: str | None = None,
) -> str:
    """SELECT producing one ``feature`` text column from relation ``batch``.

    Args:
        properties: Property name -> SQL expression over the batch's columns.
        geometry: SQL expression giving the GeoJSON geometry (JSON).
        where: Optional filter expression.
        identifier: Optional column holding each feature's ``id`` (a non-negative integer).
    """
    pairs = ", ".join(f"'{name}', {expression}" for name, expression in properties.items())
    identified = "" if identifier is None else f"'id', {quoted(identifier)}, "
    query = (
        f"SELECT CAST(json_object('type', 'Feature', {identified}"
        f"'properties', json_object({pairs}), 'geometry', {geometry}) AS VARCHAR) AS feature "
        "FROM batch"
    )
    return f"{query} WHERE {where}" if where else query


def feature_strings(batches: Iterable[pa.RecordBatch], query: str) -> Iterator[list[str]]:
    """The features ``query`` makes of each non-empty batch, as lists of JSON texts.

    The query keeps the batch's row order (one feature per row unless it filters).
    """
    with duckdb.connect() as con:
        for batch in batches:
            if not batch.num_rows:
                continue
            # Plain fields: DuckDB would read geoarrow-tagged WKB as GEOMETRY, not BLOB.
            plain = pa.schema([pa.field(f.name, f.type) for f in batch.schema])
            con.register("batch", pa.RecordBatch.from_arrays(batch.columns, schema=plain))
            features = con.sql(query).fetchnumpy()["feature"]
            con.unregister("batch")
            yield features.tolist()


def write_features(
    batches: Iterable[pa.RecordBatch], query: str, sink: TextIO, separator: str = "\n"
) -> int:
    """Write the features ``query`` makes of each batch, ``separator`` between them.

    Returns the number of features written (rows the query kept).
    """
    written = 0
    for features in feature_strings(batches, query):
        if not features:
            continue
        if written:
            sink.write(separator)
        sink.write(separator.join(features))
        written += len(features)
    return written
