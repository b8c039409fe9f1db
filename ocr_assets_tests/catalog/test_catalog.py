"""The input catalog: validation errors, lazy access, region windows, local and S3 roots."""

from __future__ import annotations

import dataclasses
import json
import shutil
import warnings
from pathlib import Path

import dask.array
import geopandas as gpd
import icechunk
import numpy as np
import pyarrow.parquet as pq
import pytest
import shapely
import xarray as xr
from odc.geo.xr import assign_crs
from pyproj import CRS, Transformer

from ocr_assets.catalog import (
    BUILDINGS_FILE,
    RILEY_RESOLUTION_M,
    SCOTT_STORE,
    InputCatalog,
    census_file,
    conus404_store,
    riley_store,
)
from ocr_assets.catalog.grid import same_geometry
from ocr_assets.catalog.layout import CONUS404_UNITS, VALID_REGION_IDS_FILE
from ocr_assets.data import published_valid_region_ids
from ocr_assets.regions import CONUS_GRID, RegionGrid
from ocr_assets.storage import objects
from ocr_assets_tests.conftest import TINY_VALID_REGION_IDS

R = CONUS_GRID.pixel_size


def _write(
    ds: xr.Dataset, path: Path, chunks: dict[str, tuple[int, ...]], **kwargs: object
) -> None:
    """A plain Zarr store (the fallback the published reader accepts too)."""
    for name, shape in chunks.items():
        ds[name].encoding = {**ds[name].encoding, "chunks": shape}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        ds.to_zarr(path, zarr_format=3, consolidated=True, **kwargs)


def _commit(ds: xr.Dataset, path: Path, branch: str = "main") -> None:
    """Write ``ds`` to the Icechunk repository at ``path`` (created if needed) on ``branch``."""
    storage = icechunk.local_filesystem_storage(str(path))
    if icechunk.Repository.exists(storage):
        repo = icechunk.Repository.open(storage)
    else:
        repo = icechunk.Repository.create(storage)
    if branch not in repo.list_branches():
        repo.create_branch(branch, repo.lookup_branch("main"))
    session = repo.writable_session(branch)
    ds.to_zarr(session.store, mode="w", zarr_format=3, consolidated=False)
    session.commit(f"test data on {branch}")


def _open_input(root: Path, name: str) -> xr.Dataset:
    """An input as written. An hourly CONUS404 repository keeps ``grid_mapping: crs`` as an
    attribute (its ``crs`` is in the constants repository)."""
    storage = icechunk.local_filesystem_storage(str(root / name))
    session = icechunk.Repository.open(storage).readonly_session("main")
    hourly = name in {conus404_store(variable) for variable in CONUS404_UNITS}
    return xr.open_dataset(
        session.store,
        engine="zarr",
        consolidated=False,
        decode_coords="coordinates" if hourly else "all",
    )


def _replace(root: Path, name: str, ds: xr.Dataset) -> None:
    """Replace the input repository ``name`` under ``root`` with one holding ``ds``."""
    shutil.rmtree(root / name)
    _commit(ds, root / name)


def _scott_like(
    root: Path,
    *,
    west: float = -100.0,
    south: float = 40.0,
    shape: tuple[int, int] = (8, 15),
    spacing: tuple[float, float] = (R, R),
    crs: str | None = "EPSG:4326",
    chunks: tuple[int, int] = (3, 4),
    descending: bool = False,
    values: np.ndarray | None = None,
) -> None:
    """A tiny Scott-like store; by default 8 x 15 px in chunks of 3 x 4 (partial last chunks:
    3 x 4 regions) from (-100, 40) at the published pixel size."""
    lat = south + (np.arange(shape[0]) + 0.5) * spacing[0]
    lon = west + (np.arange(shape[1]) + 0.5) * spacing[1]
    if descending:
        lat = lat[::-1]
    values = np.ones(shape, dtype=np.float32) if values is None else values
    dims = ("latitude", "longitude")
    attrs: dict[str, object] = {} if crs is None else {"crs": crs}
    ds = xr.Dataset(
        {v: (dims, values) for v in ("CRPS", "RPS", "BP")},
        coords={"latitude": lat, "longitude": lon},
        attrs=attrs,
    )
    _write(ds, root / SCOTT_STORE, dict.fromkeys(("CRPS", "RPS", "BP"), chunks))


