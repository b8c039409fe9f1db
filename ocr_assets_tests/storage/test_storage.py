"""Output storage: path layout, atomic writes, GeoParquet 1.1 and the Icechunk raster store."""

import json
import logging
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyarrow.parquet as pq
import pytest
import shapely
import zarr

from ocr_assets.regions import RegionGrid
from ocr_assets.storage import (
    Layout,
    RasterStore,
    RasterStoreConflictError,
    StorageError,
    StorageUnavailableError,
    atomic_output,
    ensure_writable,
    local_path,
    objects,
    store_window,
    write_geoparquet,
)
from ocr_assets.storage.config import StorageConfig, configure, current, using
from ocr_assets.storage.layout import ASSET_KEYS
from ocr_assets.storage.raster_store import stored_grid
from ocr_assets_tests.storage.storage_cases import region_dataset

ROOT = "s3://carbonplan-ocr"


# ---------------------------------------------------------------------------------------- paths
def test_paths_follow_the_published_layout() -> None:
    paths = Layout("/data", "qa")
    assert paths.raster_store == "/data/output/fire-risk/tensor/qa/ocr.icechunk"
    assert paths.region_buildings("y2_x5") == (
        "/data/intermediate/fire-risk/vector/qa/geoparquet-regions/y2_x5.parquet"
    )
    assert paths.wind_distribution == (
        "/data/intermediate/fire-risk/tensor/qa/wind-direction-distribution.zarr"
    )


def test_layout_paths() -> None:
    plain = Layout(ROOT, "qa")
    versioned = Layout(ROOT, "production", "1.2.3")
    assert plain.scope == "qa" and versioned.scope == "production/v1.2.3"
    vector, tensor = f"{ROOT}/output/fire-risk/vector/qa", f"{ROOT}/intermediate/fire-risk"
    assert versioned.raster_store == (
        f"{ROOT}/output/fire-risk/tensor/production/v1.2.3/ocr.icechunk"
    )
    assert plain.wind_distribution == f"{tensor}/tensor/qa/wind-direction-distribution.zarr"
    assert plain.region_buildings("y2_x5") == (
        f"{tensor}/vector/qa/geoparquet-regions/y2_x5.parquet"
    )
    assert (
        plain.region_buildings() == f"{tensor}/vector/qa/geoparquet-regions/{{region_id}}.parquet"
    )
    assert plain.region_statistics_partial("y2_x5") == (
        f"{tensor}/vector/qa/region-statistics-partials/y2_x5"
    )
    assert plain.tile_features() == f"{tensor}/vector/qa/tile-features/{{region_id}}"
    assert plain.region_summary_stats("tracts") == (
        f"{tensor}/vector/qa/region-summary-stats/tracts_summary_stats.parquet"
    )
    assert plain.consolidated_buildings == f"{vector}/geoparquet/consolidated-buildings.parquet"
    assert plain.partitioned_buildings == f"{vector}/geoparquet/buildings.parquet"
    assert plain.region_analysis("counties") == f"{vector}/region-analysis/counties"
    assert plain.regional_pmtiles == f"{vector}/pmtiles/regions.pmtiles"
    assert plain.building_pmtiles == f"{vector}/pmtiles/buildings.pmtiles"
    assert plain.building_centroid_pmtiles == f"{vector}/pmtiles/building_centroids.pmtiles"
    assert plain.risk_pyramid == f"{ROOT}/output/fire-risk/pyramid/qa/pyramid.zarr"
    local = Layout("/data", "local")
    assert local.raster_store == str(Path("/data/output/fire-risk/tensor/local/ocr.icechunk"))
    with pytest.raises(KeyError, match="unknown asset key 'tiles'"):
        plain.outputs("tiles")


