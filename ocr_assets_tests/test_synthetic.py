"""The synthetic mini-CONUS: determinism, shapes, CRSs, chunking, and the data's structure."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyarrow.parquet as pq
import pytest
import shapely
import xarray as xr
from odc.geo.xr import xr_reproject
from pyproj import Transformer
from scipy import ndimage

from ocr_assets.catalog import (
    BUILDINGS_FILE,
    CONUS404_STORE,
    SCOTT_STORE,
    VALID_REGION_IDS_FILE,
    InputCatalog,
    census_file,
    riley_store,
    same_geometry,
    valid_region_ids_of,
)
from ocr_assets.data import demo_valid_region_ids
from ocr_assets.regions import RegionGrid, demo_grid
from ocr_assets.synthetic import MANIFEST_FILE, SYNTHETIC_DEFAULTS, generate_inputs, input_names
from ocr_assets.synthetic.__main__ import main
from ocr_assets.synthetic.generate import _Synthesis
from ocr_assets.synthetic.landscape import make_landscape
from ocr_assets.synthetic.vectors import EMPTY_COUNTY, empty_county_bounds
from ocr_assets_tests.conftest import TINY_BUILDINGS, TINY_HOURS, TINY_VALID_REGION_IDS


def _open(root: Path, name: str) -> xr.Dataset:
    return xr.open_zarr(root / name, decode_coords="all")


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
        generate_inputs(synthetic_root, grid=tiny_grid, seed=1, n_buildings=TINY_BUILDINGS,
                        hours=TINY_HOURS)


def test_interrupted_run_is_completed(
    synthetic_root: Path, tiny_grid: RegionGrid, tmp_path: Path
) -> None:
    root = tmp_path / "inputs"
    shutil.copytree(synthetic_root, root)
    shutil.rmtree(root / SCOTT_STORE)
    (root / f".{SCOTT_STORE}.partial" / "junk").mkdir(parents=True)  # an interrupted write
    summary = generate_inputs(root, grid=tiny_grid, n_buildings=TINY_BUILDINGS, hours=TINY_HOURS)
    assert summary["written"] == [SCOTT_STORE]
    assert not (root / f".{SCOTT_STORE}.partial").exists()
    assert _open(root, SCOTT_STORE).load().identical(_open(synthetic_root, SCOTT_STORE).load())


def test_unknown_files_without_manifest_are_refused(tmp_path: Path, tiny_grid: RegionGrid) -> None:
    (tmp_path / BUILDINGS_FILE).write_text("not ours")
    with pytest.raises(ValueError, match=f"no {MANIFEST_FILE}"):
        generate_inputs(tmp_path, grid=tiny_grid)


@pytest.mark.parametrize(
    ("grid", "kwargs", "match"),
    [
        (demo_grid(n_region_rows=1), {}, "at least 2 x 2"),
        (RegionGrid(west=-121.0, south=40.0, pixel_size=1 / 1800, height=20, width=20,
                    region_rows=10, region_cols=10), {}, "like the real data"),
        (demo_grid(60, 45), {"hours": 10}, "hours"),
        (demo_grid(60, 45), {"n_buildings": 0}, "n_buildings"),
    ],
)
def test_bad_arguments(tmp_path: Path, grid: RegionGrid, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        generate_inputs(tmp_path, grid=grid, **kwargs)


def test_cli_and_force(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--root", str(tmp_path), "--region-rows", "80", "--region-cols", "60",
            "--n-buildings", "300", "--hours", "48"]
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
        if name.endswith(".zarr"):
            assert _open(tmp_path, name).load().identical(_open(synthetic_root, name).load()), name
        elif name.endswith(".parquet"):
            assert gpd.read_parquet(tmp_path / name).equals(gpd.read_parquet(synthetic_root / name))
        else:
            assert (tmp_path / name).read_text() == (synthetic_root / name).read_text()


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
        np.testing.assert_allclose(np.diff(da["x"].values), 270.0)
        np.testing.assert_allclose(np.diff(da["y"].values), -270.0)
    # Covers the grid's bounds plus 0.4 degree.
    west, south, east, north = tiny_grid.total_bounds
    xmin, ymin, xmax, ymax = Transformer.from_crs(4326, 5070, always_xy=True).transform_bounds(
        west - 0.4, south - 0.4, east + 0.4, north + 0.4, densify_pts=51
    )
    x, y = stores[2011]["x"].values, stores[2011]["y"].values
    assert x[0] - 135 <= xmin and x[-1] + 135 >= xmax
    assert y[-1] - 135 <= ymin and y[0] + 135 >= ymax

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
def test_conus404_cube(synthetic_root: Path, tiny_grid: RegionGrid) -> None:
    ds = _open(synthetic_root, CONUS404_STORE)
    assert ds.odc.crs.epsg == 5070
    assert ds.sizes["time"] == TINY_HOURS
    np.testing.assert_allclose(np.diff(ds["x"].values), 4000.0)
    np.testing.assert_allclose(np.diff(ds["y"].values), -4000.0)
    units = {"T2": "K", "RH": "%", "WSPD": "m s-1", "WDIR": "degree"}
    for name, unit in units.items():
        assert ds[name].dims == ("time", "y", "x") and ds[name].dtype == np.float32
        assert ds[name].attrs["units"] == unit
    rh, wdir, wspd = (ds[v].values for v in ("RH", "WDIR", "WSPD"))
    assert rh.min() >= 0 and rh.max() <= 100 and wspd.min() >= 0
    assert wdir.min() >= 0 and wdir.max() < 360
    # The strongest winds blow from the NE at the grid's west edge and the SW at its east edge.
    to_albers = Transformer.from_crs(4326, 5070, always_xy=True)
    west, south, east, north = tiny_grid.total_bounds
    middle = (south + north) / 2
    directions = []
    for lon in (west, east):
        x, y = to_albers.transform(lon, middle)
        column = ds.sel(x=x, y=y, method="nearest")
        windy = column["WSPD"].values >= np.quantile(column["WSPD"].values, 0.98)
        directions.append(np.median(column["WDIR"].values[windy]))
    assert 20 <= directions[0] <= 70 and 200 <= directions[1] <= 250


# ---------------------------------------------------------------------- census and buildings
def test_census_nesting_and_tiling(synthetic_root: Path, tiny_grid: RegionGrid) -> None:
    levels = {lvl: gpd.read_parquet(synthetic_root / census_file(lvl))
              for lvl in ("nation", "states", "counties", "tracts", "blocks")}
    assert list(levels["nation"]["GEOID"]) == ["1"]
    assert list(levels["nation"]["NAME"]) == ["United States"]
    assert set(levels["states"]["STUSPS"]) == {"CA", "NV"}
    west, south, east, north = tiny_grid.total_bounds
    domain = shapely.box(west, south, east, north)
    lengths = {"states": 2, "counties": 5, "tracts": 11, "blocks": 15}
    parents = {"counties": "states", "tracts": "counties", "blocks": "tracts"}
    for level, gdf in levels.items():
        assert {"GEOID", "NAME", "geometry"} <= set(gdf.columns)
        assert gdf.crs.to_epsg() == 4326 and gdf["GEOID"].is_unique
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


def test_buildings(synthetic_root: Path, tiny_grid: RegionGrid) -> None:
    buildings = gpd.read_parquet(synthetic_root / BUILDINGS_FILE)
    geo = json.loads(pq.read_schema(synthetic_root / BUILDINGS_FILE).metadata[b"geo"])
    assert geo["version"] == "1.1.0" and "covering" in geo["columns"]["geometry"]
    assert list(buildings.columns) == ["id", "geometry", "GEOID", "state", "county"]
    assert len(buildings) == TINY_BUILDINGS and buildings["id"].is_unique
    assert buildings.crs.to_epsg() == 4326
    assert (buildings.geom_type == "Polygon").all()
    area = buildings.to_crs(5070).area
    assert area.min() >= 8 * 8 * 0.95 and area.max() <= 25 * 25 * 1.05

    centroids = gpd.GeoDataFrame(geometry=shapely.centroid(buildings.geometry.values),
                                 crs=buildings.crs)
    blocks = gpd.read_parquet(synthetic_root / census_file("blocks"))
    joined = centroids.sjoin(blocks[["GEOID", "geometry"]], predicate="within")
    inside = buildings.loc[joined.index, "GEOID"]
    assert len(joined) >= 0.99 * len(buildings)  # the rest lie exactly on a block edge
    assert (inside.to_numpy() == joined["GEOID"].to_numpy()).all()
    assert set(buildings["state"]) == {"CA", "NV"}
    counties = gpd.read_parquet(synthetic_root / census_file("counties")).set_index("GEOID")
    assert (buildings["county"] == counties.loc[buildings["GEOID"].str[:5], "NAME"].values).all()
    assert EMPTY_COUNTY not in set(buildings["GEOID"].str[:5])

    # Never over NaN CRPS; mostly in the towns' zero burn-probability patches.
    lon, lat = xr.DataArray(centroids.geometry.x), xr.DataArray(centroids.geometry.y)
    crps = _open(synthetic_root, SCOTT_STORE)["CRPS"]
    assert crps.sel(longitude=lon, latitude=lat, method="nearest").notnull().all()
    riley = _open(synthetic_root, riley_store(2011, "30m-4326"))["BP"]
    assert float((riley.sel(longitude=lon, latitude=lat, method="nearest") == 0).mean()) > 0.3
