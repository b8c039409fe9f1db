"""The region assets and their blocking checks, materialized with real and in-memory IO managers."""

import base64
import io
import json
import re
import shutil
from pathlib import Path

import dagster as dg
import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import shapely
import xarray as xr
from PIL import Image

from ocr_assets import science
from ocr_assets.catalog import BUILDINGS_FILE
from ocr_assets.deploy.job import step_failures
from ocr_assets.orchestration.assets.region_checks import region_risk_raster_checks
from ocr_assets.orchestration.assets.regions import (
    REGION_VARIABLES,
    region_buildings,
    region_risk_rasters,
    sample_buildings,
)
from ocr_assets.orchestration.assets.statistics import (
    region_statistics_partials,
    statistics_partial,
)
from ocr_assets.orchestration.assets.tiles import region_features, region_tile_features
from ocr_assets.orchestration.assets.wind import wind_direction_distribution
from ocr_assets.orchestration.io_managers import (
    GEOPARQUET_IO_MANAGER,
    RASTER_STORE_IO_MANAGER,
    TABLES_IO_MANAGER,
    ZARR_IO_MANAGER,
)
from ocr_assets.orchestration.jobs import PHASE01_JOB
from ocr_assets.orchestration.readable import size_text
from ocr_assets.orchestration.resources import OutputStorage
from ocr_assets.regions import RegionGrid
from ocr_assets.storage import RasterStore, RasterStoreConflictError, store_window
from ocr_assets.storage.geoparquet import BUILT_FROM
from ocr_assets_tests.helpers import asset_job, materialize, pipeline_resources, region_instance

pytestmark = pytest.mark.integration

GRAPH = [
    wind_direction_distribution,
    region_risk_rasters,
    region_risk_raster_checks,
    region_buildings,
]
COLUMNS = [*REGION_VARIABLES, "GEOID", "state", "county", "geometry"]
IN_MEMORY = (ZARR_IO_MANAGER, RASTER_STORE_IO_MANAGER, GEOPARQUET_IO_MANAGER, TABLES_IO_MANAGER)


def run(
    assets: list, region_id: str, input_root: Path, storage_root: Path
) -> dg.ExecuteInProcessResult:
    """Materialize ``assets`` of the graph (the others' outputs are read from storage)."""
    return materialize(
        GRAPH,
        pipeline_resources(input_root, storage_root),
        partition_key=region_id,
        selection=assets,
    )


def failure_description(result: dg.ExecuteInProcessResult, node: str) -> str:
    return step_failures(result)[node]


@pytest.fixture(scope="module")
def region_run(
    tmp_path_factory: pytest.TempPathFactory, synthetic_root: Path
) -> tuple[Path, dg.ExecuteInProcessResult]:
    """Storage root and result of materializing the whole graph for y0_x1."""
    storage_root = tmp_path_factory.mktemp("outputs")
    result = run(GRAPH, "y0_x1", synthetic_root, storage_root)
    assert result.success
    return storage_root, result


def test_region_risk_rasters(
    region_run: tuple[Path, dg.ExecuteInProcessResult], tiny_grid: RegionGrid
) -> None:
    storage_root, result = region_run
    store = OutputStorage(root=str(storage_root)).raster_store()
    (materialization,) = result.asset_materializations_for_node("region_risk_rasters")
    metadata = materialization.metadata
    assert store.committed_regions() == {"y0_x1": metadata["snapshot_id"].value}

    region = store.read_region(tiny_grid, "y0_x1").load()
    assert set(region.data_vars) == set(science.VARIABLES)
    assert all(region[name].dtype == np.float32 for name in science.VARIABLES)
    assert all(region[name].attrs["description"] for name in science.VARIABLES)
    full = store.open()
    assert full.attrs["provider"] == "CarbonPlan"
    assert full.attrs["license_name"] == "CC-BY-4.0"
    assert full.attrs["version"]

    summary = {row.data["variable"]: row.data for row in metadata["variables"].value.records}
    assert set(summary) == set(science.VARIABLES)
    rps = region["rps_2011"].values
    # Numbers to 4 significant digits.
    assert summary["rps_2011"]["max"] == pytest.approx(float(np.nanmax(rps)), rel=1e-3)
    assert summary["rps_2011"]["nan_share"] == pytest.approx(float(np.isnan(rps).mean()), rel=1e-3)

    # The thumbnail is small enough for the UI to show it inline (under 1000 characters).
    thumbnail = metadata["rps_2011"].value
    assert len(thumbnail) < 1000
    encoded = re.search(r"data:image/png;base64,([A-Za-z0-9+/=]+)\)", thumbnail).group(1)
    image = Image.open(io.BytesIO(base64.b64decode(encoded)))
    assert image.format == "PNG"
    assert image.width / image.height == pytest.approx(
        tiny_grid.region_cols / tiny_grid.region_rows, rel=0.1
    )
    assert "dark red >=" in metadata["rps_2011 colours"].value
    assert metadata["states"].value == "California, Nevada"
    # Numbers to 4 significant digits.
    share = metadata["rps_2011_nan_share"].value
    assert share == float(f"{share:.4g}")


