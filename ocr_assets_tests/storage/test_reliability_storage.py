"""Storage faults (issue 11): hanging and refusing endpoints, kills between renames and during
writes, damaged inputs, and the loss guard. Each test reproduces the fault itself."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import s3fs

from ocr_assets.orchestration.errors import final_on_bad_input
from ocr_assets.rollups._sources import ParquetInputError, parquet_dataset, parquet_file
from ocr_assets.storage import (
    RasterStore,
    StorageUnavailableError,
    atomic_output,
    ensure_writable,
    objects,
)
from ocr_assets.storage.atomic import HOST, sweep
from ocr_assets.storage.guard import LossGuard, OutputLossError, check_shrink, published_rows
from ocr_assets.storage.scratch import scratch_dir
from ocr_assets_tests.helpers import REPO_ROOT
from ocr_assets_tests.storage.storage_fakes import FAST_CONFIG, SilentEndpoint, point_at

pytestmark = pytest.mark.integration


def _timed(fn: object) -> tuple[BaseException, float]:
    started = time.monotonic()
    with pytest.raises(StorageUnavailableError) as caught:
        fn()  # type: ignore[operator]
    return caught.value, time.monotonic() - started


# ---------------------------------------------------------------------------- (1) hanging endpoint
def test_silent_endpoint_fails_the_write_probe_naming_endpoint_and_operation(
    silent_endpoint: str,
) -> None:
    error, seconds = _timed(lambda: objects.ensure_writable_remote("s3://bucket/outputs"))
    assert seconds < 30
    assert silent_endpoint in str(error)
    assert "write probe s3://bucket/outputs" in str(error)


def test_silent_endpoint_fails_raster_store_history(silent_endpoint: str) -> None:
    store = RasterStore("s3://bucket/outputs/risk.icechunk")
    error, seconds = _timed(store.committed_regions)
    assert seconds < 30
    assert silent_endpoint in str(error)
    assert "raster store" in str(error)


def test_refused_connections_fail_after_bounded_attempts(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    # Nothing listens there any more. A refused connection fails fast by itself: the deadline
    # is generous so that a loaded machine cannot turn the bounded attempts into a deadline
    # failure.
    point_at(monkeypatch, f"http://127.0.0.1:{port}", replace(FAST_CONFIG, probe_timeout=20))
    error, seconds = _timed(lambda: objects.exists("s3://bucket/outputs/file.parquet"))
    assert seconds < 30
    assert f"http://127.0.0.1:{port}" in str(error)
    assert "after 2 attempt(s)" in str(error)


def test_storage_unavailable_stays_retryable_and_bad_input_does_not() -> None:
    with pytest.raises(StorageUnavailableError), final_on_bad_input():
        raise StorageUnavailableError("list s3://b/x failed at endpoint http://e")
    with pytest.raises(dg.Failure) as caught, final_on_bad_input():
        raise ParquetInputError("/data/y1_x2.parquet: not a readable Parquet file")
    assert caught.value.allow_retries is False
    assert "/data/y1_x2.parquet" in caught.value.description


@pytest.mark.integration
def test_rerun_after_the_endpoint_recovers_completes(
    monkeypatch: pytest.MonkeyPatch, moto_endpoint: str
) -> None:
    silent = SilentEndpoint()
    point_at(monkeypatch, silent.url)
    with pytest.raises(StorageUnavailableError):
        ensure_writable("s3://recovery-bucket/outputs")
    silent.close()
    # The proxy is back: the same settings now reach a working server.
    point_at(monkeypatch, moto_endpoint)
    s3fs.S3FileSystem(endpoint_url=moto_endpoint).mkdir("recovery-bucket")
    ensure_writable("s3://recovery-bucket/outputs")
    with atomic_output("s3://recovery-bucket/outputs/folder") as tmp:
        tmp.mkdir()
        (tmp / "a.txt").write_text("a")
    assert objects.exists("s3://recovery-bucket/outputs/folder/a.txt")
    s3fs.S3FileSystem.clear_instance_cache()


# ---------------------------------------------------------------------------- (4), (5) kills
def _run_killed(script: str, cwd: Path) -> None:
    """Run ``script`` in a fresh interpreter that SIGKILLs itself; assert it was killed."""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == -signal.SIGKILL, result.stderr


def _publish(folder: Path, files: dict[str, str]) -> None:
    with atomic_output(str(folder)) as tmp:
        tmp.mkdir()
        for name, text in files.items():
            (tmp / name).write_text(text)


def _contents(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(folder.iterdir())}


KILL = "os.kill(os.getpid(), signal.SIGKILL)"


def test_kill_right_after_the_folder_swap_leaves_the_new_output(tmp_path: Path) -> None:
    target = tmp_path / "buildings.parquet"
    _publish(target, {"part-0.parquet": "old"})
    _run_killed(
        f"""
        import os, signal
        from ocr_assets.storage import atomic
        real = atomic.exchange
        def exchange_then_die(first, second):
            assert real(first, second)
            {KILL}
        atomic.exchange = exchange_then_die
        with atomic.atomic_output({str(target)!r}) as tmp:
            tmp.mkdir()
            (tmp / "part-0.parquet").write_text("new")
        """,
        tmp_path,
    )
    assert _contents(target) == {"part-0.parquet": "new"}
    leftovers = [p for p in tmp_path.iterdir() if p.name.startswith(".buildings.parquet.tmp-")]
    assert len(leftovers) == 1  # the old folder, swapped out
    assert sweep(tmp_path) == leftovers
    assert sorted(p.name for p in tmp_path.iterdir()) == ["buildings.parquet"]


def test_kill_between_the_renames_of_the_fallback_swap_is_recovered(tmp_path: Path) -> None:
    target = tmp_path / "y1_x2"
    _publish(target, {"chunk": "old"})
    _run_killed(
        f"""
        import os, signal
        from ocr_assets.storage import atomic
        atomic.exchange = lambda first, second: False  # a platform without RENAME_EXCHANGE
        real = os.rename
        calls = []
        def rename(source, destination):
            calls.append(source)
            if len(calls) == 2:
                {KILL}
            real(source, destination)
        atomic.os.rename = rename
        with atomic.atomic_output({str(target)!r}) as tmp:
            tmp.mkdir()
            (tmp / "chunk").write_text("new")
        """,
        tmp_path,
    )
    assert not target.exists()  # the moment the fallback cannot avoid...
    _publish(tmp_path / "other", {"x": "x"})  # ...until the next write to the folder
    assert _contents(target) == {"chunk": "old"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other", "y1_x2"]


def test_kill_during_writes_leaves_no_leftovers_after_the_next_run(tmp_path: Path) -> None:
    published = tmp_path / "published"
    scratch = tmp_path / "scratch"
    _publish(published / "y1_x2.parquet", {"data": "old"})
    _run_killed(
        f"""
        import os, signal
        from pathlib import Path
        from ocr_assets.storage.atomic import atomic_output
        from ocr_assets.storage.scratch import scratch_dir
        with scratch_dir("ocr-tiles-", {str(scratch)!r}) as work, \\
                atomic_output({str(published / "consolidated.parquet")!r}) as single, \\
                atomic_output({str(published / "y1_x2.parquet")!r}) as region:
            (work / "tiles.mbtiles").write_bytes(b"x" * 1000)
            single.write_bytes(b"PAR1 half")
            region.mkdir()
            (region / "data").write_text("half")
            {KILL}
        """,
        tmp_path,
    )
    assert any(p.name.startswith(".consolidated.parquet.tmp-") for p in published.iterdir())
    assert any(p.name.startswith(".y1_x2.parquet.tmp-") for p in published.iterdir())
    assert any(p.name.startswith(f"ocr-tiles-{HOST}-") for p in scratch.iterdir())
    # The next (successful) run: one write into the folder, one scratch folder.
    _publish(published / "y3_x4.parquet", {"data": "new"})
    with scratch_dir("ocr-tiles-", scratch) as work:
        assert [p for p in scratch.iterdir()] == [work]
    assert sorted(p.name for p in published.iterdir()) == ["y1_x2.parquet", "y3_x4.parquet"]
    assert _contents(published / "y1_x2.parquet") == {"data": "old"}
    assert list(scratch.iterdir()) == []


def test_scratch_dir_is_removed_on_error(tmp_path: Path) -> None:
    with (
        pytest.raises(RuntimeError, match="tippecanoe failed"),
        scratch_dir("ocr-tiles-", tmp_path),
    ):
        raise RuntimeError("tippecanoe failed")
    assert list(tmp_path.iterdir()) == []


def test_live_writers_leftovers_are_not_swept(tmp_path: Path) -> None:
    with atomic_output(str(tmp_path / "a.parquet")) as tmp:
        tmp.write_text("a")
        assert sweep(tmp_path) == []  # this process is alive: its temporary file stays
        assert tmp.exists()


# ---------------------------------------------------------------------------- (6) damaged input
def test_truncated_region_parquet_is_named(tmp_path: Path) -> None:
    good, bad = tmp_path / "y0_x0.parquet", tmp_path / "y1_x2.parquet"
    pq.write_table(pa.table({"a": list(range(100))}), good)
    bad.write_bytes(good.read_bytes()[:-200])  # a writer killed mid-file
    with pytest.raises(ParquetInputError, match=r"y1_x2\.parquet: not a readable Parquet file"):
        parquet_file(str(bad))
    with pytest.raises(ParquetInputError, match=r"y1_x2\.parquet"):
        parquet_dataset([str(good), str(bad)])
    with pytest.raises(Exception, match=r"y1_x2\.parquet: not a readable Parquet file"):
        published_rows(str(bad))


# ---------------------------------------------------------------------------- loss guard
def test_loss_guard_refuses_a_large_loss_with_both_counts() -> None:
    with pytest.raises(OutputLossError, match=r"holds 1000 buildings, the new output 400 \(60%"):
        check_shrink("out/buildings.parquet", 1000, 400, 0.5, False, "buildings")
    check_shrink("out/buildings.parquet", 1000, 400, 0.5, True, "buildings")  # forced
    check_shrink("out/buildings.parquet", 1000, 500, 0.5, False, "buildings")  # at the limit
    check_shrink("out/buildings.parquet", None, 0, 0.5, False, "buildings")  # first publish
    with pytest.raises(OutputLossError, match="holds 10 buildings, the new output 0"):
        check_shrink("out/buildings.parquet", 10, 0, 0.5, False, "buildings")  # emptied


def test_loss_guard_applies_its_share_and_force() -> None:
    LossGuard().check("out/buildings.parquet", 1000, 500, "buildings")  # default: half
    with pytest.raises(OutputLossError, match=r"holds 1000 buildings, the new output 400 \(60%"):
        LossGuard(0.5, False).check("out/buildings.parquet", 1000, 400, "buildings")
    LossGuard(0.5, True).check("out/buildings.parquet", 1000, 400, "buildings")  # forced
    LossGuard(1.0).check("out/buildings.parquet", 10, 0, "buildings")  # switched off
    with pytest.raises(OutputLossError, match="holds 10 rows, the new output 8"):
        LossGuard(0.1).check("out/stats.parquet", 10, 8)


def test_published_rows_reads_the_footer(tmp_path: Path) -> None:
    assert published_rows(str(tmp_path / "missing.parquet")) is None
    pq.write_table(pa.table({"a": list(range(7))}), tmp_path / "b.parquet")
    assert published_rows(str(tmp_path / "b.parquet")) == 7