def _riley_like(root: Path, *, crs: str = "EPSG:5070", resolution: float = 270.0) -> None:
    x = -2_000_000.0 + (np.arange(6) + 0.5) * resolution
    y = 2_000_000.0 - (np.arange(5) + 0.5) * resolution
    da = xr.DataArray(
        np.ones((5, 6), dtype=np.float32), coords={"y": y, "x": x}, dims=("y", "x"), name="BP"
    )
    _write(assign_crs(da, crs).to_dataset(), root / riley_store(2011, "270m-5070"), {"BP": (5, 6)})


# ---------------------------------------------------------------------- missing inputs
def test_missing_input_names_path_and_how_to_generate(tmp_path: Path) -> None:
    catalog = InputCatalog(tmp_path)
    with pytest.raises(FileNotFoundError) as err:
        catalog.scott()
    message = str(err.value)
    assert str(tmp_path / SCOTT_STORE) in message
    assert "make demo" in message and "python -m ocr_assets.synthetic" in message
    for call in (
        lambda: catalog.riley_270m(2011),
        catalog.conus404,
        catalog.buildings,
        lambda: catalog.census("blocks"),
    ):
        with pytest.raises(FileNotFoundError, match=r"python -m ocr_assets\.synthetic"):
            call()


# ---------------------------------------------------------------------- grid validation
def test_grid_from_coordinates_and_partial_chunks(tmp_path: Path) -> None:
    _scott_like(tmp_path)
    grid = InputCatalog(tmp_path).grid
    assert (grid.height, grid.width, grid.region_rows, grid.region_cols) == (8, 15, 3, 4)
    assert (grid.n_region_rows, grid.n_region_cols) == (3, 4)
    assert grid.pixel_size == pytest.approx(R, rel=1e-12)
    assert (grid.west, grid.south) == pytest.approx((-100.0, 40.0), abs=1e-12)
    assert grid.window("y2_x3") == (slice(6, 8), slice(12, 15))
    assert grid.buffer_degrees == 0.15


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"crs": "EPSG:3857"}, r"CRS must be EPSG:4326, found EPSG:3857"),
        ({"crs": None}, r"CRS must be EPSG:4326, found no CRS"),
        ({"spacing": (R, 2 * R)}, r"same along both axes, found 0.000307.*and 0.000615"),
        ({"descending": True}, r"'latitude' must be ascending"),
        ({"shape": (1, 15)}, r"'latitude' needs at least 2 values, found 1"),
    ],
)
def test_grid_validation_errors(tmp_path: Path, kwargs: dict, expected: str) -> None:
    _scott_like(tmp_path, **kwargs)
    with pytest.raises(ValueError, match=expected) as err:
        _ = InputCatalog(tmp_path).grid
    assert SCOTT_STORE in str(err.value)


def test_irregular_coordinates_are_refused(tmp_path: Path) -> None:
    _scott_like(tmp_path)
    path = tmp_path / SCOTT_STORE
    ds = xr.open_zarr(path).load()
    lon = ds["longitude"].values.copy()
    lon[7] += 0.01 * R
    ds = ds.assign_coords(longitude=lon)
    shutil.rmtree(path)
    _write(ds, path, dict.fromkeys(("CRPS", "RPS", "BP"), (3, 4)))
    with pytest.raises(ValueError, match=r"'longitude' must be regular .* at index 7") as err:
        _ = InputCatalog(tmp_path).grid
    assert SCOTT_STORE in str(err.value)