def test_every_asset_names_its_outputs() -> None:
    layout = Layout(ROOT, "qa")
    assert {key: list(layout.outputs(key)) for key in ASSET_KEYS} == {
        "wind_direction_distribution": ["distribution"],
        "region_risk_rasters": ["raster_store"],
        "region_buildings": ["buildings"],
        "region_statistics_partials": ["partial"],
        "risk_pyramid": ["pyramid"],
        "buildings_geoparquet": ["consolidated", "hive"],
        "region_summary_stats": ["statistics"],
        "region_analysis_files": ["analysis"],
        "regional_pmtiles": ["pmtiles"],
        "region_tile_features": ["features"],
        "building_pmtiles": ["pmtiles"],
        "building_centroid_pmtiles": ["pmtiles"],
    }
    assert layout.outputs("buildings_geoparquet") == {
        "consolidated": layout.consolidated_buildings,
        "hive": layout.partitioned_buildings,
    }
    # Region assets: for a region, or the pattern.
    assert layout.outputs("region_buildings") == {"buildings": layout.region_buildings()}
    assert layout.location("region_buildings", "y2_x5") == layout.region_buildings("y2_x5")
    assert layout.location("region_statistics_partials", "y2_x5") == (
        layout.region_statistics_partial("y2_x5")
    )
    assert layout.location("region_tile_features", "y2_x5") == layout.tile_features("y2_x5")
    assert layout.location("region_summary_stats") == layout.region_summary_stats_dir
    assert layout.location("region_risk_rasters", "y2_x5") == layout.raster_store
    with pytest.raises(KeyError, match=r"buildings_geoparquet writes 2 outputs"):
        layout.location("buildings_geoparquet")
    with pytest.raises(KeyError, match="unknown asset key 'tiles'"):
        layout.location("tiles")


def test_versioned_paths_and_s3_roots() -> None:
    paths = Layout("s3://bucket/prefix", "production", "1.2.3")
    assert (
        paths.raster_store
        == "s3://bucket/prefix/output/fire-risk/tensor/production/v1.2.3/ocr.icechunk"
    )
    assert paths.region_buildings("y0_x1").endswith(
        "vector/production/v1.2.3/geoparquet-regions/y0_x1.parquet"
    )
    with pytest.raises(StorageError, match="is remote; this operation needs a local path"):
        local_path(paths.raster_store)


# ---------------------------------------------------------------------------------------- config
def test_the_storage_configuration_is_installed_not_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("OCR_STORAGE_ATTEMPTS", "7")
    assert current() == StorageConfig()
    assert objects.endpoint_name("s3://bucket/x") == "AWS S3"
    configured = StorageConfig(read_timeout=5, attempts=2, endpoint_url="http://127.0.0.1:9000")
    configure(configured)
    assert current() is configured
    assert objects.endpoint_name("s3://bucket/x") == "http://127.0.0.1:9000"
    fs, path = objects.filesystem("s3://bucket/x")
    assert path == "bucket/x"
    assert fs.storage_options["endpoint_url"] == "http://127.0.0.1:9000"
    assert fs.storage_options["config_kwargs"]["read_timeout"] == 5
    assert fs.storage_options["config_kwargs"]["retries"]["max_attempts"] == 2
    # Another configuration, another client (fsspec's cache is keyed by it).
    block = StorageConfig(read_timeout=9)
    with using(block):
        assert current() is block
        assert objects.filesystem("s3://bucket/x")[0] is not fs
    assert current() is configured


# ------------------------------------------------------------------------------- stall detection
#: Watchdog limits for calls that never reach an endpoint (the functions below fake the call).
WATCHDOG = StorageConfig(
    probe_timeout=0.5, stall_timeout=0.5, attempts=1, endpoint_url="http://store.example"
)


def _ticking(progress: objects.Progress, ticks: int, every: float) -> str:
    for _ in range(ticks):
        time.sleep(every)
        progress.tick()
    return "done"


def test_a_transfer_runs_while_it_progresses_and_fails_once_it_stalls() -> None:
    released = threading.Event()
    with using(WATCHDOG):
        # 1.2 s in all, past twice the stall time-out, but progress every 0.1 s.
        started = time.monotonic()
        assert objects.bounded_transfer("upload", "s3://b/x", lambda p: _ticking(p, 12, 0.1))
        assert time.monotonic() - started > 1.0
        # Two steps, then silence: fails after the stall time-out, naming where and what.
        started = time.monotonic()
        with pytest.raises(StorageUnavailableError) as caught:
            objects.bounded_transfer(
                "upload",
                "s3://b/x",
                lambda p: (_ticking(p, 2, 0.1), released.wait(30)),
            )
        assert time.monotonic() - started < 0.2 + 0.5 + 1.0
    assert str(caught.value).startswith(
        "upload s3://b/x failed at endpoint http://store.example after 1 attempt(s): "
        "DeadlineExceeded: no progress for 0.5 s (2 step(s) done in"
    )
    released.set()
    assert objects.join_abandoned(10) == []


