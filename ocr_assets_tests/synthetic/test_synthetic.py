"""The synthetic mini-CONUS: determinism, shapes, CRSs, chunking, and the data's structure."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import geopandas as gpd
import icechunk
import numpy as np
import pyarrow.parquet as pq
import pytest
import shapely
import xarray as xr
from odc.geo.xr import xr_reproject
from pyproj import CRS, Transformer
from scipy import ndimage

from ocr_assets.catalog import (
    BUILDINGS_COLUMNS,
    BUILDINGS_FILE,
    SCOTT_STORE,
    InputCatalog,
    census_file,
    conus404_store,
    riley_store,
)
from ocr_assets.catalog.grid import same_geometry, valid_region_ids_of
from ocr_assets.catalog.layout import CONUS404_CONSTANTS, CONUS404_UNITS, VALID_REGION_IDS_FILE
from ocr_assets.data import demo_valid_region_ids
from ocr_assets.regions import RegionGrid, demo_grid
from ocr_assets.synthetic import MANIFEST_FILE, SYNTHETIC_DEFAULTS, generate_inputs, input_names
from ocr_assets.synthetic.__main__ import main
from ocr_assets.synthetic.generate import GENERATOR_FORMAT, _Synthesis
from ocr_assets.synthetic.landscape import make_landscape
from ocr_assets.synthetic.vectors import EMPTY_COUNTY, empty_county_bounds
from ocr_assets.synthetic.weather import saturation_vapour_pressure
from ocr_assets_tests.conftest import TINY_BUILDINGS, TINY_HOURS, TINY_VALID_REGION_IDS


def _open(root: Path, name: str) -> xr.Dataset:
    """An input repository as the published readers open it: Icechunk, branch main (an hourly
    CONUS404 repository without decoding ``grid_mapping``: its ``crs`` is in the constants)."""
    storage = icechunk.local_filesystem_storage(str(root / name))
    session = icechunk.Repository.open(storage).readonly_session("main")
    hourly = name in {conus404_store(variable) for variable in CONUS404_UNITS}
    return xr.open_dataset(
        session.store,
        engine="zarr",
        consolidated=False,
        chunks={},
        decode_coords="coordinates" if hourly else "all",
    )


def _region(da: xr.DataArray, grid: RegionGrid, region_id: str) -> xr.DataArray:
    rows, cols = grid.window(region_id)
    return da.isel(latitude=rows, longitude=cols)


# ---------------------------------------------------------------------- files and idempotence
def test_all_inputs_written_without_leftovers(synthetic_root: Path) -> None:
    for name in input_names():
        assert (synthetic_root / name).exists(), name
    leftovers = [p.name for p in synthetic_root.rglob(".*.partial")]
    assert leftovers == []
    manifest = json.loads((synthetic_root / MANIFEST_FILE).read_text())
    assert manifest["n_buildings"] == TINY_BUILDINGS and manifest["hours"] == TINY_HOURS
    assert SYNTHETIC_DEFAULTS["seed"] == manifest["seed"] == 20251126


def test_rerun_keeps_everything(synthetic_root: Path, tiny_grid: RegionGrid) -> None:
    summary = generate_inputs(
        synthetic_root, grid=tiny_grid, n_buildings=TINY_BUILDINGS, hours=TINY_HOURS
    )
    assert summary["written"] == []
    assert summary["kept"] == input_names()
    assert summary["valid_region_ids"] == TINY_VALID_REGION_IDS


def test_other_parameters_on_same_root_are_refused(
    synthetic_root: Path, tiny_grid: RegionGrid
) -> None:
    with pytest.raises(ValueError, match=r"other parameters.*force"):
        generate_inputs(
            synthetic_root, grid=tiny_grid, seed=1, n_buildings=TINY_BUILDINGS, hours=TINY_HOURS
        )


def test_inputs_of_an_older_generator_format_are_written_again(
    synthetic_root: Path, tiny_grid: RegionGrid, tmp_path: Path
) -> None:
    root = tmp_path / "inputs"
    shutil.copytree(synthetic_root, root)
    manifest = json.loads((root / MANIFEST_FILE).read_text())
    assert manifest["format"] == GENERATOR_FORMAT
    del manifest["format"]  # as written before the format was recorded
    (root / MANIFEST_FILE).write_text(json.dumps(manifest))
    summary = generate_inputs(root, grid=tiny_grid, n_buildings=TINY_BUILDINGS, hours=TINY_HOURS)
    assert summary["written"] == input_names() and summary["kept"] == []
    assert json.loads((root / MANIFEST_FILE).read_text())["format"] == GENERATOR_FORMAT


def test_interrupted_run_is_completed(
    synthetic_root: Path, tiny_grid: RegionGrid, tmp_path: Path
) -> None:
    root = tmp_path / "inputs"
    shutil.copytree(synthetic_root, root)
    shutil.rmtree(root / SCOTT_STORE)
    partial = (root / SCOTT_STORE).with_name(f".{Path(SCOTT_STORE).name}.partial")
    (partial / "junk").mkdir(parents=True)  # an interrupted write
    summary = generate_inputs(root, grid=tiny_grid, n_buildings=TINY_BUILDINGS, hours=TINY_HOURS)
    assert summary["written"] == [SCOTT_STORE]
    assert not partial.exists()
    assert _open(root, SCOTT_STORE).load().identical(_open(synthetic_root, SCOTT_STORE).load())


def test_unknown_files_without_manifest_are_refused(tmp_path: Path, tiny_grid: RegionGrid) -> None:
    (tmp_path / BUILDINGS_FILE).parent.mkdir(parents=True)
    (tmp_path / BUILDINGS_FILE).write_text("not ours")
    with pytest.raises(ValueError, match=f"no {MANIFEST_FILE}"):
        generate_inputs(tmp_path, grid=tiny_grid)


@pytest.mark.parametrize(
    ("grid", "kwargs", "match"),
    [
        (demo_grid(n_region_rows=1), {}, "at least 2 x 2"),
        (
            RegionGrid(
                west=-121.0,
                south=40.0,
                pixel_size=1 / 1800,
                height=20,
                width=20,
                region_rows=10,
                region_cols=10,
            ),
            {},
            "like the real data",
        ),
        (demo_grid(60, 45), {"hours": 10}, "hours"),
        (demo_grid(60, 45), {"n_buildings": 0}, "n_buildings"),
    ],
)
def test_bad_arguments(tmp_path: Path, grid: RegionGrid, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        generate_inputs(tmp_path, grid=grid, **kwargs)


def test_cli_and_force(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = [
        "--root",
        str(tmp_path),
        "--region-rows",
        "80",
        "--region-cols",
        "60",
        "--n-buildings",
        "300",
        "--hours",
        "48",
    ]
    assert main(args) == 0
    assert "valid regions of 12" in capsys.readouterr().out
    doc = json.loads((tmp_path / VALID_REGION_IDS_FILE).read_text())
    # The demo grid's last region row and column are partial chunks, like the real grid's.
    grid = demo_grid(region_rows=80, region_cols=60)
    assert RegionGrid(**doc["grid"]) == grid and (grid.height, grid.width) == (200, 210)
    crps = _open(tmp_path, SCOTT_STORE)["CRPS"]
    assert crps.shape == (200, 210) and crps.encoding["chunks"] == (80, 60)
    catalog = InputCatalog(tmp_path)
    assert same_geometry(catalog.grid, grid)
    assert doc["region_ids"] == valid_region_ids_of(crps, grid) == catalog.valid_region_ids()
    with pytest.raises(ValueError, match="other parameters"):
        main([*args, "--seed", "7"])
    first = _open(tmp_path, SCOTT_STORE)["CRPS"].values
    assert main([*args, "--seed", "7", "--force"]) == 0
    assert not np.array_equal(first, _open(tmp_path, SCOTT_STORE)["CRPS"].values, equal_nan=True)


# ---------------------------------------------------------------------- determinism
def test_same_seed_gives_identical_inputs(
    synthetic_root: Path, tiny_grid: RegionGrid, tmp_path: Path
) -> None:
    generate_inputs(tmp_path, grid=tiny_grid, n_buildings=TINY_BUILDINGS, hours=TINY_HOURS)
    for name in input_names():
        if name.endswith(".parquet"):
            assert pq.read_table(tmp_path / name).equals(pq.read_table(synthetic_root / name))
        elif name.endswith(".json"):
            assert (tmp_path / name).read_text() == (synthetic_root / name).read_text()
        else:
            assert _open(tmp_path, name).load().identical(_open(synthetic_root, name).load()), name


# ---------------------------------------------------------------------- Scott and valid regions
def test_scott_store(synthetic_root: Path, tiny_grid: RegionGrid) -> None:
    ds = _open(synthetic_root, SCOTT_STORE)
    assert ds.attrs["crs"] == "EPSG:4326"
    for key, value in tiny_grid.to_dict().items():
        assert ds.attrs[key] == value
    np.testing.assert_array_equal(ds["latitude"].values, tiny_grid.latitude())
    np.testing.assert_array_equal(ds["longitude"].values, tiny_grid.longitude())
    for name in ("CRPS", "RPS", "BP"):
        da = ds[name]
        assert da.dims == ("latitude", "longitude") and da.dtype == np.float32
        assert da.encoding["chunks"] == (120, 90)
        assert da.attrs["units"] and da.attrs["description"]
    crps, bp, rps = (ds[v].values for v in ("CRPS", "BP", "RPS"))
    assert np.nanmin(crps) >= 0 and np.nanmax(crps) <= 100
    assert np.nanmin(bp) >= 0 and np.nanmax(bp) <= 1
    np.testing.assert_allclose(rps, bp * crps, rtol=1e-6)
    assert np.array_equal(np.isnan(rps), np.isnan(bp) | np.isnan(crps))


def test_ocean_regions_and_lakes(synthetic_root: Path, tiny_grid: RegionGrid) -> None:
    crps = _open(synthetic_root, SCOTT_STORE)["CRPS"]
    assert bool(_region(crps, tiny_grid, "y0_x0").isnull().all())
    for region_id in TINY_VALID_REGION_IDS:
        assert bool(_region(crps, tiny_grid, region_id).notnull().any())
    doc = json.loads((synthetic_root / VALID_REGION_IDS_FILE).read_text())
    assert doc["region_ids"] == TINY_VALID_REGION_IDS
    assert RegionGrid(**doc["grid"]) == tiny_grid
    # Inland water: NaN patches that do not touch the ocean on the west edge.
    labels, n = ndimage.label(np.isnan(crps.values))
    assert n >= 2
    assert set(range(1, n + 1)) - set(np.unique(labels[:, 0]))


def test_demo_landscape_has_two_ocean_regions() -> None:
    grid = demo_grid()
    landscape = make_landscape(grid, np.random.default_rng(0), empty_county_bounds(grid))
    lat, lon = grid.latitude()[::7], grid.longitude()[::7]
    water = landscape.water(lon[None, :], lat[:, None])
    all_water = []
    for region_id in grid.all_region_ids():
        west, south, east, north = grid.bounds(region_id)
        window = water[np.ix_((lat > south) & (lat < north), (lon > west) & (lon < east))]
        if window.all():
            all_water.append(region_id)
    assert all_water == ["y0_x0", "y1_x0"]


def test_shipped_demo_valid_ids_are_the_generators() -> None:
    """The package's demo list (used before any input exists) matches the generator."""
    shipped_grid, shipped_ids = demo_valid_region_ids()
    grid = demo_grid()
    assert shipped_grid == grid.to_dict()
    synthesis = _Synthesis(grid, SYNTHETIC_DEFAULTS["seed"], 1, 24)
    assert shipped_ids == synthesis.valid_region_ids
    assert "y0_x0" not in shipped_ids and "y2_x0" in shipped_ids