def test_grid_of_synthetic_inputs(synthetic_catalog: InputCatalog, tiny_grid: RegionGrid) -> None:
    assert same_geometry(synthetic_catalog.grid, tiny_grid)
    assert synthetic_catalog.grid.buffer_degrees == tiny_grid.buffer_degrees


def test_published_geometry_is_the_conus_grid_with_the_shipped_ids(tmp_path: Path) -> None:
    """A store with the published geometry (metadata only: no chunk is written, so every
    CRPS read would be NaN) is the published grid; its valid IDs come from the package."""
    g = CONUS_GRID
    crps = dask.array.zeros((g.height, g.width), dtype=np.float32, chunks=(6000, 4500))
    ds = xr.Dataset(
        {v: (("latitude", "longitude"), crps) for v in ("CRPS", "RPS", "BP")},
        coords={"latitude": g.latitude(), "longitude": g.longitude()},
        attrs={"crs": "EPSG:4326"},
    )
    _write(
        ds,
        tmp_path / SCOTT_STORE,
        dict.fromkeys(("CRPS", "RPS", "BP"), (6000, 4500)),
        compute=False,
    )
    catalog = InputCatalog(tmp_path)
    assert catalog.grid is CONUS_GRID
    assert catalog.valid_region_ids() == published_valid_region_ids()
    assert not (tmp_path / VALID_REGION_IDS_FILE).exists()


def test_cut_out_of_the_real_grid_computes_and_caches_its_ids(tmp_path: Path) -> None:
    """Same pixel size and lattice as the published grid, another origin and shape."""
    origin_rows, origin_cols = 30000, 63000  # the south-west corner of y5_x14
    values = np.full((7, 10), np.nan, dtype=np.float32)
    values[6, 9] = 1.0  # data only in the partial north-east region ...
    values[0, 0] = 2.0  # ... and the south-west one
    _scott_like(
        tmp_path,
        west=CONUS_GRID.west + origin_cols * R,
        south=CONUS_GRID.south + origin_rows * R,
        shape=(7, 10),
        chunks=(3, 4),
        values=values,
    )
    catalog = InputCatalog(tmp_path)
    grid = catalog.grid
    assert grid != CONUS_GRID and (grid.n_region_rows, grid.n_region_cols) == (3, 3)
    assert grid.bounds("y0_x0")[:2] == pytest.approx(CONUS_GRID.bounds("y5_x14")[:2], abs=1e-9)
    assert catalog.valid_region_ids() == ["y0_x0", "y2_x2"]
    cached = json.loads((tmp_path / VALID_REGION_IDS_FILE).read_text())
    assert cached["region_ids"] == ["y0_x0", "y2_x2"]
    assert same_geometry(RegionGrid(**cached["grid"]), grid)
    # A second catalog reads the cache instead of CRPS.
    cached["region_ids"] = ["y2_x2"]
    (tmp_path / VALID_REGION_IDS_FILE).write_text(json.dumps(cached))
    assert InputCatalog(tmp_path).valid_region_ids() == ["y2_x2"]


# ---------------------------------------------------------------------- Riley validation
def test_riley_270m_validation(tmp_path: Path) -> None:
    _riley_like(tmp_path)
    da = InputCatalog(tmp_path).riley_270m(2011)
    assert da.odc.crs.epsg == 5070

    wrong_crs = tmp_path / "crs"
    _riley_like(wrong_crs, crs="EPSG:3310")
    with pytest.raises(ValueError, match="CRS must be EPSG:5070, found EPSG:3310") as err:
        InputCatalog(wrong_crs).riley_270m(2011)
    assert riley_store(2011, "270m-5070") in str(err.value)

    wrong_res = tmp_path / "res"
    _riley_like(wrong_res, resolution=300.0)
    with pytest.raises(ValueError, match=r"'x' spacing must be 270.0.*found a step of 300.0"):
        InputCatalog(wrong_res).riley_270m(2011)

    with pytest.raises(ValueError, match="unknown Riley year 2030"):
        InputCatalog(tmp_path).riley_270m(2030)


