"""The whole deployment into ``s3://`` on a local S3 server (moto), read back from S3.

Inputs stay local; every output (raster store, GeoParquet, statistics, analysis files, PMTiles,
pyramid, wind distribution, per-region folders, the deployment record) goes to the bucket
through ``AWS_ENDPOINT_URL``, then ``ocr-assets verify`` and direct reads check each one there.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import s3fs

from ocr_assets.cli import main
from ocr_assets.config.settings import Settings
from ocr_assets.rollups.schema import ANALYSIS_FOLDERS, LEVELS
from ocr_assets.storage import Layout, RasterStore, objects
from ocr_assets_tests.helpers import partitions_materialized, persistent_instance, run_deploy

pytestmark = pytest.mark.integration


def test_deploy_to_s3_and_read_everything_back(
    s3_bucket: str,
    clean_env: pytest.MonkeyPatch,
    synthetic_root: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = f"s3://{s3_bucket}/ocr"
    settings = Settings.from_env(
        {
            "OCR_STORAGE_ROOT": root,
            "OCR_INPUT_ROOT": str(synthetic_root),
            "OCR_REGIONS": "y0_x1, y1_x1",
            "OCR_CREATE_PYRAMID": "true",
            "OCR_WRITE_REGIONAL_STATS": "true",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
        }
    )
    layout = Layout(root, "local")
    fs = s3fs.S3FileSystem(skip_instance_cache=True)
    # A folder upload of a killed run left its temporary prefix: the deployment sweeps it.
    killed = layout.risk_pyramid.rsplit("/", 1)[0] + (
        "/.pyramid.zarr.tmp-0badc0de0000-20260101T000000Z-0123456789ab"
    )
    fs.pipe(f"{killed}/zarr.json", b"{}")
    instance = persistent_instance(tmp_path)
    result = run_deploy(instance, settings)
    assert result.success
    assert not fs.exists(killed) and not fs.exists(layout.lease)
    assert any(
        "removed 1 temporary upload prefix(es) of killed runs, 2 bytes" in (entry.message or "")
        for entry in instance.all_logs(result.run_id)
    )
    assert partitions_materialized(instance, "region_buildings") == {"y0_x1": 1, "y1_x1": 1}

    assert not list(Path(tmp_path).glob("**/ocr.icechunk"))  # nothing landed on local disk

    store = RasterStore(layout.raster_store)
    assert set(store.committed_regions()) == {"y0_x1", "y1_x1"}
    assert float(store.open()["rps_2011"].notnull().sum()) > 0

    with fs.open(layout.consolidated_buildings, "rb") as handle:
        geo = json.loads(pq.ParquetFile(handle).metadata.metadata[b"geo"])
    assert geo["version"] == "1.1.0" and "bbox" in geo["columns"]["geometry"]["covering"]
    for level in LEVELS:
        with fs.open(layout.region_summary_stats(level), "rb") as handle:
            assert pq.ParquetFile(handle).metadata.num_rows > 0, level
        assert fs.exists(f"{layout.region_analysis(ANALYSIS_FOLDERS[level])}/stats.csv")
    assert fs.cat(layout.regional_pmtiles, start=0, end=7) == b"PMTiles"
    assert objects.exists(f"{layout.risk_pyramid}/.zgroup")
    assert objects.exists(f"{layout.wind_distribution}/zarr.json")
    record = json.loads(fs.cat(layout.deployment_record))
    assert record["status"] == "succeeded" and record["processed"] == ["y0_x1", "y1_x1"]
    assert not [path for path in fs.find(s3_bucket) if ".tmp-" in path]  # no staging left

    clean_env.setenv("OCR_CREATE_PYRAMID", "true")
    clean_env.setenv("OCR_WRITE_REGIONAL_STATS", "true")
    args = ["verify", "--environment", "local", "--storage-root", root]
    assert main(args) == 0, capsys.readouterr().err
    fs.rm(layout.building_centroid_pmtiles)
    assert main(args) == 1
    assert "building_centroid_pmtiles: missing" in capsys.readouterr().err
