"""Consolidated building GeoParquet and its hive copy: contents, layout, metadata, bad input,
atomicity."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest

from ocr_assets.rollups import consolidate_buildings
from ocr_assets.rollups.buildings import COMMON_METADATA, PARTITIONS
from ocr_assets_tests import rollups_cases as cases

_HIVE = pads.partitioning(pa.schema([(name, pa.string()) for name in PARTITIONS]), flavor="hive")


def _regions(folder: Path) -> list[str]:
    files = cases.region_files(folder)
    empty = cases.write_region(cases.building_frame([]), folder / "empty.parquet")
    no_bbox = folder / "no-bbox.parquet"
    cases.building_frame(["a1"]).assign(id=["a1-copy"]).to_parquet(no_bbox, index=False)
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
    assert frame["id"].tolist() == ["a1", "a2", "a3", "b1", "b2", "a1-copy"]
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
    assert metadata[b"version"] == b"1.2.3"
    assert metadata[b"license"] == b"CC-BY-4.0"
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
    assert {k: meta[k] for k in cases.METADATA.as_dict()} == cases.METADATA.as_dict()
    assert "Overture" in meta["building_notice"] and "ODbL" in meta["building_notice"]
    assert json.loads(meta["geo"])["columns"]["geometry"]["bbox"] == [
        0.1875,
        0.1875,
        1.5625,
        0.5625,
    ]
    assert "GEOID" in schema.names and "state_fips" not in schema.names
    table = pads.dataset(hive, format="parquet", partitioning=_HIVE).to_table()
    assert sorted(table["id"].to_pylist()) == ["a1", "a1-copy", "a2", "a3", "b1", "b2"]
    for row in table.select(["GEOID", "state_fips", "county_fips"]).to_pylist():
        assert row["GEOID"][:2] == row["state_fips"] and row["GEOID"][2:5] == row["county_fips"]
    one_file = next(hive.glob("state_fips=06/county_fips=003/*.parquet"))
    assert gpd.read_parquet(one_file)["id"].tolist() == ["b1", "b2"]


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