def test_riley_270m_either_row_order_is_returned_north_up(tmp_path: Path) -> None:
    _riley_like(tmp_path)
    north_up = InputCatalog(tmp_path).riley_270m(2011)
    ascending = tmp_path / "ascending"
    ds = _open_zarr_plain(tmp_path / riley_store(2011, "270m-5070")).sortby("y")
    _commit(ds, ascending / riley_store(2011, "270m-5070"))
    read = InputCatalog(ascending).riley_270m(2011)
    assert np.diff(read["y"].values).max() < 0
    xr.testing.assert_identical(read.load(), north_up.load())


def _open_zarr_plain(path: Path) -> xr.Dataset:
    return xr.open_zarr(path, decode_coords="all").load()


# ---------------------------------------------------------------------- opening
def test_icechunk_inputs_are_read_from_main(tmp_path: Path) -> None:
    _riley_like(tmp_path / "plain")
    ds = _open_zarr_plain(tmp_path / "plain" / riley_store(2011, "270m-5070"))
    path = tmp_path / "repo" / riley_store(2011, "270m-5070")
    _commit(ds, path)
    _commit(ds.assign(BP=ds["BP"] * 2), path, branch="experiment")
    read = InputCatalog(tmp_path / "repo").riley_270m(2011)
    assert read.chunks is not None
    np.testing.assert_array_equal(read.values, ds["BP"].values)


def test_an_input_that_is_neither_icechunk_nor_zarr_is_named(tmp_path: Path) -> None:
    store = tmp_path / SCOTT_STORE
    store.mkdir(parents=True)
    (store / "notes.txt").write_text("not a store")
    with pytest.raises(ValueError, match="expected an Icechunk repository") as err:
        InputCatalog(tmp_path).scott()
    assert str(store) in str(err.value) and "found something else" in str(err.value)


def test_missing_inputs_leave_no_trace(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="found nothing"):
        InputCatalog(tmp_path).conus404()
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------- CONUS404
def test_conus404_is_the_published_merged_dataset(synthetic_catalog: InputCatalog) -> None:
    ds = synthetic_catalog.conus404()
    assert sorted(ds.data_vars) == sorted([*CONUS404_UNITS, "SINALPHA", "COSALPHA"])
    for name, units in CONUS404_UNITS.items():
        da = ds[name]
        assert da.dims == ("time", "y", "x") and da.dtype == np.float32
        assert da.attrs["units"] == units
        assert da.chunks is not None and da.chunks[0] == (ds.sizes["time"],)
        assert set(da.chunks[1]) <= {10, ds.sizes["y"] % 10}
    for name in ("SINALPHA", "COSALPHA"):
        assert ds[name].dims == ("y", "x") and ds[name].dtype == np.float32
    for name in ("lat", "lon"):
        assert name in ds.coords and ds[name].dims == ("y", "x") and ds[name].dtype == np.float32
    assert ds["x"].dtype == ds["y"].dtype == np.float64
    assert "crs" in ds.coords and ds["crs"].ndim == 0
    crs = CRS.from_wkt(ds["crs"].attrs["crs_wkt"])
    assert crs.is_projected and crs.coordinate_operation.method_name.startswith("Lambert")
    # lat/lon describe the grid: the CRS maps them back onto x/y.
    x, y = Transformer.from_crs(4326, crs, always_xy=True).transform(
        ds["lon"].values.astype(np.float64), ds["lat"].values.astype(np.float64)
    )
    np.testing.assert_allclose(x, np.broadcast_to(ds["x"].values, x.shape), atol=5.0)
    np.testing.assert_allclose(y, np.broadcast_to(ds["y"].values[:, None], y.shape), atol=5.0)


