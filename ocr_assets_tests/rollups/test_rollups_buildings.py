"""Consolidated building GeoParquet and its hive copy: contents, published columns, layout,
metadata, FIPS codes read back as strings, bad input, atomicity."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import geopandas as gpd
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest

from ocr_assets.rollups import consolidate_buildings
from ocr_assets.rollups.buildings import COMMON_METADATA
from ocr_assets.rollups.schema import RISK_VARIABLES
from ocr_assets_tests.rollups import rollups_cases as cases

_COLUMNS = [*RISK_VARIABLES, "GEOID", "state", "county", "geometry", "bbox"]


def _regions(folder: Path) -> list[str]:
    files = cases.region_files(folder)
    empty = cases.write_region(cases.building_frame([]), folder / "empty.parquet")
    no_bbox = folder / "no-bbox.parquet"
    # Columns beyond the region table (here the old id/region_id) are not carried.
    cases.building_frame(["a1"]).assign(id="x", region_id="y0_x0").to_parquet(no_bbox, index=False)
    return [files["A"], empty, files["B"], str(no_bbox)]


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("consolidate")
    sources = _regions(folder)
    out = folder / "out"
    result = consolidate_buildings(
        sources, str(out / "buildings.parquet"), str(out / "hive"), cases.METADATA
    )
    return result, out


def test_consolidated_file_holds_every_building_in_order(written) -> None:
    result, out = written
    frame = gpd.read_parquet(out / "buildings.parquet")
    assert cases.names_of(frame["crps_scott"]) == ["a1", "a2", "a3", "b1", "b2", "a1"]
    assert pq.read_schema(out / "buildings.parquet").names == _COLUMNS
    assert result.rows == 6
    assert frame.crs.to_epsg() == 4326
    assert frame["rps_2011"].dtype == "float32"
    assert len(gpd.read_parquet(out / "buildings.parquet", bbox=(1.2, 0, 1.8, 1))) == 2


def test_consolidated_file_is_geoparquet_1_1_with_covering_and_dataset_metadata(written) -> None:
    _, out = written
    metadata = pq.read_schema(out / "buildings.parquet").metadata
    geo = json.loads(metadata[b"geo"])
    column = geo["columns"]["geometry"]
    assert geo["version"] == "1.1.0"
    assert column["encoding"] == "WKB"
    assert column["geometry_types"] == ["Polygon"]
    assert column["covering"]["bbox"]["xmin"] == ["bbox", "xmin"]
    assert column["bbox"] == [0.1875, 0.1875, 1.5625, 0.5625]
    pairs = {k.decode(): v.decode() for k, v in metadata.items()}
    assert list(pairs) == ["geo", *cases.METADATA.vector()]
    assert {k: pairs[k] for k in cases.METADATA.vector()} == cases.METADATA.vector()
    assert pairs["version"] == "1.2.3" and pairs["license_name"] == "ODBL"
    assert (
        pq.ParquetFile(out / "buildings.parquet").metadata.row_group(0).column(0).compression
        == "ZSTD"
    )


def test_hive_layout_and_common_metadata(written) -> None:
    result, out = written
    hive = out / "hive"
    folders = sorted(p.relative_to(hive).as_posix() for p in hive.glob("*/*") if p.is_dir())
    assert folders == ["state_fips=06/county_fips=001", "state_fips=06/county_fips=003"]
    assert (result.counties, result.hive_files) == (2, 3)  # A, B and no-bbox's files
    schema = pq.read_schema(hive / COMMON_METADATA)
    meta = {k.decode(): v.decode() for k, v in schema.metadata.items()}
    assert list(meta) == ["geo", *cases.METADATA.vector()]
    assert {k: meta[k] for k in cases.METADATA.vector()} == cases.METADATA.vector()
    assert "Overture" in meta["notice"] and "ODbL" in meta["notice"]
    assert json.loads(meta["geo"])["columns"]["geometry"]["bbox"] == [
        0.1875,
        0.1875,
        1.5625,
        0.5625,
    ]
    # The sidecar declares the partition columns as strings (the published one leaves them out).
    assert schema.names == [*_COLUMNS, "state_fips", "county_fips"]
    assert schema.field("state_fips").type == pa.string() == schema.field("county_fips").type
    table = pads.dataset(hive, format="parquet", schema=schema, partitioning="hive").to_table()
    assert sorted(cases.names_of(table["crps_scott"].to_pandas())) == [
        "a1",
        "a1",
        "a2",
        "a3",
        "b1",
        "b2",
    ]
    for row in table.select(["GEOID", "state_fips", "county_fips"]).to_pylist():
        assert row["GEOID"][:2] == row["state_fips"] and row["GEOID"][2:5] == row["county_fips"]
    one_file = next(hive.glob("state_fips=06/county_fips=003/*.parquet"))
    one = gpd.read_parquet(one_file)
    assert cases.names_of(one["crps_scott"]) == ["b1", "b2"]
    assert pq.read_schema(one_file).names == _COLUMNS  # partitions only in the folder names


def test_geoid_and_fips_read_back_as_strings(written) -> None:
    _, out = written
    hive = out / "hive"
    single = pd.read_parquet(out / "buildings.parquet")
    assert all(isinstance(g, str) for g in single["GEOID"]) and single["GEOID"][0][0] == "0"
    sidecar = pq.read_schema(hive / COMMON_METADATA)
    frame = pd.read_parquet(hive, schema=sidecar)
    for column in ("GEOID", "state_fips", "county_fips"):
        assert pd.api.types.is_string_dtype(frame[column]), column
    assert set(frame["state_fips"]) == {"06"} and set(frame["county_fips"]) == {"001", "003"}
    # Without the sidecar's schema pyarrow infers integers from the folder names: the reason
    # the sidecar lists them.
    assert pa.types.is_integer(
        pads.dataset(hive, partitioning="hive").schema.field("state_fips").type
    )
    glob = f"{hive}/*/*/*.parquet"
    query = (
        f"SELECT GEOID, state_fips, county_fips FROM read_parquet('{glob}', hive_partitioning=true, "
        "hive_types={'state_fips': VARCHAR, 'county_fips': VARCHAR})"
    )
    assert duckdb.sql(query).types == ["VARCHAR"] * 3
    assert duckdb.sql(f"SELECT GEOID FROM read_parquet('{out / 'buildings.parquet'}')").types == [
        "VARCHAR"
    ]


def test_missing_column_is_named_and_nothing_is_written(tmp_path: Path) -> None:
    good = cases.region_files(tmp_path)["A"]
    bad = cases.write_region(
        cases.building_frame(["b1"]).drop(columns="GEOID"), tmp_path / "bad.parquet"
    )
    with pytest.raises(ValueError, match=r"bad\.parquet: missing column 'GEOID'"):
        consolidate_buildings(
            [good, bad], str(tmp_path / "c.parquet"), str(tmp_path / "h"), cases.METADATA
        )
    assert not (tmp_path / "c.parquet").exists() and not (tmp_path / "h").exists()


def test_wrong_crs_and_wrong_type_are_named(tmp_path: Path) -> None:
    frame = cases.building_frame(["a1"])
    mercator = cases.write_region(frame.to_crs("EPSG:3857"), tmp_path / "m.parquet")
    with pytest.raises(ValueError, match=r"m\.parquet: column 'geometry' has CRS EPSG:3857"):
        consolidate_buildings(
            [mercator], str(tmp_path / "c.parquet"), str(tmp_path / "h"), cases.METADATA
        )
    doubles = cases.write_region(frame.astype({"bp_2011": "float64"}), tmp_path / "d.parquet")
    with pytest.raises(ValueError, match=r"d\.parquet: column 'bp_2011' has type double"):
        consolidate_buildings(
            [doubles], str(tmp_path / "c.parquet"), str(tmp_path / "h"), cases.METADATA
        )
    with pytest.raises(ValueError, match="no region building files"):
        consolidate_buildings([], str(tmp_path / "c.parquet"), str(tmp_path / "h"), cases.METADATA)


def test_failure_mid_stream_keeps_previous_outputs(tmp_path: Path) -> None:
    files = cases.region_files(tmp_path)
    single, hive = tmp_path / "out" / "c.parquet", tmp_path / "out" / "h"
    consolidate_buildings([files["A"]], str(single), str(hive), cases.METADATA)
    before = (single.read_bytes(), sorted(p.as_posix() for p in hive.rglob("*")))
    # The second file's schema is fine, but a GEOID value is not a block GEOID: the error comes
    # while streaming, after the first file's rows were written to the temporary outputs.
    broken = cases.write_region(
        cases.building_frame(["b1"]).assign(GEOID=["06x"]), tmp_path / "g.parquet"
    )
    with pytest.raises(ValueError, match=r"g\.parquet: column 'GEOID' must hold 15-digit.*'06x'"):
        consolidate_buildings([files["A"], broken], str(single), str(hive), cases.METADATA)
    assert (single.read_bytes(), sorted(p.as_posix() for p in hive.rglob("*"))) == before
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["c.parquet", "h"]


def test_region_files_are_read_from_object_storage(tmp_path: Path, s3_bucket: str) -> None:
    import s3fs

    local = cases.region_files(tmp_path)
    fs = s3fs.S3FileSystem()
    remote = []
    for name, path in sorted(local.items()):
        fs.put_file(path, f"{s3_bucket}/regions/{name}.parquet")
        remote.append(f"s3://{s3_bucket}/regions/{name}.parquet")
    result = consolidate_buildings(
        remote, str(tmp_path / "c.parquet"), str(tmp_path / "h"), cases.METADATA
    )
    assert result.rows == 5 and result.sources == tuple(remote)
