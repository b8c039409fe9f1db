"""Storage through a fault-injecting proxy in front of the moto server (issue 17, items 2, 3).

Throttling (503 SlowDown, 500 InternalError) and answers slower than the read time-out at
several rates: a region commit, a roll-up folder upload and the reads of roll-ups still succeed
and read back exactly; past the retry budget a region commit leaves ``main`` as it was, an
upload leaves the published folder as it was, and an error answer is never taken for content.
A silent endpoint fails a transfer by its lack of progress, naming the endpoint, while a slow
transfer that keeps moving is not cut off. Every fault test first runs its path with the fault
off (the control), so a broken proxy is never mistaken for a broken product.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import s3fs
import xarray as xr

from ocr_assets.orchestration.io_managers import read_zarr_array, write_zarr_array
from ocr_assets.regions import RegionGrid
from ocr_assets.storage import RasterStore, StorageUnavailableError, objects, store_window
from ocr_assets.storage.config import StorageConfig
from ocr_assets.storage.raster_store import region_attrs
from ocr_assets_tests.faultproxy import Fault, FaultProxy
from ocr_assets_tests.storage.storage_cases import region_dataset
from ocr_assets_tests.storage.storage_fakes import point_at

pytestmark = pytest.mark.integration

#: Test-sized limits: an attempt that gets no answer fails within seconds.
PROXY_CONFIG = StorageConfig(
    connect_timeout=1,
    read_timeout=2,
    probe_timeout=6,
    stall_timeout=6,
    attempts=3,
    region="us-east-1",
)


@pytest.fixture
def proxy(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultProxy]:
    """A pass-through proxy to the moto server; the storage layer reaches moto through it."""
    with FaultProxy(moto_endpoint) as running:
        point_at(monkeypatch, running.url, PROXY_CONFIG)
        yield running
        running.set(Fault())
        assert objects.join_abandoned(30) == []
    s3fs.S3FileSystem.clear_instance_cache()


@pytest.fixture
def bucket(moto_endpoint: str) -> str:
    """A new bucket, made directly on the moto server (not through the proxy)."""
    name = f"proxy-{time.monotonic_ns()}"
    s3fs.S3FileSystem(endpoint_url=moto_endpoint, skip_instance_cache=True).mkdir(name)
    return name


def _region(grid: RegionGrid, region_id: str, value: float, noise: bool = False) -> xr.Dataset:
    """A region's rasters filled with ``value`` (plus noise: chunks too big to be inlined in
    Icechunk's manifest, so each is a PUT of its own), placed by their region attributes."""
    data = region_dataset(grid, region_id, value)
    if noise:
        rng = np.random.default_rng(1)
        for variable in data.data_vars.values():
            variable.values += rng.random(variable.shape, dtype=np.float32) * 1e-3
    data.attrs = region_attrs(grid, region_id, {"riley": "sha256:test"})
    return data


def _folder(root: Path, name: str, files: dict[str, str]) -> Path:
    folder = root / name
    for relative, text in files.items():
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_text(text)
    return folder


def _rollup(version: str, count: int = 40) -> dict[str, str]:
    """A roll-up folder's files (a small pyramid-like tree), each naming its version."""
    files = {
        f"z{i % 3}/{i}.json": json.dumps({"version": version, "tile": i}) for i in range(count)
    }
    files["metadata.json"] = json.dumps({"version": version, "tiles": count})
    return files


def _read_back(location: str, tmp_path: Path) -> dict[str, str]:
    fetched = objects.download(location, tmp_path / f"read-{time.monotonic_ns()}")
    return {p.relative_to(fetched).as_posix(): p.read_text() for p in fetched.rglob("*.json")}


def _published(moto_endpoint: str, location: str) -> dict[str, str]:
    """The files under ``location`` as moto holds them (read without the proxy)."""
    fs = s3fs.S3FileSystem(endpoint_url=moto_endpoint, skip_instance_cache=True)
    prefix = location.removeprefix("s3://").rstrip("/") + "/"
    return {path[len(prefix) :]: fs.cat_file(path).decode() for path in fs.find(prefix)}


# ----------------------------------------------------------------------- (11) throttled storage
THROTTLING = [
    pytest.param(Fault("error", every=20), id="503-every-20th"),
    pytest.param(Fault("error", every=5), id="503-every-5th"),
    pytest.param(Fault("error", every=7, code="InternalError", status=500), id="500-every-7th"),
    pytest.param(Fault("slow", every=15, seconds=3, limit=2), id="slow-past-read-timeout"),
]