@pytest.mark.parametrize(
    ("name", "change", "expected"),
    [
        (
            "U10",
            lambda ds: ds.assign(U10=ds["U10"].assign_attrs(units="kg")),
            r"grid-relative eastward wind \('U10'\): units 'kg' cannot be converted to m s-1",
        ),
        (
            "TD2",
            lambda ds: ds.assign(TD2=ds["TD2"].drop_attrs()),
            r"2 m dew point temperature \('TD2'\): no 'units' attribute, expected units "
            "convertible to K",
        ),
        (
            "constants",
            lambda ds: ds.assign(SINALPHA=ds["SINALPHA"].assign_attrs(units="m")),
            r"sine of the grid rotation \('SINALPHA'\): units 'm' cannot be converted to 1 "
            r".*\(it must be dimensionless\)",
        ),
        (
            "U10",
            lambda ds: ds.assign(U10=ds["U10"].astype(np.float64)),
            r"U10 must be float32, found float64",
        ),
        (
            "Q2",
            lambda ds: ds.isel(time=slice(1, None)),
            r"coordinate 'time' must equal the T2 repository's \(240 values",
        ),
        (
            "constants",
            lambda ds: ds.assign_coords(x=ds["x"] + 1.0),
            r"coordinate 'x' must equal the T2 repository's",
        ),
        (
            "constants",
            lambda ds: ds.assign_coords(crs=ds["crs"].assign_attrs(crs_wkt="not a crs")),
            r"'crs' must carry the grid's CRS as a WKT 'crs_wkt' attribute, found 'not a crs'",
        ),
        (
            "V10",
            lambda ds: ds.rename(V10="v10"),
            r"expected variable 'V10', found \['v10'\]",
        ),
    ],
)
def test_malformed_conus404_names_the_repository(
    inputs_copy: Path, name: str, change: object, expected: str
) -> None:
    prefix = conus404_store(name)
    _replace(inputs_copy, prefix, change(_open_input(inputs_copy, prefix).load()))
    with pytest.raises(ValueError, match=expected) as err:
        InputCatalog(inputs_copy).conus404()
    assert str(inputs_copy / prefix) in str(err.value)


def _convert(ds: xr.Dataset, name: str, units: str, scale: float, offset: float = 0.0) -> None:
    ds[name] = (ds[name] * np.float32(scale) + np.float32(offset)).assign_attrs(
        ds[name].attrs, units=units
    )


def test_conus404_converts_other_units_of_the_same_quantity(inputs_copy: Path) -> None:
    control = InputCatalog(inputs_copy).conus404().load()
    changes = {
        "TD2": ("degC", 1.0, -273.15),
        "T2": ("degF", 1.8, -459.67),
        "U10": ("km/h", 3.6),
        "V10": ("knots", 3600 / 1852),
        "PSFC": ("hPa", 0.01),
        "Q2": ("g kg-1", 1000.0),
    }
    for name, change in changes.items():
        prefix = conus404_store(name)
        ds = _open_input(inputs_copy, prefix).load()
        _convert(ds, name, *change)
        _replace(inputs_copy, prefix, ds)
    constants = _open_input(inputs_copy, conus404_store("constants")).load()
    constants["SINALPHA"].attrs["units"] = "dimensionless"
    del constants["COSALPHA"].attrs["units"]
    _replace(inputs_copy, conus404_store("constants"), constants)

    weather = InputCatalog(inputs_copy).conus404()
    assert weather["U10"].chunks is not None  # still lazy
    for name in changes:
        da = weather[name]
        assert da.dtype == np.float32 and da.attrs["units"] == CONUS404_UNITS[name], name
        np.testing.assert_allclose(da.values, control[name].values, rtol=2e-6, err_msg=name)
    for name in ("SINALPHA", "COSALPHA"):
        assert weather[name].attrs["units"] == "1"
        np.testing.assert_array_equal(weather[name].values, control[name].values)


