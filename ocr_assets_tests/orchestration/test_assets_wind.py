"""The ``wind_direction_distribution`` asset on the tiny synthetic inputs (raw CONUS404)."""

import shutil
from pathlib import Path

import dagster as dg
import icechunk
import numpy as np
import pytest
import xarray as xr
from pyproj import CRS

from ocr_assets import science
from ocr_assets.catalog import InputCatalog, conus404_store
from ocr_assets.orchestration.assets.wind import wind_direction_distribution
from ocr_assets.orchestration.io_managers import read_zarr_array
from ocr_assets.orchestration.resources import ComputeResource, OutputStorage
from ocr_assets.science import DIRECTIONS
from ocr_assets_tests.helpers import pipeline_resources as resources
from ocr_assets_tests.orchestration import compute_fakes


def test_wind_direction_distribution(synthetic_root: Path, tmp_path: Path) -> None:
    compute_fakes.CALLS.clear()
    compute = ComputeResource(cluster_factory=compute_fakes.FACTORY_PATH)
    result = dg.materialize(
        [wind_direction_distribution], resources=resources(synthetic_root, tmp_path, compute)
    )
    assert result.success
    assert len(compute_fakes.CALLS) == 1  # computed on the compute resource's cluster
    storage = OutputStorage(root=str(tmp_path))
    distribution = read_zarr_array(storage.layout.wind_distribution).load()
    assert distribution.dims == ("y", "x", "wind_direction")
    assert distribution["wind_direction"].values.tolist() == list(DIRECTIONS)
    # The chain from the raw hourly variables, on the CONUS404 grid and CRS.
    weather = InputCatalog(synthetic_root).conus404()
    expected = science.fire_weather_wind_distribution(weather.load())
    np.testing.assert_array_equal(distribution.values, expected.values)
    np.testing.assert_array_equal(distribution["y"].values, weather["y"].values)
    assert distribution.odc.crs == CRS.from_wkt(weather["crs"].attrs["crs_wkt"])
    totals = distribution.sum("wind_direction").values
    assert np.all((np.abs(totals - 1) < 1e-5) | (totals == 0))
    assert distribution.attrs["provider"] == "CarbonPlan"

    metadata = result.asset_materializations_for_node("wind_direction_distribution")[0].metadata
    shape = metadata["grid_shape"].value
    assert shape == dict(zip(distribution.dims, distribution.shape, strict=True))
    share = metadata["fire_weather_pixel_share"].value
    assert share == pytest.approx(float(np.mean(totals > 0)))
    assert set(metadata["mean_weight_per_direction"].value) == set(DIRECTIONS)


def test_missing_weather_input_is_named_and_writes_nothing(
    synthetic_root: Path, tmp_path: Path
) -> None:
    inputs = tmp_path / "inputs"
    shutil.copytree(synthetic_root, inputs)
    shutil.rmtree(inputs / conus404_store("TD2"))
    result = dg.materialize(
        [wind_direction_distribution],
        resources=resources(inputs, tmp_path / "out"),
        raise_on_error=False,
    )
    assert not result.success
    failure = result.failure_data_for_node("wind_direction_distribution")
    assert str(inputs / conus404_store("TD2")) in failure.user_failure_data.description
    assert not Path(OutputStorage(root=str(tmp_path / "out")).layout.wind_distribution).exists()


def test_unwritable_storage_root_is_named(synthetic_root: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    result = dg.materialize(
        [wind_direction_distribution],
        resources=resources(synthetic_root, blocker / "data"),
        raise_on_error=False,
    )
    failure = result.failure_data_for_node("wind_direction_distribution")
    assert f"cannot write to {blocker / 'data'}" in failure.user_failure_data.description


def test_the_chain_runs_lazily_in_the_repositories_pixel_blocks(
    synthetic_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chain = science.fire_weather_wind_distribution
    seen = []

    def spy(ds: xr.Dataset) -> xr.DataArray:
        seen.append(ds)
        return chain(ds)

    monkeypatch.setattr(science, "fire_weather_wind_distribution", spy)
    result = dg.materialize(
        [wind_direction_distribution], resources=resources(synthetic_root, tmp_path)
    )
    assert result.success
    (ds,) = seen
    native = InputCatalog(synthetic_root).conus404()["T2"].chunks
    assert native[0] == (ds.sizes["time"],)  # whole series in every block
    for name in ("T2", "TD2", "U10", "V10", "SINALPHA", "COSALPHA"):
        assert ds[name].chunks is not None  # dask, not loaded
        assert ds[name].chunks[-2:] == native[1:], name  # the 10 x 10 pixel blocks


def _with_constant_units(root: Path, units: str) -> None:
    """Rewrite the constants repository under ``root`` with SINALPHA/COSALPHA ``units``."""
    storage = icechunk.local_filesystem_storage(str(root / conus404_store("constants")))
    repo = icechunk.Repository.open(storage)
    ds = xr.open_dataset(
        repo.readonly_session("main").store, engine="zarr", consolidated=False
    ).load()
    for name in ("SINALPHA", "COSALPHA"):
        ds[name].attrs["units"] = units
    session = repo.writable_session("main")
    ds.to_zarr(session.store, mode="w", zarr_format=3, consolidated=False)
    session.commit(f"constants with units {units!r}")


def test_rotation_constants_with_wrf_units_keep_the_wind_units(
    synthetic_root: Path, tmp_path: Path
) -> None:
    """Issue 17: SINALPHA/COSALPHA with ``units: "1"`` (as WRF writes them) made the rotation
    drop the winds' units, and the asset refused its own earth-relative winds."""
    inputs = tmp_path / "inputs"
    shutil.copytree(synthetic_root, inputs)
    control = InputCatalog(inputs).conus404().load()
    _with_constant_units(inputs, "1")
    weather = InputCatalog(inputs).conus404()
    assert weather["SINALPHA"].attrs["units"] == "1"  # the fault is in place
    result = dg.materialize(
        [wind_direction_distribution],
        resources=resources(inputs, tmp_path / "out"),
        raise_on_error=False,
    )
    failure = result.failure_data_for_node("wind_direction_distribution")
    assert result.success, failure and failure.user_failure_data.description
    distribution = read_zarr_array(
        OutputStorage(root=str(tmp_path / "out")).layout.wind_distribution
    ).load()
    expected = science.fire_weather_wind_distribution(control)
    np.testing.assert_array_equal(distribution.values, expected.values)