def test_blocking_checks_pass(region_run: tuple[Path, dg.ExecuteInProcessResult]) -> None:
    _, result = region_run
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert set(evaluations) == {
        "bp_in_unit_interval",
        "rps_crps_in_percent_range",
        "grid_matches_region",
        "nan_only_where_explained",
    }
    assert all(e.passed for e in evaluations.values())


def test_region_buildings(
    region_run: tuple[Path, dg.ExecuteInProcessResult], tiny_grid: RegionGrid
) -> None:
    storage_root, result = region_run
    path = Path(OutputStorage(root=str(storage_root)).layout.region_buildings("y0_x1"))
    table = gpd.read_parquet(path)
    assert list(table.columns) == COLUMNS
    assert all(table[name].dtype == np.float32 for name in science.VARIABLES)
    assert len(table) > 0
    assert not table[list(science.VARIABLES)].isna().any().any()
    centroids = shapely.centroid(np.asarray(table.geometry.values))
    x, y = shapely.get_x(centroids), shapely.get_y(centroids)
    assert tiny_grid.contains("y0_x1", x, y).all()
    file_metadata = pq.ParquetFile(path).schema_arrow.metadata
    assert json.loads(file_metadata[b"geo"])["version"] == "1.1.0"
    assert b"PANDAS_ATTRS" not in file_metadata  # the metadata's provenance stays out of the file

    (materialization,) = result.asset_materializations_for_node("region_buildings")
    metadata = materialization.metadata
    assert metadata["dagster/row_count"].value == len(table)
    assert metadata["size"].value == size_text(path.stat().st_size)
    assert metadata["dropped_nan_rows"].value + len(table) <= metadata["candidate_rows"].value


def test_region_assets_in_memory_need_no_storage(
    region_run: tuple[Path, dg.ExecuteInProcessResult], synthetic_root: Path, tmp_path: Path
) -> None:
    """With InMemoryIOManager the assets hold the real values and no storage is created."""
    storage_root, _ = region_run
    in_memory = {
        **pipeline_resources(synthetic_root, tmp_path / "unused"),
        **dict.fromkeys(IN_MEMORY, dg.InMemoryIOManager()),
    }
    result = materialize(GRAPH, in_memory, partition_key="y0_x1")
    assert result.success
    assert not (tmp_path / "unused").exists()
    # The checks read the in-memory rasters and pass, as on storage.
    assert all(e.passed for e in result.get_asset_check_evaluations())

    rasters = result.output_for_node("region_risk_rasters")
    assert isinstance(rasters, xr.Dataset) and rasters.attrs["region_id"] == "y0_x1"
    stored = OutputStorage(root=str(storage_root)).raster_store()
    on_disk = stored.region("y0_x1").load()
    for name in science.VARIABLES:
        assert rasters[name].dtype == np.float32
        np.testing.assert_array_equal(rasters[name].values, on_disk[name].values)

    table = result.output_for_node("region_buildings")
    assert isinstance(table, gpd.GeoDataFrame)
    written = gpd.read_parquet(
        OutputStorage(root=str(storage_root)).layout.region_buildings("y0_x1")
    )
    assert list(table.columns) == COLUMNS
    assert table.attrs["candidate_rows"] >= len(table) > 0
    assert (
        table.drop(columns="geometry")
        .reset_index(drop=True)
        .equals(written.drop(columns="geometry").reset_index(drop=True))
    )
    assert table.geometry.reset_index(drop=True).geom_equals(written.geometry).all()


def _sorted(table: pa.Table) -> pd.DataFrame:
    """An aggregates table in a fixed order (DuckDB orders groups as its threads finish)."""
    return table.to_pandas().sort_values(["level", "GEOID"], ignore_index=True)