# ---------------------------------------------------------------------- Riley
def test_riley_270m_grid_and_values(synthetic_root: Path, tiny_grid: RegionGrid) -> None:
    stores = {y: _open(synthetic_root, riley_store(y, "270m-5070")) for y in (2011, 2047)}
    for ds in stores.values():
        da = ds["BP"]
        assert da.dims == ("y", "x") and da.dtype == np.float32
        assert ds.odc.crs.epsg == 5070 and "crs_wkt" in ds["spatial_ref"].attrs
        assert da.encoding["chunks"] == tuple(
            min(n, c) for n, c in zip(da.shape, (6000, 4500), strict=True)
        )
        # Sorted ascending in both axes, as published.
        np.testing.assert_allclose(np.diff(da["x"].values), 270.0)
        np.testing.assert_allclose(np.diff(da["y"].values), 270.0)
    # Covers the grid's bounds plus 0.4 degree.
    west, south, east, north = tiny_grid.total_bounds
    xmin, ymin, xmax, ymax = Transformer.from_crs(4326, 5070, always_xy=True).transform_bounds(
        west - 0.4, south - 0.4, east + 0.4, north + 0.4, densify_pts=51
    )
    x, y = stores[2011]["x"].values, stores[2011]["y"].values
    assert x[0] - 135 <= xmin and x[-1] + 135 >= xmax
    assert y[0] - 135 <= ymin and y[-1] + 135 >= ymax

    bp11, bp47 = stores[2011]["BP"].values, stores[2047]["BP"].values
    positive = bp11[bp11 > 0]
    assert positive.min() >= 1e-4 * 0.99 and positive.max() <= 0.05
    assert np.isnan(bp11).any() and (bp11 == 0).any()
    assert np.array_equal(np.isnan(bp11), np.isnan(bp47))
    assert np.array_equal(bp11 == 0, bp47 == 0)
    valid = bp11 > 0
    ratio = bp47[valid] / bp11[valid]
    assert (bp47[valid] >= bp11[valid]).all()
    assert ratio.min() >= 1.2 - 1e-5 and ratio.max() <= 1.8 + 1e-5
    # Isolated zeros: a zero pixel whose 8 neighbours are all valid (> 0).
    ok = (np.nan_to_num(bp11) > 0).astype(np.uint8)
    valid_neighbours = ndimage.convolve(ok, np.ones((3, 3), dtype=np.uint8), mode="constant")
    isolated = (bp11 == 0) & (valid_neighbours == 8)
    assert isolated.sum() >= 6