def test_conus404_grid_mapping_in_the_constants_opens_without_a_warning(
    synthetic_root: Path,
) -> None:
    # Control: the hourly variables name a grid mapping held by another repository, which a
    # reader decoding every coordinate warns about (the fault is present in the inputs).
    t2_store = conus404_store("T2")
    assert _open_input(synthetic_root, t2_store)["T2"].attrs["grid_mapping"] == "crs"
    storage = icechunk.local_filesystem_storage(str(synthetic_root / t2_store))
    session = icechunk.Repository.open(storage).readonly_session("main")
    with pytest.warns(UserWarning, match=r"referenced in grid_mapping not in variables: \['crs'\]"):
        xr.open_dataset(session.store, engine="zarr", consolidated=False, decode_coords="all")

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        weather = InputCatalog(synthetic_root).conus404()
    for name in CONUS404_UNITS:
        assert weather[name].attrs["grid_mapping"] == "crs"  # resolves to the constants' crs
    assert "crs" in weather.coords and "crs_wkt" in weather["crs"].attrs


def test_missing_conus404_repository_is_named(inputs_copy: Path) -> None:
    shutil.rmtree(inputs_copy / conus404_store("constants"))
    with pytest.raises(FileNotFoundError, match="found nothing") as err:
        InputCatalog(inputs_copy).conus404()
    assert str(inputs_copy / conus404_store("constants")) in str(err.value)


def test_lazy_rasters(synthetic_catalog: InputCatalog, tiny_grid: RegionGrid) -> None:
    scott = synthetic_catalog.scott()
    assert scott["CRPS"].chunks is not None  # dask-backed, nothing loaded
    fine = synthetic_catalog.riley_30m(2047)
    assert fine.shape == (tiny_grid.height, tiny_grid.width) and fine.chunks is not None
    coarse = synthetic_catalog.riley_270m(2011)
    assert coarse.odc.crs.epsg == 5070 and coarse.chunks is not None
    weather = synthetic_catalog.conus404()
    assert weather["T2"].chunks is not None


# ---------------------------------------------------------------------- vectors
def test_buildings_bbox_filter(synthetic_catalog: InputCatalog, tiny_grid: RegionGrid) -> None:
    everything = synthetic_catalog.buildings()
    assert list(everything.columns) == ["geometry", "block_geoid", "state_abbrev", "county_name"]
    assert everything.crs.to_epsg() == 4326  # GeoParquet's default OGC:CRS84
    bounds = tiny_grid.bounds("y1_x1")
    some = synthetic_catalog.buildings(bbox=bounds)
    assert 0 < len(some) < len(everything)
    assert some.intersects(shapely.box(*bounds).buffer(2e-5)).all()
    inside = everything[everything.intersects(shapely.box(*bounds))]
    assert set(inside.geometry.to_wkb()) <= set(some.geometry.to_wkb())
    tracts = synthetic_catalog.buildings(columns=["tract_geoid"])
    assert list(tracts.columns) == ["geometry", "tract_geoid"]
    with pytest.raises(ValueError, match="bbox must be"):
        synthetic_catalog.buildings(bbox=(1.0, 2.0, 0.0, 3.0))


def test_buildings_without_a_column_name_file_and_column(
    inputs_copy: Path, tiny_grid: RegionGrid
) -> None:
    path = inputs_copy / BUILDINGS_FILE
    pq.write_table(pq.read_table(path).drop_columns(["county_name"]), path)
    with pytest.raises(ValueError, match="expected a column 'county_name'") as err:
        InputCatalog(inputs_copy).buildings(bbox=tiny_grid.bounds("y1_x1"))
    assert str(path) in str(err.value)
    pq.write_table(pq.read_table(path).drop_columns(["bbox"]), path)
    with pytest.raises(ValueError, match=r"a bbox query needs a column 'bbox'.*no such column"):
        InputCatalog(inputs_copy).buildings(bbox=tiny_grid.bounds("y1_x1"), columns=[])


