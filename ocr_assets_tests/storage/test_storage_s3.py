"""Output storage on S3 (a local moto server): atomic files and folders, raster store, tags."""

import threading

import geopandas as gpd
import pyarrow.parquet as pq
import pytest
import s3fs
import shapely

from ocr_assets.regions import RegionGrid
from ocr_assets.storage import (
    RasterStore,
    StorageError,
    atomic_output,
    ensure_writable,
    objects,
    write_geoparquet,
)
from ocr_assets_tests.storage.storage_cases import region_dataset

pytestmark = pytest.mark.integration


def test_file_and_folder_outputs_go_up_whole(s3_bucket: str) -> None:
    root = f"s3://{s3_bucket}/prefix"
    ensure_writable(root)
    with atomic_output(f"{root}/a/file.txt") as tmp:
        tmp.write_text("one")
    with atomic_output(f"{root}/a/folder") as tmp:
        (tmp / "sub").mkdir(parents=True)
        (tmp / "sub" / "x.txt").write_text("x")
        (tmp / "y.txt").write_text("y")
    with atomic_output(f"{root}/a/folder") as tmp:
        tmp.mkdir()
        (tmp / "z.txt").write_text("z")
    fs = s3fs.S3FileSystem(skip_instance_cache=True)
    assert fs.cat(f"{s3_bucket}/prefix/a/file.txt") == b"one"
    assert sorted(fs.find(f"{s3_bucket}/prefix/a")) == [
        f"{s3_bucket}/prefix/a/file.txt",
        f"{s3_bucket}/prefix/a/folder/z.txt",
    ]
    assert objects.size(f"{root}/a/folder") == 1
    assert objects.modified(f"{root}/a/file.txt") is not None


def test_failing_remote_writer_keeps_the_published_folder(s3_bucket: str) -> None:
    target = f"s3://{s3_bucket}/out/folder"
    with atomic_output(target) as tmp:
        tmp.mkdir()
        (tmp / "old.txt").write_text("old")
    with pytest.raises(RuntimeError, match="boom"), atomic_output(target) as tmp:
        tmp.mkdir()
        (tmp / "new.txt").write_text("new")
        raise RuntimeError("boom")
    fs = s3fs.S3FileSystem(skip_instance_cache=True)
    assert fs.find(f"{s3_bucket}/out") == [f"{s3_bucket}/out/folder/old.txt"]


def test_missing_bucket_is_named(s3_bucket: str) -> None:
    with pytest.raises(StorageError, match="s3://no-such-bucket-here/x"):
        ensure_writable("s3://no-such-bucket-here/x")


def test_geoparquet_on_s3(s3_bucket: str) -> None:
    frame = gpd.GeoDataFrame({"id": ["a"], "geometry": [shapely.box(0, 0, 1, 1)]}, crs="EPSG:4326")
    location = f"s3://{s3_bucket}/p/b.parquet"
    assert write_geoparquet(frame, location) > 0
    fs, path = objects.filesystem(location)
    with fs.open(path, "rb") as handle:
        assert b'"version": "1.1.0"' in pq.ParquetFile(handle).metadata.metadata[b"geo"]


def test_raster_store_on_s3_commits_concurrently_and_tags(
    s3_bucket: str, tiny_grid: RegionGrid
) -> None:
    store = RasterStore(f"s3://{s3_bucket}/store/ocr.icechunk", max_attempts=8, retry_delay=0.05)
    first = region_dataset(tiny_grid, "y0_x0", 1.0)
    store.ensure_layout(tiny_grid, first, {"title": "test"})
    store.write_region(tiny_grid, "y0_x0", first)
    store.tag("v1.0.0")
    regions = ["y0_x1", "y0_x2", "y1_x0"]
    errors: list[BaseException] = []

    def write(region_id: str) -> None:
        try:
            store.write_region(tiny_grid, region_id, region_dataset(tiny_grid, region_id, 2.0))
        except BaseException as error:  # collected for the assertion below
            errors.append(error)

    threads = [threading.Thread(target=write, args=(rid,)) for rid in regions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert set(store.committed_regions()) == {"y0_x0", *regions}
    # The tagged version still reads back as it was (rollback).
    assert set(store.committed_regions(tag="v1.0.0")) == {"y0_x0"}
    # y0_x0 is the south-west region: the first latitude and longitude.
    assert float(store.open(tag="v1.0.0")["bp_2011"].isel(latitude=0, longitude=0)) == 1.0
    with pytest.raises(StorageError, match=r"tag .v1\.0\.0. already names"):
        store.tag("v1.0.0")
    reopened = RasterStore(store.location)
    assert reopened.exists() and reopened.tags() == {"v1.0.0"}
