"""The ``wind_direction_distribution`` asset on the tiny synthetic inputs."""

import shutil
from pathlib import Path

import dagster as dg
import numpy as np
import pytest

from ocr_assets.assets import wind_direction_distribution
from ocr_assets.resources import InputCatalogResource, OutputStorage
from ocr_assets.science import DIRECTIONS


def resources(input_root: Path, storage_root: Path) -> dict[str, object]:
    return {
        "io_manager": dg.InMemoryIOManager(),
        "catalog": InputCatalogResource(root=str(input_root)),
        "storage": OutputStorage(root=str(storage_root)),
    }


def test_wind_direction_distribution(synthetic_root: Path, tmp_path: Path) -> None:
    result = dg.materialize(
        [wind_direction_distribution], resources=resources(synthetic_root, tmp_path)
    )
    assert result.success
    storage = OutputStorage(root=str(tmp_path))
    distribution = storage.read_wind_distribution()
    assert distribution.dims == ("y", "x", "wind_direction")
    assert distribution["wind_direction"].values.tolist() == list(DIRECTIONS)
    assert distribution.odc.crs is not None
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
    shutil.rmtree(inputs / "conus404-hourly.zarr")
    result = dg.materialize(
        [wind_direction_distribution],
        resources=resources(inputs, tmp_path / "out"),
        raise_on_error=False,
    )
    assert not result.success
    failure = result.failure_data_for_node("wind_direction_distribution")
    assert "conus404-hourly.zarr" in failure.user_failure_data.description
    assert not Path(OutputStorage(root=str(tmp_path / "out")).paths.wind_distribution).exists()


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