@pytest.mark.parametrize("fault", THROTTLING)
def test_throttled_storage_commits_uploads_and_reads_back_exactly(
    proxy: FaultProxy,
    bucket: str,
    moto_endpoint: str,
    tiny_grid: RegionGrid,
    tmp_path: Path,
    fault: Fault,
) -> None:
    store = RasterStore(f"s3://{bucket}/store/ocr.icechunk")
    rollup = f"s3://{bucket}/output/pyramid"
    # Control: the same path with the fault off.
    store.commit_region(_region(tiny_grid, "y0_x0", 1.0), {}, {"title": "t"})
    objects.upload(_folder(tmp_path, "v1", _rollup("v1")), rollup)
    assert _read_back(rollup, tmp_path) == _rollup("v1")
    assert proxy.counts["errors"] + proxy.counts["slow"] == 0

    proxy.set(fault)
    store.commit_region(_region(tiny_grid, "y0_x1", 2.0), {}, {"title": "t"})
    objects.upload(_folder(tmp_path, "v2", _rollup("v2")), rollup)
    assert _read_back(rollup, tmp_path) == _rollup("v2")
    assert objects.read_json(f"{rollup}/metadata.json") == {"version": "v2", "tiles": 40}
    injected = proxy.counts["errors"] + proxy.counts["slow"]
    assert injected >= (2 if fault.kind == "slow" else 3), proxy.counts

    proxy.set(Fault())
    assert set(RasterStore(store.location).committed_regions()) == {"y0_x0", "y0_x1"}
    values = RasterStore(store.location).region("y0_x1")["bp_2011"].values
    assert (values == 2.0).all()
    assert _published(moto_endpoint, rollup) == _rollup("v2")


def test_a_commit_past_the_retry_budget_leaves_main_unchanged(
    proxy: FaultProxy, bucket: str, tiny_grid: RegionGrid, monkeypatch: pytest.MonkeyPatch
) -> None:
    point_at(monkeypatch, proxy.url, replace(PROXY_CONFIG, stall_timeout=3))
    store = RasterStore(f"s3://{bucket}/store/ocr.icechunk")
    # Control: a commit through the proxy with the fault off.
    store.commit_region(_region(tiny_grid, "y0_x0", 1.0), {}, {"title": "t"})
    before = store.committed_regions()
    latitude, longitude = store_window(tiny_grid, "y0_x1")
    window = {"latitude": latitude, "longitude": longitude}
    # Every write of the branch reference fails: the region's chunks go up, its commit cannot
    # (Icechunk retries a 503 for as long as it is let: the commit fails by its stall).
    proxy.set(Fault("error", match=lambda method, path: method == "PUT" and "/refs/" in path))
    with pytest.raises(StorageUnavailableError, match=proxy.url):
        store.commit_region(_region(tiny_grid, "y0_x1", 2.0), {}, {"title": "t"})
    assert proxy.counts["errors"] >= PROXY_CONFIG.attempts
    reopened = RasterStore(store.location)
    assert reopened.committed_regions() == before
    assert reopened.open()["bp_2011"].isel(window).isnull().all()
    # The endpoint recovers: the abandoned commit may still land, whole, or not at all.
    proxy.set(Fault())
    assert objects.join_abandoned(30) == []
    after = RasterStore(store.location)
    values = after.open()["bp_2011"].isel(window)
    if "y0_x1" in after.committed_regions():
        assert (values == 2.0).all()
    else:
        assert after.committed_regions() == before and values.isnull().all()