def test_riley_30m_is_the_warped_270m(synthetic_root: Path, tiny_grid: RegionGrid) -> None:
    scott = _open(synthetic_root, SCOTT_STORE)
    for year in (2011, 2047):
        fine = _open(synthetic_root, riley_store(year, "30m-4326"))["BP"]
        assert fine.encoding["chunks"] == (120, 90) and fine.dtype == np.float32
        np.testing.assert_array_equal(fine["latitude"].values, tiny_grid.latitude())
        coarse = _open(synthetic_root, riley_store(year, "270m-5070"))["BP"]
        warped = xr_reproject(coarse, how=fine.odc.geobox, resampling="nearest")
        np.testing.assert_array_equal(warped.values, fine.values)
    # Scott BP has data only where Riley 2011 has.
    riley = _open(synthetic_root, riley_store(2011, "30m-4326"))["BP"].values
    assert not (np.isnan(riley) & scott["BP"].notnull().values).any()


# ---------------------------------------------------------------------- CONUS404
def test_conus404_repositories(synthetic_root: Path, tiny_grid: RegionGrid) -> None:
    hourly = {name: _open(synthetic_root, conus404_store(name)) for name in CONUS404_UNITS}
    t2 = hourly["T2"]
    assert t2.sizes["time"] == TINY_HOURS
    np.testing.assert_allclose(np.diff(t2["x"].values), 4000.0)
    np.testing.assert_allclose(np.diff(t2["y"].values), 4000.0)  # WRF rows: south to north
    for name, ds in hourly.items():
        da = ds[name]
        assert list(ds.data_vars) == [name]
        assert da.dims == ("time", "y", "x") and da.dtype == np.float32
        assert da.attrs["units"] == CONUS404_UNITS[name]
        assert da.encoding["chunks"] == (TINY_HOURS, 10, 10)  # time whole, 10 x 10 pixels
        assert ds["lat"].dims == ds["lon"].dims == ("y", "x") and ds["lat"].dtype == np.float32
        np.testing.assert_array_equal(ds["x"].values, t2["x"].values)
    constants = _open(synthetic_root, conus404_store(CONUS404_CONSTANTS))
    crs = CRS.from_wkt(constants["crs"].attrs["crs_wkt"])
    assert crs.coordinate_operation.method_name == "Lambert Conic Conformal (2SP)"
    assert crs.ellipsoid.semi_major_metre == crs.ellipsoid.semi_minor_metre == 6_370_000
    for name in ("SINALPHA", "COSALPHA"):
        assert constants[name].dims == ("y", "x") and constants[name].dtype == np.float32
    np.testing.assert_array_equal(constants["y"].values, t2["y"].values)

    # The raw variables invert to plausible weather: humidity in (0, 100] from T2 and TD2
    # (Sonntag 1990), a pressure and mixing ratio consistent with the dew point.
    t, td = t2["T2"].values.astype(np.float64), hourly["TD2"]["TD2"].values.astype(np.float64)
    rh = 100 * saturation_vapour_pressure(td) / saturation_vapour_pressure(t)
    assert rh.min() >= 1.9 and rh.max() <= 100.0 + 1e-9
    psfc = hourly["PSFC"]["PSFC"].values.astype(np.float64)
    assert psfc.min() > 85_000 and psfc.max() < 100_000
    vapour = saturation_vapour_pressure(td)
    np.testing.assert_allclose(
        hourly["Q2"]["Q2"].values, 0.622 * vapour / (psfc - vapour), rtol=1e-3
    )
    # Rotated to earth-relative the published way, the strongest winds blow from the NE west
    # of the grid and from the SW east of it (0.2 degree out: whole 4 km pixels away from it).
    sin, cos = constants["SINALPHA"].values, constants["COSALPHA"].values
    np.testing.assert_allclose(sin**2 + cos**2, 1.0, rtol=1e-6)
    assert 0.1 < np.abs(sin).max() < 0.5  # a real rotation, as away from the central meridian
    u10, v10 = hourly["U10"]["U10"].values, hourly["V10"]["V10"].values
    earth_u, earth_v = u10 * cos - v10 * sin, v10 * cos + u10 * sin
    speed = np.hypot(earth_u, earth_v)
    direction = (270.0 - np.degrees(np.arctan2(earth_v, earth_u))) % 360.0
    to_lcc = Transformer.from_crs(4326, crs, always_xy=True)
    west, south, east, north = tiny_grid.total_bounds
    directions = []
    for lon in (west - 0.2, east + 0.2):
        x, y = to_lcc.transform(lon, (south + north) / 2)
        j = int(np.abs(t2["x"].values - x).argmin())
        i = int(np.abs(t2["y"].values - y).argmin())
        column_speed, column_dir = speed[:, i, j], direction[:, i, j]
        windy = column_speed >= np.quantile(column_speed, 0.98)
        directions.append(np.median(column_dir[windy]))
    assert 20 <= directions[0] <= 70 and 200 <= directions[1] <= 250


