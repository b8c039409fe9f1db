"""The raster outputs read by the clients users have.

- The pyramid through zarr-js in node, as ``@carbonplan/maps`` reads it (consolidated metadata,
  ``multiscales``, zlib chunks, fill value), compared chunk by chunk with xarray; and through
  GDAL's Zarr driver. Skipped, saying why, without node or ``npm ci --prefix tools``.
- The raster store opened with ``xr.open_zarr`` from an Icechunk session: NetCDF export
  (h5netcdf) and the file read back by xarray and GDAL, rioxarray's and odc-geo's CRS and
  geotransform, numeric ``valid_range``, CF ``grid_mapping``, flat attributes, units, and the
  dataset metadata as the dataset's attributes.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from numbers import Number
from pathlib import Path

import numpy as np
import odc.geo.xr  # noqa: F401  (the .odc accessor)
import pytest
import rasterio
import rioxarray  # noqa: F401  (the .rio accessor)
import xarray as xr
from rasterio.crs import CRS

from ocr_assets import science
from ocr_assets.regions import RegionGrid
from ocr_assets.rollups import write_risk_pyramid
from ocr_assets.rollups.pyramid import FILL_VALUE
from ocr_assets.rollups.schema import DatasetMetadata
from ocr_assets.storage import RasterStore, store_window
from ocr_assets_tests.helpers import REPO_ROOT

READER = REPO_ROOT / "scripts" / "read_pyramid_tile.js"
ZARR_JS = REPO_ROOT / "tools" / "node_modules" / "zarr-js"
MAX_LEVEL = 7
TILE = 32
#: The raster metadata dict of the published system.
METADATA = DatasetMetadata(version="1.2.3").raster()
PERCENT = ("rps_scott", "rps_2011", "rps_2047", "crps_scott")
PROBABILITY = ("bp_2011", "bp_2047", "bp_2011_riley", "bp_2047_riley")


def is_flat(value: object) -> bool:
    """A string, a number or a list of numbers (what NetCDF and every Zarr reader take)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, str | Number):
        return True
    return isinstance(value, list | tuple | np.ndarray) and all(
        isinstance(item, Number) and not isinstance(item, bool) for item in value
    )


