"""The IO managers on their own: what they publish, what they keep on failure, what they load.

Each is called through Dagster's output and input contexts, on a local folder and on a local S3
server (moto), with its ``Deferred`` evaluated on the in-process cluster.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import dagster as dg
import geopandas as gpd
import numpy as np
import pytest
import shapely
import xarray as xr

from ocr_assets.io_managers import (
    FilesIOManager,
    GeoParquetIOManager,
    RasterIOManager,
    WindIOManager,
    file_outputs,
)
from ocr_assets.outputs import Deferred, RegionRasters
from ocr_assets.regions import RegionGrid
from ocr_assets.resources import ComputeResource, OutputStorage
from ocr_assets.storage import objects


def write_text(text: str, *, outputs: Mapping[str, str]) -> int:
    """A file-kind asset function: one file."""
    Path(outputs["pmtiles"]).write_text(text)
    return len(text)


def write_then_fail(text: str, *, outputs: Mapping[str, str]) -> int:
    """Writes its output, then fails (a tool crashing at the end)."""
    Path(outputs["pmtiles"]).write_text(text)
    raise RuntimeError("tippecanoe died")


def write_nothing(*, outputs: Mapping[str, str]) -> int:
    """Returns without writing its output."""
    return 0


def describe_length(length: int) -> dict[str, int]:
    return {"characters": length}


def buildings() -> gpd.GeoDataFrame:
    frame = gpd.GeoDataFrame(
        {"rps_2011": np.array([0.5, 1.5], dtype=np.float32)},
        geometry=[shapely.box(0, 0, 1, 1), shapely.box(2, 2, 3, 3)],
        crs="EPSG:4326",
    )
    frame.attrs["candidate_rows"] = 3
    return frame


def describe_rows(frame: gpd.GeoDataFrame) -> dict[str, int]:
    return {"candidate_rows": frame.attrs["candidate_rows"]}


def distribution() -> xr.DataArray:
    return xr.DataArray(
        np.arange(2 * 3 * 8, dtype=np.float32).reshape(2, 3, 8) / 48,
        dims=("y", "x", "wind_direction"),
        coords={"wind_direction": ["N", "NE", "E", "SE", "S", "SW", "W", "NW"]},
        name="wind_distribution",
    )


def read(location: str) -> bytes:
    fs, path = objects.filesystem(location)
    return fs.cat_file(path)


def storage_at(root: str) -> OutputStorage:
    return OutputStorage(root=root)


def output_context(asset: str, partition: str | None = None) -> dg.OutputContext:
    return dg.build_output_context(asset_key=dg.AssetKey(asset), partition_key=partition)


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.integration)])
def root(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "local":
        return str(tmp_path / "data")
    return f"s3://{request.getfixturevalue('s3_bucket')}/data"


def test_files_are_published_with_their_metadata(root: str) -> None:
    manager = FilesIOManager(storage=storage_at(root), compute=ComputeResource())
    context = output_context("regional_pmtiles")
    manager.handle_output(context, Deferred(write_text, ("tiles",), describe_length))
    (location,) = file_outputs("regional_pmtiles", storage_at(root).paths).values()
    assert read(location) == b"tiles"
    metadata = context.get_logged_metadata()
    assert metadata["characters"].value == 5 and metadata["file_size_bytes"].value == 5
    assert metadata["path"] == dg.MetadataValue.path(location)
    loaded = manager.load_input(dg.build_input_context(asset_key=dg.AssetKey("regional_pmtiles")))
    assert loaded == location


@pytest.mark.parametrize("function", [write_then_fail, write_nothing])
def test_a_failing_function_keeps_the_published_file(root: str, function: object) -> None:
    manager = FilesIOManager(storage=storage_at(root), compute=ComputeResource())
    manager.handle_output(output_context("regional_pmtiles"), Deferred(write_text, ("old",)))
    (location,) = file_outputs("regional_pmtiles", storage_at(root).paths).values()
    args = ("new",) if function is write_then_fail else ()
    with pytest.raises((RuntimeError, dg.Failure)):
        manager.handle_output(output_context("regional_pmtiles"), Deferred(function, args))
    assert read(location) == b"old"


def test_region_files_load_per_region_and_name_the_missing_ones(tmp_path: Path) -> None:
    storage = storage_at(str(tmp_path / "data"))
    manager = GeoParquetIOManager(storage=storage, compute=ComputeResource())
    context = output_context("region_buildings", "y0_x1")
    manager.handle_output(context, Deferred(buildings, (), describe_rows))
    location = storage.paths.region_buildings("y0_x1")
    written = gpd.read_parquet(location)
    assert written["rps_2011"].tolist() == [0.5, 1.5] and not written.attrs
    assert context.get_logged_metadata()["candidate_rows"].value == 3
    assert context.get_logged_metadata()["dagster/row_count"].value == 2

    partitions = dg.StaticPartitionsDefinition(["y0_x1", "y1_x1"])
    one = dg.build_input_context(
        asset_key=dg.AssetKey("region_buildings"),
        partition_key="y0_x1",
        asset_partitions_def=partitions,
    )
    assert manager.load_input(one) == location
    every = dg.build_input_context(
        asset_key=dg.AssetKey("region_buildings"),
        asset_partition_key_range=dg.PartitionKeyRange("y0_x1", "y1_x1"),
        asset_partitions_def=partitions,
    )
    with pytest.raises(dg.Failure, match=r"region_buildings is missing for region\(s\) y1_x1"):
        manager.load_input(every)


def test_wind_distribution_round_trip(root: str) -> None:
    manager = WindIOManager(storage=storage_at(root), compute=ComputeResource())
    context = output_context("wind_direction_distribution")
    manager.handle_output(context, distribution())
    reader = manager.load_input(
        dg.build_input_context(asset_key=dg.AssetKey("wind_direction_distribution"))
    )
    assert isinstance(reader, Deferred)
    read = reader.compute()
    np.testing.assert_array_equal(read.values, distribution().values)
    assert list(read["wind_direction"].values) == list(distribution()["wind_direction"].values)


def region_rasters_of(region_id: str, grid: RegionGrid) -> RegionRasters:
    return RegionRasters(region_id, grid, xr.Dataset())


def test_rasters_of_another_region_are_never_committed(
    tmp_path: Path, tiny_grid: RegionGrid
) -> None:
    storage = storage_at(str(tmp_path))
    manager = RasterIOManager(storage=storage, compute=ComputeResource())
    result = Deferred(region_rasters_of, ("y0_x2", tiny_grid))
    with pytest.raises(dg.Failure, match="partition y0_x1 got the rasters of y0_x2"):
        manager.handle_output(output_context("region_risk_rasters", "y0_x1"), result)
    assert not storage.raster_store().exists()