def test_a_probe_has_a_short_deadline_and_operation_timeout_caps_a_transfer() -> None:
    released = threading.Event()
    with (
        using(replace(WATCHDOG, stall_timeout=30)),
        pytest.raises(StorageUnavailableError, match=r"no answer within 0\.5 s"),
    ):
        objects.bounded_call("write probe", "s3://b/x", lambda: released.wait(30))
    with (
        using(replace(WATCHDOG, stall_timeout=30, operation_timeout=0.6)),
        pytest.raises(StorageUnavailableError, match=r"no answer within 0\.6 s"),
    ):
        objects.bounded_transfer("upload", "s3://b/x", lambda p: _ticking(p, 20, 0.05))
    released.set()
    assert objects.join_abandoned(10) == []


def test_a_waiting_call_is_listed_and_reported(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(objects, "WAIT_REPORT_SECONDS", 0.2)
    listed: list[list[str]] = []

    def call(progress: objects.Progress) -> None:
        time.sleep(0.3)
        listed.append(objects.pending())
        _ticking(progress, 3, 0.1)

    with using(replace(WATCHDOG, stall_timeout=5)), caplog.at_level(logging.WARNING):
        objects.bounded_transfer("commit region y0_x1", "s3://b/store", call)
    assert listed[0] == [
        "commit region y0_x1 s3://b/store at endpoint http://store.example for 0 s, "
        "no progress for 0 s"
    ]
    assert objects.pending() == []
    assert any(
        r.getMessage().startswith(
            "storage: still waiting: commit region y0_x1 s3://b/store at endpoint "
            "http://store.example for 0 s"
        )
        for r in caplog.records
    )


# --------------------------------------------------------------------------------------- atomic
def test_failing_file_writer_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "out" / "table.parquet"
    with pytest.raises(RuntimeError, match="boom"), atomic_output(str(target)) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("boom")
    assert list((tmp_path / "out").iterdir()) == []


def test_failing_folder_writer_keeps_the_previous_output(tmp_path: Path) -> None:
    target = tmp_path / "store.zarr"
    with atomic_output(str(target)) as tmp:
        tmp.mkdir()
        (tmp / "chunk").write_text("old")
    with pytest.raises(RuntimeError), atomic_output(str(target)) as tmp:
        tmp.mkdir()
        (tmp / "chunk").write_text("new, half written")
        raise RuntimeError("interrupted")
    assert (target / "chunk").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store.zarr"]


def test_folder_output_is_replaced_whole(tmp_path: Path) -> None:
    target = tmp_path / "store.zarr"
    for content in ("one", "two"):
        with atomic_output(str(target)) as tmp:
            tmp.mkdir()
            (tmp / content).write_text(content)
    assert [p.name for p in target.iterdir()] == ["two"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store.zarr"]


def test_writer_that_writes_nothing_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="produced nothing"), atomic_output(str(tmp_path / "x")):
        pass


def test_unwritable_root_is_named(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(StorageError, match=r"cannot write to .*a-file/data"):
        ensure_writable(str(blocker / "data"))


# ----------------------------------------------------------------------------------- geoparquet
def test_geoparquet_is_version_1_1_with_bbox_covering_and_zstd(tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame(
        {"id": ["a", "b"], "value": np.array([1.0, 2.0], np.float32)},
        geometry=[shapely.box(0, 0, 1, 1), shapely.box(2, 2, 3, 4)],
        crs="EPSG:4326",
    )
    target = tmp_path / "regions" / "y0_x0.parquet"
    size = write_geoparquet(frame, str(target))
    assert size == target.stat().st_size > 0
    parquet = pq.ParquetFile(target)
    geo = json.loads(parquet.schema_arrow.metadata[b"geo"])
    assert geo["version"] == "1.1.0"
    column = geo["columns"]["geometry"]
    assert column["encoding"] == "WKB"
    assert "bbox" in column["covering"]
    assert parquet.metadata.row_group(0).column(0).compression == "ZSTD"
    back = gpd.read_parquet(target, bbox=(1.5, 1.5, 4, 4))
    assert back["id"].tolist() == ["b"]


def test_geoparquet_leaves_the_frames_attrs_out_of_the_file(tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame({"id": ["a"]}, geometry=[shapely.box(0, 0, 1, 1)], crs="EPSG:4326")
    frame.attrs["provenance"] = {"region_id": "y0_x0"}
    target = tmp_path / "y0_x0.parquet"
    write_geoparquet(frame, str(target))
    assert set(pq.ParquetFile(target).schema_arrow.metadata) == {b"pandas", b"geo"}
    assert gpd.read_parquet(target).attrs == {}
    assert frame.attrs == {"provenance": {"region_id": "y0_x0"}}  # the value is left as it was


# --------------------------------------------------------------------------------- raster store
def test_concurrent_region_commits_all_land(tmp_path: Path, tiny_grid: RegionGrid) -> None:
    store = RasterStore(str(tmp_path / "ocr.icechunk"))
    region_ids = tiny_grid.all_region_ids()
    errors: list[BaseException] = []

    def write(number: int, region_id: str) -> None:
        try:
            data = region_dataset(tiny_grid, region_id, float(number))
            store.ensure_layout(tiny_grid, data, {"provider": "CarbonPlan"})
            store.write_region(tiny_grid, region_id, data)
        except BaseException as error:  # reported below, with the region
            errors.append(error)

    threads = [threading.Thread(target=write, args=item) for item in enumerate(region_ids)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(store.committed_regions()) == sorted(region_ids)
    for number, region_id in enumerate(region_ids):
        region = store.read_region(tiny_grid, region_id).load()
        assert np.all(region["bp_2011"].values == number), region_id
    messages = [s.message for s in store.repository.ancestry(branch="main")]
    assert sorted(m for m in messages if m.startswith("region ")) == sorted(
        f"region {r}" for r in region_ids
    )


def test_store_layout_and_attributes(tmp_path: Path, tiny_grid: RegionGrid) -> None:
    store = RasterStore(str(tmp_path / "ocr.icechunk"))
    data = region_dataset(tiny_grid, "y1_x2", 0.5)
    store.ensure_layout(tiny_grid, data, {"license": "CC-BY-4.0"})
    store.write_region(tiny_grid, "y1_x2", data, metadata={"dagster_run_id": "r1"})
    full = store.open()
    assert stored_grid(full.attrs) == tiny_grid.to_dict()
    assert full.attrs["license"] == "CC-BY-4.0"
    # Attributes survive the region write: CF units, the CRS coordinate, flat values only.
    assert full["rps_2011"].attrs["units"] == "percent"
    assert full["bp_2011"].attrs["units"] == "1"
    assert full["rps_2011"].attrs["grid_mapping"] == "spatial_ref"
    assert "EPSG" in full["rps_2011"]["spatial_ref"].attrs["crs_wkt"]
    assert not any(isinstance(v, dict) for v in full.attrs.values())
    assert full.sizes == {"latitude": tiny_grid.height, "longitude": tiny_grid.width}
    assert np.all(np.diff(full["latitude"].values) > 0)
    session = store.repository.readonly_session(branch="main")
    array = zarr.open_group(session.store, mode="r")["bp_2011"]
    assert array.chunks == (tiny_grid.region_rows, tiny_grid.region_cols)
    # Only the written region holds values; the rest is the NaN fill.
    assert np.isnan(full["bp_2011"].values).sum() == (
        full["bp_2011"].size - tiny_grid.region_rows * tiny_grid.region_cols
    )
    snapshot = next(iter(store.repository.ancestry(branch="main")))
    assert snapshot.message == "region y1_x2"
    assert snapshot.metadata == {"dagster_run_id": "r1", "region_id": "y1_x2"}


def test_region_off_the_window_is_refused(tmp_path: Path, tiny_grid: RegionGrid) -> None:
    store = RasterStore(str(tmp_path / "ocr.icechunk"))
    data = region_dataset(tiny_grid, "y0_x1", 1.0)
    store.ensure_layout(tiny_grid, data, {})
    with pytest.raises(StorageError, match="region y0_x2: longitude is off the region window"):
        store.write_region(tiny_grid, "y0_x2", data)
    with pytest.raises(StorageError, match="latitude has 60 values, the region window has 120"):
        store.write_region(tiny_grid, "y0_x1", data.isel(latitude=slice(0, 60)))
    assert store.committed_regions() == {}


def test_attributes_that_readers_cannot_take_are_refused(
    tmp_path: Path, tiny_grid: RegionGrid
) -> None:
    store = RasterStore(str(tmp_path / "ocr.icechunk"))
    data = region_dataset(tiny_grid, "y0_x1", 1.0)
    with pytest.raises(StorageError, match="attribute 'grid' is a dict"):
        store.ensure_layout(tiny_grid, data, {"grid": tiny_grid.to_dict()})
    with pytest.raises(StorageError, match="attribute 'final' is a bool"):
        store.ensure_layout(tiny_grid, data, {"final": True})
    data["bp_2011"].attrs["valid_range"] = "0..-1"
    with pytest.raises(StorageError, match=r"variable bp_2011: valid_range '0..-1'"):
        store.ensure_layout(tiny_grid, data, {})
    assert not store.exists()


def test_store_of_another_grid_is_refused(tmp_path: Path, tiny_grid: RegionGrid) -> None:
    store = RasterStore(str(tmp_path / "ocr.icechunk"))
    data = region_dataset(tiny_grid, "y0_x1", 1.0)
    store.ensure_layout(tiny_grid, data, {})
    other = RegionGrid(**{**tiny_grid.to_dict(), "west": -100.0})
    with pytest.raises(StorageError, match="was created for grid"):
        store.ensure_layout(other, data, {})


def test_conflicting_commits_give_up_after_bounded_attempts(
    tmp_path: Path, tiny_grid: RegionGrid
) -> None:
    store = RasterStore(str(tmp_path / "ocr.icechunk"), max_attempts=3, retry_delay=0.0)
    data = region_dataset(tiny_grid, "y0_x1", 1.0)
    store.ensure_layout(tiny_grid, data, {})
    lat_slice, lon_slice = store_window(tiny_grid, "y0_x1")
    attempts = []

    def write_then_lose_the_race(session_store: zarr.abc.store.Store) -> None:
        attempts.append(session_store)
        zarr.open_group(session_store, mode="r+")["bp_2011"][lat_slice, lon_slice] = 1.0
        rival = store.repository.writable_session("main")
        zarr.open_group(rival.store, mode="r+")["bp_2011"][lat_slice, lon_slice] = 2.0
        rival.commit("rival writes the same chunk")

    with pytest.raises(RasterStoreConflictError, match="still conflicted after 3 attempts"):
        store._commit("region y0_x1", {"region_id": "y0_x1"}, write_then_lose_the_race)
    assert len(attempts) == 3
    assert store.committed_regions() == {}
    assert np.all(store.read_region(tiny_grid, "y0_x1")["bp_2011"].values == 2.0)


WRITER = """
import sys
import numpy as np
import xarray as xr
from ocr_assets.regions import demo_grid
from ocr_assets.storage import RasterStore, store_window

grid = demo_grid(region_rows=120, region_cols=90, n_region_rows=2, n_region_cols=3, partial=False)
store = RasterStore(sys.argv[1])
for region_id in sys.argv[2:]:
    lat_slice, lon_slice = store_window(grid, region_id)
    values = np.full((120, 90), float(region_id[1] + region_id[4]), np.float32)
    data = xr.Dataset(
        {"bp_2011": (("latitude", "longitude"), values)},
        coords={"latitude": grid.latitude()[lat_slice], "longitude": grid.longitude()[lon_slice]},
    )
    store.ensure_layout(grid, data, {})
    store.write_region(grid, region_id, data)
"""


@pytest.mark.integration
def test_concurrent_commits_from_processes_all_land(tmp_path: Path, tiny_grid: RegionGrid) -> None:
    location = str(tmp_path / "ocr.icechunk")
    halves = (["y0_x0", "y0_x1", "y0_x2"], ["y1_x0", "y1_x1", "y1_x2"])
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, location, *half], stderr=subprocess.PIPE)
        for half in halves
    ]
    for writer in writers:
        _, stderr = writer.communicate(timeout=120)
        assert writer.returncode == 0, stderr.decode()
    store = RasterStore(location)
    assert sorted(store.committed_regions()) == sorted(tiny_grid.all_region_ids())
    for region_id in tiny_grid.all_region_ids():
        values = store.read_region(tiny_grid, region_id)["bp_2011"].values
        assert np.all(values == float(region_id[1] + region_id[4])), region_id


def test_a_rollup_is_not_rebuilt_from_fewer_regions_than_it_was_published_from(
    tmp_path: Path,
) -> None:
    from ocr_assets.storage.guard import LossGuard, OutputLossError, record_regions

    record = str(tmp_path / "deployment" / "rollups" / "risk_pyramid.json")
    guard = LossGuard()
    guard.check_regions("risk_pyramid", record, ["y0_x1"])  # nothing published yet
    record_regions(record, ["y0_x1", "y1_x1"], "run-1")
    assert json.loads(Path(record).read_text())["regions"] == ["y0_x1", "y1_x1"]
    guard.check_regions("risk_pyramid", record, ["y0_x1", "y1_x1", "y1_x2"])  # more is fine
    with pytest.raises(OutputLossError, match=r"from 1 region\(s\).*published from 2 \(run run-1"):
        guard.check_regions("risk_pyramid", record, ["y0_x1"])
    with pytest.raises(OutputLossError, match=r"not in the raster store now \(y1_x1\).*OCR_FORCE"):
        guard.check_regions("risk_pyramid", record, ["y0_x1"])
    LossGuard(force=True).check_regions("risk_pyramid", record, ["y0_x1"])