def test_census_levels(synthetic_catalog: InputCatalog, tmp_path: Path) -> None:
    states = synthetic_catalog.census("states")
    assert list(states.columns) == ["GEOID", "STUSPS", "NAME", "geometry"]
    assert list(states["STUSPS"]) == ["CA", "NV"]
    assert states.crs.to_epsg() == 4269  # TIGER's NAD83, kept as published
    assert synthetic_catalog.census("blocks")["GEOID"].str.len().eq(15).all()
    with pytest.raises(ValueError, match=r"unknown census level 'block'.*'blocks'"):
        synthetic_catalog.census("block")
    nation = tmp_path / census_file("nation")
    nation.parent.mkdir(parents=True)
    gpd.GeoDataFrame({"ID": ["1"]}, geometry=[shapely.box(0, 0, 1, 1)], crs=4326).to_parquet(nation)
    with pytest.raises(ValueError, match=f"{nation}: expected a column 'GEOID'"):
        InputCatalog(tmp_path).census("nation")
    # A census file without its covering bbox column: named, with the column, not a bare
    # "Specifying bbox not supported for this Parquet file".
    gpd.GeoDataFrame({"GEOID": ["US"]}, geometry=[shapely.box(0, 0, 1, 1)], crs=4326).to_parquet(
        nation
    )
    assert len(InputCatalog(tmp_path).census("nation")) == 1
    with pytest.raises(ValueError, match=f"{nation}: a bbox query needs a column 'bbox'"):
        InputCatalog(tmp_path).census("nation", bbox=(0.0, 0.0, 1.0, 1.0))
    gpd.GeoDataFrame({"GEOID": ["US"]}, geometry=[shapely.box(0, 0, 1, 1)], crs=4326).to_parquet(
        nation, geometry_encoding="geoarrow"
    )
    with pytest.raises(ValueError, match=f"{nation}: column 'geometry' must be WKB-encoded"):
        InputCatalog(tmp_path).census("nation")
    nation.write_text("not parquet")
    with pytest.raises(ValueError, match=f"{nation}: expected a GeoParquet file"):
        InputCatalog(tmp_path).census("nation")


# ---------------------------------------------------------------------- valid region IDs
def test_valid_region_ids_cached_and_computed(synthetic_root: Path, tmp_path: Path) -> None:
    assert InputCatalog(synthetic_root).valid_region_ids() == TINY_VALID_REGION_IDS
    root = tmp_path / "inputs"
    shutil.copytree(synthetic_root, root)
    (root / VALID_REGION_IDS_FILE).unlink()
    assert InputCatalog(root).valid_region_ids() == TINY_VALID_REGION_IDS
    assert (
        json.loads((root / VALID_REGION_IDS_FILE).read_text())["region_ids"]
        == TINY_VALID_REGION_IDS
    )


def test_stale_valid_region_ids_are_refused(synthetic_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "inputs"
    shutil.copytree(synthetic_root, root)
    path = root / VALID_REGION_IDS_FILE
    doc = json.loads(path.read_text())
    doc["grid"]["region_rows"] = 60
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="delete the file"):
        InputCatalog(root).valid_region_ids()
    # A cache written by an older version (another grid description) is refused too.
    doc["grid"] = {"west": -121.0, "north": 40.0, "n_region_rows": 2}
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=r"not a valid grid description.*delete the file"):
        InputCatalog(root).valid_region_ids()


