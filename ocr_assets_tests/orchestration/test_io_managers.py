"""The IO managers on their own: what they store, what they keep on failure, what they load.

Each is called through Dagster's output and input contexts, on a local folder and on a local S3
server (moto), with values in this process (values kept on a remote cluster are covered by
``test_compute_per_asset``).
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import geopandas as gpd
import numpy as np
import pyarrow as pa
import pytest
import shapely
import xarray as xr
from dask.base import is_dask_collection

from ocr_assets.orchestration.io_managers import (
    GeoParquetIOManager,
    RasterStoreIOManager,
    TablesIOManager,
    ZarrIOManager,
)
from ocr_assets.orchestration.readable import size_text
from ocr_assets.orchestration.resources import OutputStorage
from ocr_assets.regions import RegionGrid
from ocr_assets.storage import objects, store_window
from ocr_assets.storage.raster_store import region_attrs

PARTITIONS = dg.StaticPartitionsDefinition(["y0_x1", "y1_x1"])


def buildings() -> gpd.GeoDataFrame:
    frame = gpd.GeoDataFrame(
        {"rps_2011": np.array([0.5, 1.5], dtype=np.float32)},
        geometry=[shapely.box(0, 0, 1, 1), shapely.box(2, 2, 3, 3)],
        crs="EPSG:4326",
    )
    frame.attrs["candidate_rows"] = 3
    return frame


def distribution() -> xr.DataArray:
    return xr.DataArray(
        np.arange(2 * 3 * 8, dtype=np.float32).reshape(2, 3, 8) / 48,
        dims=("y", "x", "wind_direction"),
        coords={"wind_direction": ["N", "NE", "E", "SE", "S", "SW", "W", "NW"]},
        name="wind_distribution",
    )


def rasters(grid: RegionGrid, region_id: str, value: float = 0.25) -> xr.Dataset:
    """A region's rasters: one variable on the region's window, with the region attributes."""
    lat, lon = store_window(grid, region_id)
    shape = (lat.stop - lat.start, lon.stop - lon.start)
    data = xr.Dataset(
        {"bp_2011": (("latitude", "longitude"), np.full(shape, value, np.float32))},
        coords={"latitude": grid.latitude()[lat], "longitude": grid.longitude()[lon]},
    )
    data["bp_2011"].attrs.update(description="burn probability", units="1")
    data.attrs.update(region_attrs(grid, region_id, {"input": "icechunk:abc"}))
    return data


def read(location: str) -> bytes:
    fs, path = objects.filesystem(location)
    return fs.cat_file(path)


def output_context(asset: str, partition: str | None = None) -> dg.OutputContext:
    return dg.build_output_context(
        asset_key=dg.AssetKey(asset), partition_key=partition, run_id="a-run"
    )


def input_context(asset: str, partition: str | None = None) -> dg.InputContext:
    if partition is None:
        return dg.build_input_context(asset_key=dg.AssetKey(asset))
    return dg.build_input_context(
        asset_key=dg.AssetKey(asset), partition_key=partition, asset_partitions_def=PARTITIONS
    )


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.integration)])
def root(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "local":
        return str(tmp_path / "data")
    return f"s3://{request.getfixturevalue('s3_bucket')}/data"


def test_tables_are_stored_as_a_folder_and_load_lazily(root: str) -> None:
    storage = OutputStorage(root=root)
    manager = TablesIOManager(storage=storage)
    tables = {"assignments": pa.table({"row": [0, 1]}), "aggregates": pa.table({"n": [2]})}
    context = output_context("region_statistics_partials", "y0_x1")
    manager.handle_output(context, tables)
    location = storage.layout.region_statistics_partial("y0_x1")
    metadata = context.get_logged_metadata()
    assert metadata["path"] == dg.MetadataValue.path(location)
    assert objects.size(location) > 0
    assert metadata["size"].value == size_text(objects.size(location))

    loaded = manager.load_input(input_context("region_statistics_partials", "y0_x1"))
    assert is_dask_collection(loaded)  # a reader, computed where it is used
    assert loaded.compute() == tables


def test_a_failing_store_keeps_the_stored_folder(root: str) -> None:
    storage = OutputStorage(root=root)
    manager = TablesIOManager(storage=storage)
    old = {"aggregates": pa.table({"n": [1]})}
    manager.handle_output(output_context("region_statistics_partials", "y0_x1"), old)
    unwritable = {"aggregates": pa.table({"n": [2]}), "broken": "not a table"}
    with pytest.raises(AttributeError):
        manager.handle_output(output_context("region_statistics_partials", "y0_x1"), unwritable)
    loaded = manager.load_input(input_context("region_statistics_partials", "y0_x1"))
    assert loaded.compute() == old


def test_region_tables_load_one_region_at_a_time_and_name_the_missing(tmp_path: Path) -> None:
    storage = OutputStorage(root=str(tmp_path / "data"))
    manager = GeoParquetIOManager(storage=storage)
    context = output_context("region_buildings", "y0_x1")
    manager.handle_output(context, buildings())
    location = storage.layout.region_buildings("y0_x1")
    written = gpd.read_parquet(location)
    assert written["rps_2011"].tolist() == [0.5, 1.5] and not written.attrs
    assert context.get_logged_metadata()["dagster/row_count"].value == 2

    loaded = manager.load_input(input_context("region_buildings", "y0_x1"))
    assert loaded.compute()["rps_2011"].tolist() == [0.5, 1.5]
    with pytest.raises(dg.Failure, match=r"region_buildings is missing at .*y1_x1\.parquet"):
        manager.load_input(input_context("region_buildings", "y1_x1"))
    every = dg.build_input_context(
        asset_key=dg.AssetKey("region_buildings"),
        asset_partition_key_range=dg.PartitionKeyRange("y0_x1", "y1_x1"),
        asset_partitions_def=PARTITIONS,
    )
    with pytest.raises(Exception, match="read one region at a time"):
        manager.load_input(every)


def test_wind_distribution_round_trip(root: str) -> None:
    manager = ZarrIOManager(storage=OutputStorage(root=root))
    manager.handle_output(output_context("wind_direction_distribution"), distribution())
    read = manager.load_input(input_context("wind_direction_distribution"))
    assert is_dask_collection(read)  # lazy: read where it is used
    np.testing.assert_array_equal(read.values, distribution().values)
    assert list(read["wind_direction"].values) == list(distribution()["wind_direction"].values)


def test_region_rasters_commit_and_load_lazily(root: str, tiny_grid: RegionGrid) -> None:
    storage = OutputStorage(root=root)
    manager = RasterStoreIOManager(storage=storage)
    context = output_context("region_risk_rasters", "y0_x1")
    manager.handle_output(context, rasters(tiny_grid, "y0_x1"))
    commits = storage.raster_store().region_commits()
    assert list(commits) == ["y0_x1"]
    recorded = commits["y0_x1"].metadata
    assert recorded["dagster_run_id"] == "a-run"
    assert recorded["input_versions"] == {"input": "icechunk:abc"}
    assert context.get_logged_metadata()["snapshot_id"].value == commits["y0_x1"].id

    loaded = manager.load_input(input_context("region_risk_rasters", "y0_x1"))
    assert is_dask_collection(loaded) and loaded.attrs["region_id"] == "y0_x1"
    np.testing.assert_array_equal(loaded["bp_2011"].values, 0.25)
    with pytest.raises(dg.Failure, match="region y1_x1 is not in the raster store"):
        manager.load_input(input_context("region_risk_rasters", "y1_x1"))


def test_rasters_of_another_region_are_never_committed(
    tmp_path: Path, tiny_grid: RegionGrid
) -> None:
    storage = OutputStorage(root=str(tmp_path))
    manager = RasterStoreIOManager(storage=storage)
    with pytest.raises(dg.Failure, match="partition y0_x1 got the rasters of y0_x2"):
        manager.handle_output(
            output_context("region_risk_rasters", "y0_x1"), rasters(tiny_grid, "y0_x2")
        )
    assert not storage.raster_store().exists()
