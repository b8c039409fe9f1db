"""Issue 17, item 7 (docs/reliability.md, fault 16): staleness for every input.

Changing the buildings file or a census level recomputes exactly the regions whose rows changed
(and only the region assets reading them), without ``OCR_FORCE``; a change of row order, or of
rows outside every region, recomputes nothing. The faults are edits of a copy of the synthetic
inputs: a building moved inside one region, a census block of one region renamed, a building
added outside the grid, the file rewritten in another row order.
"""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import dagster as dg
import geopandas as gpd
import numpy as np
import pytest
import shapely
from dagster._core.definitions.data_version import CachingStaleStatusResolver, StaleStatus
from dagster._core.definitions.observe import observe
from dagster._core.loader import LoadingContextForTest

from ocr_assets.catalog import BUILDINGS_FILE, InputCatalog, census_file
from ocr_assets.catalog.rows import NO_ROWS
from ocr_assets.catalog.staleness import stale_region_assets
from ocr_assets.config.settings import Settings
from ocr_assets.data import CENSUS_LEVELS as LEVELS
from ocr_assets.deploy.job import decide
from ocr_assets.orchestration.assets.inputs import ROW_INPUT_ASSETS
from ocr_assets.orchestration.assets.regions import region_buildings, region_risk_rasters
from ocr_assets.orchestration.assets.wind import wind_direction_distribution
from ocr_assets.orchestration.partitions import add_region_partitions
from ocr_assets.regions import RegionGrid
from ocr_assets.storage import Layout
from ocr_assets.storage.geoparquet import read_built_from
from ocr_assets_tests.helpers import (
    GRAPH,
    materialize,
    partitions_materialized,
    persistent_instance,
    pipeline_resources,
    run_deploy,
)

BLOCKS = census_file("blocks")
#: The region assets a deployment runs per region.
REGION_ASSETS = (
    "region_risk_rasters",
    "region_buildings",
    "region_statistics_partials",
    "region_tile_features",
)


@pytest.fixture
def inputs(synthetic_root: Path, tmp_path: Path) -> Path:
    root = tmp_path / "inputs"
    shutil.copytree(synthetic_root, root)
    return root


def rewrite(path: Path, change) -> None:
    """Rewrite the GeoParquet file ``path`` as ``change(frame)`` (with a fresh covering box)."""
    frame = gpd.read_parquet(path)
    frame = change(frame.drop(columns=[c for c in ("bbox",) if c in frame.columns]))
    frame.to_parquet(
        path,
        geometry_encoding="WKB",
        write_covering_bbox=True,
        schema_version="1.1.0",
        index=False,
    )


def inside(frame: gpd.GeoDataFrame, grid: RegionGrid, region_id: str) -> np.ndarray:
    """Rows whose box lies well inside the region (a millidegree from its edges)."""
    west, south, east, north = grid.bounds(region_id)
    bounds = frame.geometry.bounds
    margin = 1e-3
    return np.flatnonzero(
        (bounds["minx"] > west + margin)
        & (bounds["maxx"] < east - margin)
        & (bounds["miny"] > south + margin)
        & (bounds["maxy"] < north - margin)
    )


def move_a_building(frame: gpd.GeoDataFrame, grid: RegionGrid, region_id: str):
    """``frame`` with one building well inside ``region_id`` moved by about a metre."""
    row = inside(frame, grid, region_id)[0]
    frame = frame.copy()
    frame.loc[frame.index[row], "geometry"] = shapely.affinity.translate(
        frame.geometry.iloc[row], xoff=1e-5
    )
    return frame


def add_outside(frame: gpd.GeoDataFrame, grid: RegionGrid) -> gpd.GeoDataFrame:
    """``frame`` with a copy of its first row moved west of the grid."""
    extra = frame.iloc[:1].copy()
    extra["geometry"] = [shapely.affinity.translate(extra.geometry.iloc[0], xoff=-5.0)]
    return gpd.GeoDataFrame(gpd.pd.concat([frame, extra], ignore_index=True), crs=frame.crs)