def test_a_failed_upload_leaves_the_published_folder_whole(
    proxy: FaultProxy,
    bucket: str,
    moto_endpoint: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    point_at(monkeypatch, proxy.url, replace(PROXY_CONFIG, attempts=2))  # a smaller budget
    rollup = f"s3://{bucket}/output/pmtiles"
    # Control: both versions go up through the proxy with the fault off.
    objects.upload(_folder(tmp_path, "v0", _rollup("v0")), rollup)
    objects.upload(_folder(tmp_path, "v1", _rollup("v1")), rollup)
    assert _published(moto_endpoint, rollup) == _rollup("v1")
    # Every upload of the new folder's files fails (past every retry budget).
    proxy.set(
        Fault(
            "error",
            code="InternalError",
            status=500,
            match=lambda m, p: m == "PUT" and ".tmp-" in p,
        )
    )
    with pytest.raises(StorageUnavailableError, match=proxy.url):
        objects.upload(_folder(tmp_path, "v2", _rollup("v2", count=50)), rollup)
    assert proxy.counts["errors"] >= 2
    proxy.set(Fault())
    assert _published(moto_endpoint, rollup) == _rollup("v1")


def test_an_error_answer_is_never_read_as_content(
    proxy: FaultProxy, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    point_at(monkeypatch, proxy.url, replace(PROXY_CONFIG, attempts=2))  # a smaller budget
    rollup = f"s3://{bucket}/output/stats"
    objects.upload(_folder(tmp_path, "v1", _rollup("v1", count=4)), rollup)
    # Control: the reads with the fault off.
    assert objects.read_json(f"{rollup}/metadata.json") == {"version": "v1", "tiles": 4}
    control = objects.download(f"{rollup}/metadata.json", tmp_path / "control.json")
    assert json.loads(control.read_text()) == {"version": "v1", "tiles": 4}
    # Every read answers 500 with an XML body: never returned as the file's bytes.
    proxy.set(Fault("error", code="InternalError", status=500, match=lambda m, p: m == "GET"))
    with pytest.raises(StorageUnavailableError, match=proxy.url):
        objects.read_json(f"{rollup}/metadata.json")
    with pytest.raises(StorageUnavailableError, match=proxy.url):
        objects.download(f"{rollup}/metadata.json", tmp_path / "metadata.json")
    assert (
        not (tmp_path / "metadata.json").exists()
        or "InternalError" not in (tmp_path / "metadata.json").read_text()
    )
    assert proxy.counts["errors"] >= 2 * 2


# --------------------------------------------------------- (10) a silent endpoint, by progress
def test_silent_endpoint_fails_a_transfer_by_progress_naming_the_endpoint(
    proxy: FaultProxy,
    bucket: str,
    tiny_grid: RegionGrid,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = RasterStore(f"s3://{bucket}/store/ocr.icechunk")
    # Control: the region commit and the upload through the proxy.
    store.commit_region(_region(tiny_grid, "y0_x0", 1.0), {}, {"title": "t"})
    objects.upload(_folder(tmp_path, "v1", _rollup("v1")), f"s3://{bucket}/output/pyramid")
    before = RasterStore(store.location).committed_regions()

    proxy.set(Fault("silent"))
    caplog.set_level(logging.WARNING, logger="ocr_assets.storage.objects")
    started = time.monotonic()
    with pytest.raises(StorageUnavailableError) as caught:
        objects.upload(_folder(tmp_path, "v2", _rollup("v2")), f"s3://{bucket}/output/pyramid")
    seconds = time.monotonic() - started
    assert proxy.url in str(caught.value)
    assert "no progress for 6 s" in str(caught.value)
    assert seconds < PROXY_CONFIG.stall_timeout + 5
    assert proxy.counts["held"] >= 1
    proxy.set(Fault())
    assert RasterStore(store.location).committed_regions() == before


def test_waits_are_reported_and_a_slow_transfer_that_progresses_is_not_cut_off(
    proxy: FaultProxy,
    bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(objects, "WAIT_REPORT_SECONDS", 1.0)
    monkeypatch.setattr(objects, "PART_BYTES", 5 * 2**20)  # S3's smallest part
    source = tmp_path / "archive.pmtiles"
    source.write_bytes(bytes(range(256)) * (4 * 5 * 2**12) + b"end")  # 4 parts and a byte
    location = f"s3://{bucket}/output/archive.pmtiles"
    # Control: the upload with the fault off.
    objects.upload(source, location)
    # Every request is held 1 s (under the read time-out) and the parts go one at a time: the
    # upload's 6 requests (start, 4 parts, end) take longer than the stall time-out in all, and
    # it completes: every answer is progress.
    point_at(monkeypatch, proxy.url, replace(PROXY_CONFIG, stall_timeout=3.5))
    monkeypatch.setattr(objects.filesystem(location)[0], "max_concurrency", 1)
    proxy.set(Fault("slow", seconds=1.0))
    seen: list[list[str]] = []
    watcher = threading.Thread(target=lambda: (time.sleep(2.5), seen.append(objects.pending())))
    with caplog.at_level(logging.WARNING, logger="ocr_assets.storage.objects"):
        started = time.monotonic()
        watcher.start()
        objects.upload(source, location)
        seconds = time.monotonic() - started
        watcher.join()
    lines = [record.getMessage() for record in caplog.records]
    assert seconds > 3.5 + 1, seconds
    assert proxy.counts["slow"] >= 6
    assert objects.size(location) == source.stat().st_size
    assert any(
        f"still waiting: upload {location} at endpoint {proxy.url}" in line for line in lines
    )
    assert seen and any(location in line and proxy.url in line for line in seen[0]), seen


def test_silent_endpoint_fails_a_region_commit_by_progress(
    proxy: FaultProxy, bucket: str, tiny_grid: RegionGrid, monkeypatch: pytest.MonkeyPatch
) -> None:
    point_at(monkeypatch, proxy.url, replace(PROXY_CONFIG, stall_timeout=3))
    store = RasterStore(f"s3://{bucket}/store/ocr.icechunk")
    # Control: a region with chunks of their own goes up through the proxy.
    store.commit_region(_region(tiny_grid, "y0_x0", 1.0, noise=True), {}, {"title": "t"})
    assert proxy.counts["held"] == 0
    before = store.committed_regions()
    # The endpoint stops answering chunk uploads: the region's write makes no progress.
    proxy.set(Fault("silent", match=lambda method, path: method == "PUT" and "/chunks/" in path))
    started = time.monotonic()
    with pytest.raises(StorageUnavailableError) as caught:
        store.commit_region(_region(tiny_grid, "y0_x1", 2.0, noise=True), {}, {"title": "t"})
    seconds = time.monotonic() - started
    assert str(caught.value).startswith(f"write region y0_x1 {store.location} failed at endpoint")
    assert proxy.url in str(caught.value) and "no progress for 3 s" in str(caught.value)
    assert seconds < 3 + 5, seconds
    assert proxy.counts["held"] >= 1
    proxy.set(Fault())
    assert RasterStore(store.location).committed_regions() == before


def test_default_limits_fail_a_silent_endpoint_within_about_a_minute(
    proxy: FaultProxy, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue's bound with the default settings: the worst case, a transfer (60 s)."""
    point_at(monkeypatch, proxy.url, StorageConfig(region="us-east-1"))
    rollup = f"s3://{bucket}/output/pyramid"
    # Control: the upload with the fault off, under the default limits.
    objects.upload(_folder(tmp_path, "v1", _rollup("v1")), rollup)
    proxy.set(Fault("silent"))
    started = time.monotonic()
    with pytest.raises(StorageUnavailableError) as caught:
        objects.upload(_folder(tmp_path, "v2", _rollup("v2")), rollup)
    seconds = time.monotonic() - started
    assert f"upload {rollup} failed at endpoint {proxy.url}" in str(caught.value)
    assert "no progress for 60 s" in str(caught.value)
    assert 60 <= seconds < 75, seconds


def test_lazy_reads_of_a_silent_endpoint_fail_naming_it(
    proxy: FaultProxy,
    bucket: str,
    tiny_grid: RegionGrid,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A stored array or a region opened lazily reads long after it was opened (issue 17.2: a
    deployment hung opening the wind distribution)."""
    point_at(monkeypatch, proxy.url, replace(PROXY_CONFIG, stall_timeout=3, probe_timeout=2))
    store = RasterStore(f"s3://{bucket}/store/ocr.icechunk")
    store.commit_region(_region(tiny_grid, "y0_x0", 1.0, noise=True), {}, {"title": "t"})
    array = f"s3://{bucket}/output/wind.zarr"
    write_zarr_array(region_dataset(tiny_grid, "y0_x0", 3.0)["bp_2011"].rename("wind"), array)
    # Control: both read back through the proxy.
    assert float(read_zarr_array(array).mean()) == 3.0
    region = store.region("y0_x0")
    assert float(region["bp_2011"].mean()) > 1.0
    lazy = RasterStore(store.location).region("y0_x0")  # opened, chunks not read yet
    monkeypatch.setattr(objects, "WAIT_REPORT_SECONDS", 1.0)
    caplog.set_level(logging.WARNING, logger="ocr_assets.storage.objects")
    proxy.set(Fault("silent"))
    for read in (lambda: read_zarr_array(array), lambda: lazy["bp_2011"].values):
        started = time.monotonic()
        with pytest.raises(StorageUnavailableError) as caught:
            read()
        assert proxy.url in str(caught.value)
        assert re.search(r"no answer within [23] s", str(caught.value)), caught.value
        assert time.monotonic() - started < 3 + 5
    lines = [record.getMessage() for record in caplog.records]
    assert f"storage: still waiting: read {array}/zarr.json at endpoint {proxy.url} for 1 s" in (
        lines
    )