def test_every_raster_input_has_the_real_stores_attributes(synthetic_root: Path) -> None:
    constants = _open(synthetic_root, conus404_store(CONUS404_CONSTANTS))
    stores = [SCOTT_STORE]
    stores += [riley_store(year, res) for year in (2011, 2047) for res in ("270m-5070", "30m-4326")]
    stores += [conus404_store(name) for name in (*CONUS404_UNITS, CONUS404_CONSTANTS)]
    for store in stores:
        ds = _open(synthetic_root, store)
        for name, da in ds.data_vars.items():
            where = f"{store}: {name}"
            assert da.dtype == np.float32, where
            assert {"units", "long_name", "description"} <= set(da.attrs), where
            assert np.isnan(da.encoding["_FillValue"]), where  # nodata is NaN
            # The grid mapping: decoded to a coordinate of the store, or (hourly CONUS404)
            # the attribute naming the constants' ``crs``.
            mapping = da.encoding.get("grid_mapping") or da.attrs["grid_mapping"]
            holder = constants if mapping not in ds.variables else ds
            assert mapping in holder.coords, where
            assert CRS.from_wkt(holder[mapping].attrs["crs_wkt"]).name, where
            assert holder[mapping].attrs["grid_mapping_name"], where
            for coord in da.dims:
                if coord != "time":
                    assert {"units", "standard_name", "axis"} <= set(ds[coord].attrs), where
    for name in ("SINALPHA", "COSALPHA"):
        assert constants[name].attrs["units"] == "1"  # as WRF writes them
    hourly = _open(synthetic_root, conus404_store("T2"))
    assert "crs" not in hourly.variables and hourly["T2"].attrs["grid_mapping"] == "crs"
    assert hourly["lat"].attrs["units"] == "degrees_north"
    scott = _open(synthetic_root, SCOTT_STORE)
    assert scott.odc.crs.epsg == 4326 and "spatial_ref" in scott.coords
    assert (scott.attrs["EPSG"], scott.attrs["resolution"]) == ("4326", "30m")
    riley = _open(synthetic_root, riley_store(2047, "30m-4326"))
    assert riley.attrs["climate_run_year"] == "2047" and riley.odc.crs.epsg == 4326