def test_region_tables_from_the_in_memory_buildings_match_those_from_the_file(
    region_run: tuple[Path, dg.ExecuteInProcessResult], synthetic_root: Path, tmp_path: Path
) -> None:
    """Partials and tile features made from the in-memory buildings are those of the stored
    file (the library reads an in-memory table as the GeoParquet it would be written as)."""
    storage_root, _ = region_run
    in_memory = {
        **pipeline_resources(synthetic_root, tmp_path / "unused"),
        **dict.fromkeys(IN_MEMORY, dg.InMemoryIOManager()),
    }
    graph = [*GRAPH, region_statistics_partials, region_tile_features]
    result = materialize(graph, in_memory, partition_key="y0_x1")
    assert result.success and not (tmp_path / "unused").exists()

    stored = OutputStorage(root=str(storage_root)).layout.region_buildings("y0_x1")
    partial = result.output_for_node("region_statistics_partials")
    built_from = {"census": "rows:0"}
    from_file = statistics_partial(str(synthetic_root), stored, "y0_x1", built_from)
    assert set(partial) == {"assignments", "aggregates"}
    recorded = from_file["assignments"].schema.metadata[BUILT_FROM.encode()]
    assert json.loads(recorded) == built_from
    assert partial["assignments"].num_rows > 0
    assert partial["assignments"].equals(from_file["assignments"])
    pd.testing.assert_frame_equal(
        _sorted(partial["aggregates"]), _sorted(from_file["aggregates"]), rtol=1e-12
    )

    features = result.output_for_node("region_tile_features")
    from_file = region_features(stored, "y0_x1")
    assert features["buildings"].num_rows == len(gpd.read_parquet(stored)) > 0
    for name in ("buildings", "centroids"):
        assert features[name].equals(from_file[name])
    first = json.loads(features["buildings"]["feature"][0].as_py())
    assert first["type"] == "Feature" and set(first["properties"]) == {str(k) for k in range(7)}


def test_every_building_belongs_to_exactly_one_region(tiny_grid: RegionGrid) -> None:
    """Half-open region boxes on the centroid: no gap, no duplicate, borders included."""
    size = tiny_grid.pixel_size
    west, south, east, north = tiny_grid.bounds("y0_x1")
    g_west, g_south, g_east, g_north = tiny_grid.total_bounds
    points = {
        "inside": (west + size / 2, north - size / 2),
        "on the west border": (west, (south + north) / 2),  # -> y0_x1
        "on the east border": (east, (south + north) / 2),  # -> y0_x2
        "on the north border": ((west + east) / 2, north),  # -> y1_x1
        "on the inner corner": (east, north),  # -> y1_x2
        "on the grid's east edge": (g_east, (south + north) / 2),  # -> y0_x2 (closed edge)
        "on the grid's north-east corner": (g_east, g_north),  # -> y1_x2
        "on the grid's south-west corner": (g_west, g_south),  # -> y0_x0
        "west of the grid": (g_west - size, g_south + size),  # -> none
    }
    buildings = gpd.GeoDataFrame(
        {
            "block_geoid": ["060010001001000"] * len(points),
            "state_abbrev": ["CA"] * len(points),
            "county_name": list(points),
        },
        geometry=[
            shapely.box(px - size / 4, py - size / 4, px + size / 4, py + size / 4)
            for px, py in points.values()
        ],
        crs="EPSG:4326",
    )

    def rasters(region_id: str, nan_column: int | None = None) -> xr.Dataset:
        lat_slice, lon_slice = store_window(tiny_grid, region_id)
        shape = (lat_slice.stop - lat_slice.start, lon_slice.stop - lon_slice.start)
        values = np.ones(shape, np.float32)
        if nan_column is not None:
            values[:, nan_column] = np.nan
        return xr.Dataset(
            {name: (("latitude", "longitude"), values) for name in REGION_VARIABLES},
            coords={
                "latitude": tiny_grid.latitude()[lat_slice],
                "longitude": tiny_grid.longitude()[lon_slice],
            },
        )

    owners: dict[str, list[str]] = {name: [] for name in points}
    for region_id in tiny_grid.all_region_ids():
        table, dropped = sample_buildings(buildings, rasters(region_id), tiny_grid, region_id)
        assert dropped == 0
        # The published columns: block_geoid AS GEOID, state_abbrev AS state, county_name AS
        # county (here the point's name), in the published order.
        assert list(table.columns) == COLUMNS
        assert all(table[name].dtype == np.float32 for name in REGION_VARIABLES)
        assert (table["GEOID"] == "060010001001000").all() and (table["state"] == "CA").all()
        for name in table["county"]:
            owners[name].append(region_id)
    assert owners == {
        "inside": ["y0_x1"],
        "on the west border": ["y0_x1"],
        "on the east border": ["y0_x2"],
        "on the north border": ["y1_x1"],
        "on the inner corner": ["y1_x2"],
        "on the grid's east edge": ["y0_x2"],
        "on the grid's north-east corner": ["y1_x2"],
        "on the grid's south-west corner": ["y0_x0"],
        "west of the grid": [],
    }
    # A NaN at the building's pixel drops it.
    kept, dropped = sample_buildings(buildings, rasters("y0_x1", nan_column=0), tiny_grid, "y0_x1")
    assert kept["county"].tolist() == [] and dropped == 2
    # No building left: the tag columns are still strings (a null-typed column breaks readers).
    for name in ("GEOID", "state", "county"):
        assert pa.types.is_large_string(pa.Array.from_pandas(kept[name]).type)


