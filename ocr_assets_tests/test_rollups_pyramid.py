"""The Web-Mercator risk pyramid: layout, multiscales metadata, values, bad input, atomicity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import zarr

from ocr_assets.rollups import level_for_resolution, write_risk_pyramid
from ocr_assets.rollups.pyramid import FILL_VALUE
from ocr_assets_tests import rollups_cases as cases

MAX_LEVEL = 8
TILE = 32


@pytest.fixture(scope="module")
def rasters() -> xr.Dataset:
    """120 x 90 px of 0.01 degree: rps_2011 = 2 but for a NaN band, rps_2047 = 4.

    The finest level (about 4.9 km pixels) is coarser than the data, as in production.
    """
    step = 0.01
    latitude = 39.95 + (np.arange(120) + 0.5) * step
    longitude = -120.9 + (np.arange(90) + 0.5) * step
    rps_2011 = np.full((120, 90), 2.0, dtype=np.float32)
    rps_2011[:10] = np.nan
    return xr.Dataset(
        {
            "rps_2011": (("latitude", "longitude"), rps_2011, {"units": "%"}),
            "rps_2047": (("latitude", "longitude"), np.full((120, 90), 4.0, np.float32)),
            "bp_2011": (("latitude", "longitude"), np.zeros((120, 90), np.float32)),
        },
        coords={"latitude": latitude, "longitude": longitude},
    )


@pytest.fixture(scope="module")
def pyramid(tmp_path_factory: pytest.TempPathFactory, rasters: xr.Dataset):
    out = tmp_path_factory.mktemp("pyramid") / "pyramid.zarr"
    summary = write_risk_pyramid(
        rasters, str(out), cases.METADATA, max_level=MAX_LEVEL, pixels_per_tile=TILE
    )
    return summary, out


def test_levels_are_full_world_tile_chunked_arrays(pyramid) -> None:
    summary, out = pyramid
    assert summary.levels == tuple(range(MAX_LEVEL + 1))
    root = zarr.open_group(str(out), mode="r")
    for level in summary.levels:
        array = root[f"{level}/rps_2011"]
        assert array.shape == (TILE * 2**level,) * 2
        assert array.chunks == (TILE, TILE)
        assert set(root[str(level)].array_keys()) >= {"rps_2011", "rps_2047", "x", "y"}
        assert "bp_2011" not in root[str(level)]
    assert root["0/rps_2011"].fill_value == pytest.approx(FILL_VALUE)


def test_multiscales_and_dataset_metadata(pyramid) -> None:
    summary, out = pyramid
    attrs = zarr.open_group(str(out), mode="r").attrs.asdict()
    datasets = attrs["multiscales"][0]["datasets"]
    assert [d["path"] for d in datasets] == [str(z) for z in summary.levels]
    assert {d["crs"] for d in datasets} == {"EPSG:3857"}
    assert {d["pixels_per_tile"] for d in datasets} == {TILE}
    assert attrs["version"] == "1.2.3" and attrs["license_name"] == "CC-BY-4.0"


def test_values_windows_and_empty_chunks(pyramid) -> None:
    summary, out = pyramid
    tree = xr.open_datatree(str(out), engine="zarr")
    finest = summary.windows[MAX_LEVEL]
    for level, (row0, row1, col0, col1) in summary.windows.items():
        # Every level's window is whole tiles of its grid, covers the window above halved, and
        # stays within a tile of it (not 2**level pixels: memory follows the data's extent).
        assert all(edge % TILE == 0 for edge in (row0, row1, col0, col1))
        if level < MAX_LEVEL:
            r0, r1, c0, c1 = summary.windows[level + 1]
            assert row0 <= r0 // 2 and -(-r1 // 2) <= row1 <= -(-r1 // 2) + TILE
            assert col0 <= c0 // 2 and -(-c1 // 2) <= col1 <= -(-c1 // 2) + TILE
        data = tree[str(level)].ds.isel(y=slice(row0, row1), x=slice(col0, col1))
        finite_2047 = data["rps_2047"].values[np.isfinite(data["rps_2047"].values)]
        assert finite_2047.size and np.allclose(finite_2047, 4.0)
        finite_2011 = data["rps_2011"].values[np.isfinite(data["rps_2011"].values)]
        assert np.allclose(finite_2011, 2.0)
    finest_2047 = tree[str(MAX_LEVEL)].ds["rps_2047"]
    above = finest_2047.isel(y=slice(finest[0] - TILE, finest[0]), x=slice(finest[2], finest[3]))
    assert np.isnan(above.values).all()
    # Only chunks holding data are stored: a handful of the 256 x 256 of the full world.
    chunks = [p.name for p in (out / str(MAX_LEVEL) / "rps_2047").iterdir()]
    stored = [tuple(map(int, name.split("."))) for name in chunks if not name.startswith(".")]
    assert 0 < len(stored) <= 4
    assert all(
        finest[0] <= TILE * r < finest[1] and finest[2] <= TILE * c < finest[3] for r, c in stored
    )


def test_level_for_resolution() -> None:
    assert level_for_resolution(30, 256) == 13
    assert level_for_resolution(1e9, 256) == 0
    with pytest.raises(ValueError, match="positive"):
        level_for_resolution(0, 256)


def test_bad_input_leaves_no_output(tmp_path: Path, rasters: xr.Dataset) -> None:
    out = tmp_path / "pyramid.zarr"
    with pytest.raises(ValueError, match=r"variables \['nope'\] not in the dataset"):
        write_risk_pyramid(rasters, str(out), cases.METADATA, max_level=2, variables=("nope",))
    with pytest.raises(ValueError, match="bad pyramid shape"):
        write_risk_pyramid(rasters, str(out), cases.METADATA, max_level=-1)
    assert list(tmp_path.iterdir()) == []