# ---------------------------------------------------------------------- census and buildings
def test_census_nesting_and_tiling(synthetic_root: Path, tiny_grid: RegionGrid) -> None:
    levels = {
        lvl: gpd.read_parquet(synthetic_root / census_file(lvl))
        for lvl in ("nation", "states", "counties", "tracts", "blocks")
    }
    assert list(levels["nation"]["GEOID"]) == ["US"]
    assert list(levels["nation"]["NAME"]) == ["United States"]
    assert set(levels["states"]["STUSPS"]) == {"CA", "NV"}
    # The published columns (TIGER's names), as GeoPandas writes them.
    fips = ["STATEFP", "COUNTYFP", "TRACTCE", "BLOCKCE"]
    columns = {
        "nation": ["GEOID", "NAME"],
        "states": ["GEOID", "STUSPS", "NAME"],
        "counties": [*fips[:2], "GEOID", "NAME"],
        "tracts": [*fips[:3], "GEOID", "NAME"],
        "blocks": [*fips, "GEOID", "NAME"],
    }
    for level, names in columns.items():
        schema = pq.read_schema(synthetic_root / census_file(level))
        assert schema.names == [*names, "geometry", "bbox"]
    blocks = levels["blocks"]
    assert (blocks["STATEFP"] + blocks["COUNTYFP"] + blocks["TRACTCE"] + blocks["BLOCKCE"]).equals(
        blocks["GEOID"]
    )
    west, south, east, north = tiny_grid.total_bounds
    domain = shapely.box(west, south, east, north)
    lengths = {"states": 2, "counties": 5, "tracts": 11, "blocks": 15}
    parents = {"counties": "states", "tracts": "counties", "blocks": "tracts"}
    for level, gdf in levels.items():
        assert {"GEOID", "NAME", "geometry"} <= set(gdf.columns)
        assert gdf.crs.to_epsg() == 4269 and gdf["GEOID"].is_unique  # NAD83, as TIGER
        # Planar areas in degrees: the tiles sum to the domain, so there is no overlap.
        assert shapely.area(gdf.geometry.values).sum() == pytest.approx(domain.area, rel=1e-12)
        assert shapely.union_all(gdf.geometry.values).equals(domain)
        if level in lengths:
            assert (gdf["GEOID"].str.len() == lengths[level]).all()
            assert gdf["GEOID"].str.isdigit().all()
        if level in parents:
            parent = levels[parents[level]].set_index("GEOID")
            prefix = gdf["GEOID"].str[: lengths[parents[level]]]
            assert prefix.isin(parent.index).all()
            assert all(
                parent.geometry[p].covers(g) for p, g in zip(prefix, gdf.geometry, strict=True)
            )
    counties = levels["counties"]
    assert 2 <= (counties["GEOID"].str[:2] == "06").sum() <= 4
    assert 2 <= (counties["GEOID"].str[:2] == "32").sum() <= 4
    metadata = json.loads(pq.read_schema(synthetic_root / census_file("blocks")).metadata[b"geo"])
    assert metadata["version"] == "1.1.0"
    column = metadata["columns"]["geometry"]
    assert column["encoding"] == "WKB" and column["covering"]["bbox"]["xmin"] == ["bbox", "xmin"]
    assert (
        pq.ParquetFile(synthetic_root / census_file("blocks"))
        .metadata.row_group(0)
        .column(0)
        .compression
        == "ZSTD"
    )