def shuffled(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return frame.iloc[np.random.default_rng(0).permutation(len(frame))].reset_index(drop=True)


def rename_a_block(frame: gpd.GeoDataFrame, grid: RegionGrid, region_id: str):
    """``frame`` with the name-like column of one block well inside ``region_id`` changed."""
    row = inside(frame, grid, region_id)[0]
    column = next(c for c in frame.columns if c not in ("geometry", "GEOID"))
    frame = frame.copy()
    frame[column] = frame[column].astype(object)
    frame.loc[frame.index[row], column] = f"{frame[column].iloc[row]}-renamed"
    return frame


def changed(before: dict[str, str], after: dict[str, str]) -> set[str]:
    return {r for r in set(before) | set(after) if before.get(r, NO_ROWS) != after.get(r, NO_ROWS)}


def test_row_identities_follow_exactly_the_changed_rows(inputs: Path) -> None:
    grid = InputCatalog(str(inputs)).grid

    def identities(name: str) -> dict[str, str]:
        return InputCatalog(str(inputs)).region_row_versions(name)

    buildings, blocks = identities(BUILDINGS_FILE), identities(BLOCKS)
    # Control: the file rewritten as it is changes nothing (nor does a new catalog).
    rewrite(inputs / BUILDINGS_FILE, lambda frame: frame)
    assert identities(BUILDINGS_FILE) == buildings
    # Row order only, and a row outside every region: nothing.
    rewrite(inputs / BUILDINGS_FILE, lambda frame: add_outside(shuffled(frame), grid))
    assert identities(BUILDINGS_FILE) == buildings
    # A building moved inside y0_x1: y0_x1 only, same count.
    rewrite(inputs / BUILDINGS_FILE, lambda frame: move_a_building(frame, grid, "y0_x1"))
    after = identities(BUILDINGS_FILE)
    assert changed(buildings, after) == {"y0_x1"}
    assert after["y0_x1"].split(":")[1] == buildings["y0_x1"].split(":")[1]
    # A block renamed inside y1_x1: y1_x1 only.
    rewrite(inputs / BLOCKS, lambda frame: rename_a_block(frame, grid, "y1_x1"))
    assert changed(blocks, identities(BLOCKS)) == {"y1_x1"}


@pytest.mark.integration
def test_deploy_recomputes_exactly_the_regions_whose_rows_changed(
    inputs: Path, tmp_path: Path
) -> None:
    """No OCR_FORCE anywhere: a control deployment recomputes nothing; then buildings moved in
    y0_x1 and a block renamed in y1_x1 (with the buildings reordered and one added outside
    the grid) recompute y0_x1's buildings and what reads them, and y1_x1's partial only."""
    settings = Settings(
        storage_root=str(tmp_path / "data"),
        input_root=str(inputs),
        regions="y0_x1,y1_x1",
        create_pyramid=False,
        write_regional_stats=False,
    )
    layout = Layout(settings.storage_root, "local")
    instance = persistent_instance(tmp_path)
    grid = InputCatalog(str(inputs)).grid

    def deploy_counts() -> dict[str, Counter]:
        assert run_deploy(instance, settings, raise_on_error=False).success
        return {asset: partitions_materialized(instance, asset) for asset in REGION_ASSETS}

    first = deploy_counts()
    assert all(first[asset] == {"y0_x1": 1, "y1_x1": 1} for asset in REGION_ASSETS)
    recorded = read_built_from(layout.region_buildings("y0_x1"))
    assert recorded == {
        BUILDINGS_FILE: InputCatalog(str(inputs)).region_row_versions(BUILDINGS_FILE)["y0_x1"]
    }
    # Control: nothing changed, nothing recomputed.
    assert deploy_counts() == first

    rewrite(
        inputs / BUILDINGS_FILE,
        lambda frame: add_outside(shuffled(move_a_building(frame, grid, "y0_x1")), grid),
    )
    rewrite(inputs / BLOCKS, lambda frame: rename_a_block(frame, grid, "y1_x1"))
    after = deploy_counts()
    assert after["region_risk_rasters"] == first["region_risk_rasters"]  # rasters current
    assert after["region_buildings"] == {"y0_x1": 2, "y1_x1": 1}
    assert after["region_tile_features"] == {"y0_x1": 2, "y1_x1": 1}
    assert after["region_statistics_partials"] == {"y0_x1": 2, "y1_x1": 2}


@pytest.mark.integration
def test_dagster_marks_the_regions_of_changed_rows_stale(inputs: Path, tmp_path: Path) -> None:
    """The rows as region-partitioned observable source assets: a building moved in y0_x1
    makes y0_x1's buildings stale (caused by ``buildings_rows``), not y1_x1's."""
    instance = dg.DagsterInstance.ephemeral()
    add_region_partitions(instance, ["y0_x1", "y1_x1"])
    resources = pipeline_resources(inputs, tmp_path / "outputs")
    asset_graph = dg.Definitions(assets=GRAPH, resources=resources).resolve_asset_graph()
    sources = list(ROW_INPUT_ASSETS.values())
    grid = InputCatalog(str(inputs)).grid

    def status(region_id: str) -> tuple[StaleStatus, list[str]]:
        resolver = CachingStaleStatusResolver(
            instance, asset_graph, LoadingContextForTest(instance)
        )
        causes = resolver.get_stale_causes(region_buildings.key, region_id)
        return resolver.get_status(region_buildings.key, region_id), sorted(
            {cause.dependency.asset_key.to_user_string() for cause in causes}
        )

    observe(sources, instance=instance, resources=resources)
    phase01 = [wind_direction_distribution, region_risk_rasters, region_buildings]
    for region_id in ("y0_x1", "y1_x1"):
        assert materialize(
            GRAPH, resources, partition_key=region_id, selection=phase01, instance=instance
        ).success
    assert status("y0_x1") == (StaleStatus.FRESH, [])  # control

    rewrite(inputs / BUILDINGS_FILE, lambda frame: move_a_building(frame, grid, "y0_x1"))
    observe(sources, instance=instance, resources=resources)
    assert status("y0_x1") == (StaleStatus.STALE, ["buildings_rows"])
    assert status("y1_x1") == (StaleStatus.FRESH, [])


def test_changed_rows_recompute_only_the_assets_reading_them() -> None:
    current = {BUILDINGS_FILE: "rows:3:a", **{census_file(level): NO_ROWS for level in LEVELS}}
    census = {name: version for name, version in current.items() if name != BUILDINGS_FILE}
    recorded = {
        "region_buildings": {BUILDINGS_FILE: "rows:3:a"},
        "region_statistics_partials": census,
    }
    assert stale_region_assets(recorded, current) == ()  # control: all current
    downstream = ("region_buildings", "region_statistics_partials", "region_tile_features")
    assert stale_region_assets({**recorded, "region_buildings": None}, current) == downstream
    moved = {**current, BUILDINGS_FILE: "rows:3:b"}
    assert stale_region_assets(recorded, moved) == downstream
    renamed = {**current, BLOCKS: "rows:1:c"}
    assert stale_region_assets(recorded, renamed) == ("region_statistics_partials",)

    decision = decide(
        ["y0_x1", "y1_x1", "y1_x2"],
        ["y0_x1", "y1_x1", "y1_x2"],
        force=False,
        wipe=False,
        wind_present=True,
        version=None,
        published_version=False,
        changed_rows={"y1_x1": ("region_statistics_partials",)},
    )
    assert decision.remaining == ("y1_x1",)
    assert decision.skipped == ("y0_x1", "y1_x2")
    assert decision.assets == {"y1_x1": ("region_statistics_partials",)}
    forced = decide(
        ["y0_x1", "y1_x1"],
        ["y0_x1", "y1_x1"],
        force=True,
        wipe=False,
        wind_present=True,
        version=None,
        published_version=False,
        changed_rows={"y1_x1": ("region_statistics_partials",)},
    )
    assert forced.remaining == ("y0_x1", "y1_x1") and forced.assets == {}
