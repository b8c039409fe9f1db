"""The Web-Mercator risk pyramid: layout, multiscales metadata, values, bad input, atomicity.

What zarr-js (the reader of ``@carbonplan/maps``) makes of it is tested in test_rasters_clients.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rioxarray  # noqa: F401  (the .rio accessor)
import xarray as xr
import zarr

from ocr_assets.rollups import level_for_resolution, write_risk_pyramid
from ocr_assets.rollups.pyramid import FILL_VALUE
from ocr_assets.storage import StorageError
from ocr_assets_tests.rollups import rollups_cases as cases

MAX_LEVEL = 8
TILE = 32
#: Dataset metadata of the pyramid: the raster metadata dict.
ATTRS = cases.METADATA.raster()
#: The dtypes zarr-js 3 has constructors for.
ZARR_JS_DTYPES = {"<i1", "<u1", "|u1", "|b1", "<i2", "<u2", "<i4", "<u4", "<f4", "<f8"}


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
            "rps_2011": (
                ("latitude", "longitude"),
                rps_2011,
                {"units": "%", "description": "risk", "valid_range": "0..100"},
            ),
            "rps_2047": (("latitude", "longitude"), np.full((120, 90), 4.0, np.float32)),
            "bp_2011": (("latitude", "longitude"), np.zeros((120, 90), np.float32)),
        },
        coords={"latitude": latitude, "longitude": longitude},
    )


@pytest.fixture(scope="module")
def pyramid(tmp_path_factory: pytest.TempPathFactory, rasters: xr.Dataset):
    out = tmp_path_factory.mktemp("pyramid") / "pyramid.zarr"
    summary = write_risk_pyramid(
        rasters, str(out), ATTRS, max_level=MAX_LEVEL, pixels_per_tile=TILE
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
    assert len(attrs["multiscales"]) == 1
    multiscales = attrs["multiscales"][0]
    datasets = multiscales["datasets"]
    assert [d["path"] for d in datasets] == [str(z) for z in summary.levels]
    assert [d["level"] for d in datasets] == list(summary.levels)
    assert {d["crs"] for d in datasets} == {"EPSG:3857"}
    assert {d["pixels_per_tile"] for d in datasets} == {TILE}
    # As ndpyramid writes it; older @carbonplan/maps releases read the levels from the kwargs.
    assert multiscales["type"] == "reduce"
    assert multiscales["metadata"]["kwargs"]["levels"] == MAX_LEVEL + 1
    assert multiscales["metadata"]["kwargs"]["pixels_per_tile"] == TILE
    assert {"method", "version", "args"} <= set(multiscales["metadata"])
    assert attrs["title"] == "multiscale data pyramid"
    assert {key: attrs[key] for key in ATTRS} == ATTRS
    level = zarr.open_group(str(out), mode="r")[str(MAX_LEVEL)].attrs.asdict()
    assert level["multiscales"][0]["datasets"] == [
        {"path": ".", "level": MAX_LEVEL, "crs": "EPSG:3857"}
    ]


def test_every_array_is_one_zarr_js_reads(pyramid) -> None:
    """Consolidated v2 metadata; zlib chunks (no Blosc), dtypes and fill values zarr-js takes."""
    _, out = pyramid
    consolidated = json.loads((out / ".zmetadata").read_text())
    assert consolidated["zarr_consolidated_format"] == 1
    arrays = {
        key.removesuffix("/.zarray"): meta
        for key, meta in consolidated["metadata"].items()
        if key.endswith("/.zarray")
    }
    assert {f"{z}/rps_2047" for z in range(MAX_LEVEL + 1)} <= set(arrays)
    for name, meta in arrays.items():
        assert meta["zarr_format"] == 2, name
        assert meta["compressor"]["id"] == "zlib", name
        assert meta["filters"] is None, name
        assert meta["dtype"] in ZARR_JS_DTYPES, name
        assert meta["order"] == "C" and meta.get("dimension_separator", ".") == ".", name
        if name.endswith(("rps_2011", "rps_2047")):
            assert meta["dtype"] == "<f4" and meta["fill_value"] == pytest.approx(FILL_VALUE)
            attrs = consolidated["metadata"][f"{name}/.zattrs"]
            assert attrs["_ARRAY_DIMENSIONS"] == ["y", "x"]


def test_levels_carry_their_crs_and_cf_attributes(pyramid) -> None:
    _, out = pyramid
    level = xr.open_zarr(str(out), group=str(MAX_LEVEL))
    assert level["rps_2011"].rio.crs == "EPSG:3857"
    assert level["rps_2011"].attrs["units"] == "percent"
    assert level["rps_2011"].attrs["valid_range"] == [0.0, 100.0]
    assert level["rps_2011"].attrs["grid_mapping"] == "spatial_ref"


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
        write_risk_pyramid(rasters, str(out), ATTRS, max_level=2, variables=("nope",))
    with pytest.raises(ValueError, match="bad pyramid shape"):
        write_risk_pyramid(rasters, str(out), ATTRS, max_level=-1)
    with pytest.raises(ValueError, match="max_level 12 has 4096 tiles a side: more than zarr-js"):
        write_risk_pyramid(rasters, str(out), ATTRS, max_level=12)
    with pytest.raises(StorageError, match="attribute 'grid' is a dict"):
        write_risk_pyramid(rasters, str(out), {**ATTRS, "grid": {"west": 1.0}}, max_level=2)
    assert list(tmp_path.iterdir()) == []