def test_buildings(synthetic_root: Path, tiny_grid: RegionGrid) -> None:
    path = synthetic_root / BUILDINGS_FILE
    table = pq.read_table(path)
    # The published region-tagged file: its columns in order, Overture's bbox struct (float32,
    # xmin, xmax, ymin, ymax), WKB geometry, GeoParquet metadata as DuckDB writes it.
    assert table.column_names == list(BUILDINGS_COLUMNS)
    assert str(table.schema.field("bbox").type) == (
        "struct<xmin: float, xmax: float, ymin: float, ymax: float>"
    )
    assert all(table.schema.field(c).type == "string" for c in BUILDINGS_COLUMNS[2:])
    geo = json.loads(table.schema.metadata[b"geo"])
    assert geo["version"] == "1.0.0" and "crs" not in geo["columns"]["geometry"]
    assert pq.ParquetFile(path).metadata.row_group(0).column(0).compression == "ZSTD"
    frame = table.drop_columns(["geometry", "bbox"]).to_pandas()
    buildings = gpd.GeoDataFrame(
        frame,
        geometry=shapely.from_wkb(table["geometry"].to_numpy(zero_copy_only=False)),
        crs="OGC:CRS84",
    )
    assert len(buildings) == TINY_BUILDINGS
    assert (buildings.geom_type == "Polygon").all()
    area = buildings.to_crs(5070).area
    assert area.min() >= 8 * 8 * 0.95 and area.max() <= 25 * 25 * 1.05
    # The float32 bbox covers each footprint.
    bounds = shapely.bounds(buildings.geometry.values)
    box = {
        f: table["bbox"].combine_chunks().field(f).to_numpy()
        for f in ("xmin", "xmax", "ymin", "ymax")
    }
    assert (box["xmin"] <= bounds[:, 0]).all() and (box["ymin"] <= bounds[:, 1]).all()
    assert (box["xmax"] >= bounds[:, 2]).all() and (box["ymax"] >= bounds[:, 3]).all()
    # The derived tags, with the published query's FIPS substrings (one character early).
    geoid = buildings["block_geoid"]
    assert (buildings["block_group_geoid"] == geoid.str[:12]).all()
    assert (buildings["tract_geoid"] == geoid.str[:11]).all()
    assert (buildings["county_geoid"] == geoid.str[:5]).all()
    assert (buildings["state_fips"] == geoid.str[:2]).all()
    assert (buildings["county_fips"] == geoid.str[2:5]).all()
    assert (buildings["tract_fips"] == geoid.str[4:10]).all()
    assert (buildings["block_group_fips"] == geoid.str[10]).all()
    assert (buildings["block_fips"] == geoid.str[11:]).all()

    centroids = gpd.GeoDataFrame(
        geometry=shapely.centroid(buildings.geometry.values), crs="EPSG:4269"
    )
    blocks = gpd.read_parquet(synthetic_root / census_file("blocks"))
    joined = centroids.sjoin(blocks[["GEOID", "geometry"]], predicate="within")
    inside = buildings.loc[joined.index, "block_geoid"]
    assert len(joined) >= 0.99 * len(buildings)  # the rest lie exactly on a block edge
    assert (inside.to_numpy() == joined["GEOID"].to_numpy()).all()
    assert set(buildings["state_abbrev"]) == {"CA", "NV"}
    counties = gpd.read_parquet(synthetic_root / census_file("counties")).set_index("GEOID")
    names = counties.loc[buildings["county_geoid"], "NAME"].to_numpy()
    assert (buildings["county_name"].to_numpy() == names + " County").all()
    assert EMPTY_COUNTY not in set(buildings["county_geoid"])

    # Never over NaN CRPS; mostly in the towns' zero burn-probability patches.
    lon, lat = xr.DataArray(centroids.geometry.x), xr.DataArray(centroids.geometry.y)
    crps = _open(synthetic_root, SCOTT_STORE)["CRPS"]
    assert crps.sel(longitude=lon, latitude=lat, method="nearest").notnull().all()
    riley = _open(synthetic_root, riley_store(2011, "30m-4326"))["BP"]
    assert float((riley.sel(longitude=lon, latitude=lat, method="nearest") == 0).mean()) > 0.3