def test_failing_check_stops_the_region_before_commit(
    synthetic_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The blocking checks run on the computed rasters before the commit (issue 11, item 3)."""
    region_risk = science.region_risk

    def too_probable(**kwargs: object) -> xr.Dataset:
        risk = region_risk(**kwargs)
        risk["bp_2047"] = risk["bp_2047"] + 2  # keeps attrs, breaks [0, 1]
        return risk

    monkeypatch.setattr(science, "region_risk", too_probable)
    result = run(GRAPH, "y1_x2", synthetic_root, tmp_path)
    assert not result.success
    description = failure_description(result, "region_risk_rasters")
    assert "bp_in_unit_interval" in description and "'bp_2047'" in description
    assert "rps_crps_in_percent_range" not in description
    restarts = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_RESTARTED]
    assert restarts == []
    assert OutputStorage(root=str(tmp_path)).raster_store().committed_regions() == {}
    assert result.asset_materializations_for_node("region_buildings") == []
    assert not Path(OutputStorage(root=str(tmp_path)).layout.region_buildings("y1_x2")).exists()


def test_region_without_data_fails_once_with_a_clear_message(
    synthetic_root: Path, tmp_path: Path
) -> None:
    result = run(GRAPH, "y0_x0", synthetic_root, tmp_path)
    assert not result.success
    assert "region 'y0_x0' has no valid (non-NaN) CRPS data" in failure_description(
        result, "region_risk_rasters"
    )
    restarts = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_RESTARTED]
    assert restarts == []
    assert (
        RasterStore(OutputStorage(root=str(tmp_path)).layout.raster_store).committed_regions() == {}
    )


def test_unknown_region_is_rejected(synthetic_root: Path, tmp_path: Path) -> None:
    """A region that is not a region partition (no deployment selected it) is refused."""
    with pytest.raises(dg.DagsterUnknownPartitionError, match="y9_x9"):
        dg.materialize(
            GRAPH,
            partition_key="y9_x9",
            resources=pipeline_resources(synthetic_root, tmp_path),
            instance=region_instance(["y0_x1"]),
        )


def test_missing_buildings_file_is_named(
    region_run: tuple[Path, dg.ExecuteInProcessResult], synthetic_root: Path, tmp_path: Path
) -> None:
    storage_root, _ = region_run
    inputs = tmp_path / "inputs"
    shutil.copytree(synthetic_root, inputs)
    (inputs / BUILDINGS_FILE).unlink()
    result = run([region_buildings], "y0_x1", inputs, storage_root)
    assert str(inputs / BUILDINGS_FILE) in failure_description(result, "region_buildings")


def test_buildings_need_the_region_in_the_raster_store(
    synthetic_root: Path, tmp_path: Path
) -> None:
    result = run([region_buildings], "y1_x1", synthetic_root, tmp_path)
    assert "materialize region_risk_rasters for it first" in failure_description(
        result, "region_buildings"
    )


def test_commit_conflicts_are_retried(
    region_run: tuple[Path, dg.ExecuteInProcessResult],
    synthetic_root: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    storage_root, _ = region_run
    write_region = RasterStore.write_region
    calls = []

    def conflict_once(self: RasterStore, *args: object, **kwargs: object) -> str:
        calls.append(args)
        if len(calls) == 1:
            raise RasterStoreConflictError("simulated: still conflicted after 5 attempts")
        return write_region(self, *args, **kwargs)

    monkeypatch.setattr(RasterStore, "write_region", conflict_once)
    job = asset_job(PHASE01_JOB, pipeline_resources(synthetic_root, storage_root), retries=2)
    result = job.execute_in_process(
        partition_key="y1_x0",
        instance=region_instance(["y1_x0"]),
        asset_selection=[region_risk_rasters.key],
    )
    assert result.success
    assert len(calls) == 2
    restarts = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_RESTARTED]
    assert len(restarts) == 1