# ---------------------------------------------------------------------- region inputs
@pytest.mark.parametrize("region_id", TINY_VALID_REGION_IDS)
def test_region_inputs(
    synthetic_catalog: InputCatalog, tiny_grid: RegionGrid, region_id: str
) -> None:
    inputs = synthetic_catalog.region_inputs(region_id)
    rows, cols = tiny_grid.buffered_window(region_id)
    lat = tiny_grid.latitude()[rows]
    lon = tiny_grid.longitude()[cols]
    assert inputs.bounds == tiny_grid.bounds(region_id)
    assert inputs.buffered_bounds == tiny_grid.window_bounds(rows, cols)
    fine = [inputs.crps, inputs.rps, *inputs.riley_30m.values()]
    assert set(inputs.riley_30m) == set(inputs.riley_270m) == {2011, 2047}
    for da in fine:
        assert isinstance(da.data, np.ndarray)
        assert da.dims == ("latitude", "longitude")
        np.testing.assert_array_equal(da["latitude"].values, lat)
        np.testing.assert_array_equal(da["longitude"].values, lon)
        assert da.odc.crs.epsg == 4326
    scott = synthetic_catalog.scott()
    np.testing.assert_array_equal(
        inputs.crps.values,
        scott["CRPS"].sel(latitude=slice(lat[0], lat[-1]), longitude=slice(lon[0], lon[-1])),
    )
    # The 270 m window covers the buffered bounds with at least 2.5 coarse pixels to spare.
    xmin, ymin, xmax, ymax = Transformer.from_crs(4326, 5070, always_xy=True).transform_bounds(
        *inputs.buffered_bounds, densify_pts=21
    )
    for coarse in inputs.riley_270m.values():
        assert isinstance(coarse.data, np.ndarray) and coarse.odc.crs.epsg == 5070
        x, y = coarse["x"].values, coarse["y"].values
        spare = 2.5 * RILEY_RESOLUTION_M
        assert x[0] <= xmin - spare and x[-1] >= xmax + spare
        assert y[-1] <= ymin - spare and y[0] >= ymax + spare
    with pytest.raises(dataclasses.FrozenInstanceError):
        inputs.region_id = "y0_x0"  # type: ignore[misc]


def test_region_inputs_errors(synthetic_catalog: InputCatalog) -> None:
    with pytest.raises(ValueError, match="region 'y0_x0' has no valid"):
        synthetic_catalog.region_inputs("y0_x0")
    with pytest.raises(ValueError, match=r"'y9_x9'.*rows 0\.\.1, cols 0\.\.2"):
        synthetic_catalog.region_inputs("y9_x9")


# ---------------------------------------------------------------------- S3
@pytest.mark.integration
def test_s3_root(
    synthetic_root: Path,
    synthetic_catalog: InputCatalog,
    s3_bucket: str,
    tiny_grid: RegionGrid,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import s3fs

    fs, _ = objects.filesystem(f"s3://{s3_bucket}")
    fs.put(f"{synthetic_root}/", f"{s3_bucket}/inputs/", recursive=True)
    # Only the storage configuration names the endpoint: every read goes through it.
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    s3fs.S3FileSystem.clear_instance_cache()
    catalog = InputCatalog(f"s3://{s3_bucket}/inputs")
    assert catalog.grid == tiny_grid
    assert catalog.valid_region_ids() == TINY_VALID_REGION_IDS
    remote, local = catalog.region_inputs("y1_x1"), synthetic_catalog.region_inputs("y1_x1")
    assert remote.crps.identical(local.crps)
    assert remote.riley_270m[2047].identical(local.riley_270m[2047])
    bounds = tiny_grid.bounds("y1_x1")
    assert len(catalog.buildings(bbox=bounds)) == len(synthetic_catalog.buildings(bbox=bounds))
    assert catalog.census("counties").equals(synthetic_catalog.census("counties"))
    remote_weather = catalog.conus404()[["T2", "SINALPHA"]].load()
    assert remote_weather.identical(synthetic_catalog.conus404()[["T2", "SINALPHA"]].load())
    with pytest.raises(FileNotFoundError, match=f"s3://{s3_bucket}/missing/{SCOTT_STORE}"):
        InputCatalog(f"s3://{s3_bucket}/missing").scott()