# ------------------------------------------------------------------------------------ pyramid
@pytest.fixture(scope="module")
def pyramid(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """A pyramid of seeded random risk (with a NaN corner) over 1.2 x 0.9 degrees."""
    rng = np.random.default_rng(7)
    latitude = 39.95 + (np.arange(120) + 0.5) * 0.01
    longitude = -120.9 + (np.arange(90) + 0.5) * 0.01
    values = (rng.random((2, 120, 90)) * 100).astype(np.float32)
    values[:, :30, :20] = np.nan
    rasters = xr.Dataset(
        {
            name: (("latitude", "longitude"), values[i], dict(science.VARIABLES[name]))
            for i, name in enumerate(("rps_2011", "rps_2047"))
        },
        coords={"latitude": latitude, "longitude": longitude},
    )
    out = tmp_path_factory.mktemp("clients") / "pyramid.zarr"
    summary = write_risk_pyramid(
        rasters, str(out), METADATA, max_level=MAX_LEVEL, pixels_per_tile=TILE
    )
    return out, summary.windows


def read_tile(pyramid_path: Path, level: int, variable: str, row: int, col: int) -> dict:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (zarr-js, the reader of @carbonplan/maps, runs in it)")
    if not ZARR_JS.is_dir():
        pytest.skip("zarr-js is not installed: run `npm ci --prefix tools`")
    done = subprocess.run(
        [node, str(READER), str(pyramid_path), str(level), variable, str(row), str(col)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize("level", [MAX_LEVEL, 2])
def test_zarr_js_reads_the_tiles_xarray_reads(pyramid, level: int) -> None:
    out, windows = pyramid
    row0, _, col0, _ = windows[level]
    tile_row, tile_col = row0 // TILE, col0 // TILE
    expected = xr.open_zarr(str(out), group=str(level), mask_and_scale=False)
    for variable in ("rps_2011", "rps_2047"):
        # The tile at the window's north-west corner holds data, and the NaN corner at the
        # finest level; the tile above the window was never written (zarr-js fills it).
        for row in (tile_row, tile_row - 1):
            tile = read_tile(out, level, variable, row, tile_col)
            assert tile["levels"] == list(range(MAX_LEVEL + 1))
            assert (tile["maxZoom"], tile["tileSize"], tile["crs"]) == (
                MAX_LEVEL,
                TILE,
                "EPSG:3857",
            )
            assert tile["dimensions"] == ["y", "x"]
            assert tile["fill_value"] == pytest.approx(FILL_VALUE)
            assert tile["shape"] == [TILE, TILE]
            data = np.asarray(tile["data"], dtype=np.float32).reshape(TILE, TILE)
            window = expected[variable].isel(
                y=slice(row * TILE, (row + 1) * TILE),
                x=slice(tile_col * TILE, (tile_col + 1) * TILE),
            )
            np.testing.assert_array_equal(data, window.values)
            if row < tile_row:
                assert np.all(data == np.float32(FILL_VALUE))
            else:
                assert np.any(data < 100)


def test_gdal_reads_a_pyramid_level_with_its_crs(pyramid) -> None:
    out, windows = pyramid
    row0, row1, col0, col1 = windows[MAX_LEVEL]
    with rasterio.open(f'ZARR:"{out}":/{MAX_LEVEL}/rps_2011') as level:
        assert level.crs == CRS.from_epsg(3857)
        assert level.shape == (TILE * 2**MAX_LEVEL,) * 2
        assert level.transform.c == pytest.approx(-20037508.342789244)
        assert level.nodata == pytest.approx(FILL_VALUE)
        data = level.read(1, window=((row0, row1), (col0, col1)), masked=True)
    expected = xr.open_zarr(str(out), group=str(MAX_LEVEL))["rps_2011"]
    np.testing.assert_allclose(
        data.filled(np.nan), expected.isel(y=slice(row0, row1), x=slice(col0, col1)).values
    )


# ------------------------------------------------------------------------------- raster store
@pytest.fixture(scope="module")
def store_dataset(tmp_path_factory: pytest.TempPathFactory, tiny_grid: RegionGrid) -> xr.Dataset:
    """The raster store with one region of the 8 variables, opened from an Icechunk session."""
    region_id = "y1_x2"
    lat_slice, lon_slice = store_window(tiny_grid, region_id)
    latitude, longitude = tiny_grid.latitude()[lat_slice], tiny_grid.longitude()[lon_slice]
    rng = np.random.default_rng(11)
    region = xr.Dataset(
        {
            name: (
                ("latitude", "longitude"),
                rng.random((latitude.size, longitude.size), dtype=np.float32)
                * (100 if name in PERCENT else 1),
                dict(attrs),
            )
            for name, attrs in science.VARIABLES.items()
        },
        coords={"latitude": latitude, "longitude": longitude},
    )
    store = RasterStore(str(tmp_path_factory.mktemp("clients") / "ocr.icechunk"))
    store.ensure_layout(tiny_grid, region, METADATA)
    store.write_region(tiny_grid, region_id, region)
    session = store.repository.readonly_session(branch="main")
    return xr.open_zarr(session.store, consolidated=False)


def test_store_attributes_are_cf_and_flat(store_dataset: xr.Dataset) -> None:
    ds = store_dataset
    assert list(ds.attrs)[: len(METADATA)] == list(METADATA)
    assert ds.attrs["license_name"] == "CC-BY-4.0" and "notice" not in ds.attrs
    assert {key: ds.attrs[key] for key in METADATA} == METADATA
    assert ds.attrs["Conventions"].startswith("CF-")
    for name, value in ds.attrs.items():
        assert is_flat(value), f"dataset attribute {name}: {value!r}"
    # Zarr v3 groups keep no member order: readers list the variables sorted by name.
    assert sorted(ds.data_vars) == sorted(science.VARIABLES)
    for name, variable in ds.data_vars.items():
        attrs = variable.attrs
        for key, value in attrs.items():
            assert is_flat(value), f"{name}.{key}: {value!r}"
        assert attrs["grid_mapping"] == "spatial_ref"
        assert "spatial_ref" in variable.coords
        assert attrs["description"] == science.VARIABLES[name]["description"]
        expected = ([0.0, 100.0], "percent") if name in PERCENT else ([0.0, 1.0], "1")
        assert (list(attrs["valid_range"]), attrs["units"]) == expected, name
        assert all(isinstance(v, float) for v in attrs["valid_range"])
    crs = ds["spatial_ref"].attrs
    assert CRS.from_wkt(crs["crs_wkt"]) == CRS.from_epsg(4326)
    assert crs["spatial_ref"] == crs["crs_wkt"]
    assert crs["grid_mapping_name"] == "latitude_longitude"
    assert ds["latitude"].attrs["units"] == "degrees_north"
    assert ds["longitude"].attrs["units"] == "degrees_east"
    assert sorted(PERCENT + PROBABILITY) == sorted(science.VARIABLES)


def test_rioxarray_and_odc_geo_read_the_crs_and_grid(
    store_dataset: xr.Dataset, tiny_grid: RegionGrid
) -> None:
    ds = store_dataset
    for name in science.VARIABLES:
        assert ds[name].rio.crs == CRS.from_epsg(4326), name
    # Latitude ascends in the store, so the geotransform starts at the south edge.
    assert ds["rps_2011"].rio.bounds() == pytest.approx(tiny_grid.total_bounds)
    assert ds["rps_2011"].rio.resolution() == pytest.approx((tiny_grid.pixel_size,) * 2)
    geobox = ds.odc.geobox
    assert geobox.crs.epsg == 4326
    assert geobox.shape == (tiny_grid.height, tiny_grid.width)
    assert tuple(geobox.boundingbox) == pytest.approx(tiny_grid.total_bounds)


def test_netcdf_export_reads_back_in_xarray_and_gdal(
    store_dataset: xr.Dataset, tiny_grid: RegionGrid, tmp_path: Path
) -> None:
    # The whole store (one region written, the rest NaN fill), as a user would export it.
    target = tmp_path / "store.nc"
    store_dataset.to_netcdf(target, engine="h5netcdf")

    with xr.open_dataset(target, engine="h5netcdf") as back:
        xr.testing.assert_identical(back.load(), store_dataset.load())
        assert back["bp_2011"].rio.crs == CRS.from_epsg(4326)
    with rasterio.open(f"netcdf:{target}:rps_2047") as gdal:
        assert gdal.crs == CRS.from_epsg(4326)
        assert gdal.shape == (tiny_grid.height, tiny_grid.width)
        # GDAL turns the ascending latitude into a north-up geotransform.
        transform = gdal.transform
        assert (transform.a, transform.e) == pytest.approx(
            (tiny_grid.pixel_size, -tiny_grid.pixel_size)
        )
        assert (transform.c, transform.f) == pytest.approx((tiny_grid.west, tiny_grid.north))
        north_up = gdal.read(1)
    np.testing.assert_array_equal(north_up, store_dataset["rps_2047"].values[::-1])
