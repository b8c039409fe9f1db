"""The deployment lease (``ocr_assets.storage.lease``) on a local folder and on S3 (moto), and
the sweep of temporary upload prefixes left by killed runs."""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import s3fs

from ocr_assets.storage import Layout, StorageError, objects
from ocr_assets.storage.config import StorageConfig, using
from ocr_assets.storage.lease import (
    HeldLease,
    LeaseHeldError,
    LeaseLostError,
    LeaseRecord,
    _store,
    acquire,
)


def claim(location: str, run_id: str, **options: object) -> HeldLease:
    """Acquire the lease at ``location`` for ``run_id`` of the ``qa`` environment."""
    return acquire(location, run_id=run_id, environment="qa", version=None, **options)


def plant(location: str, **changes: object) -> LeaseRecord:
    """Write a lease of another deployment at ``location`` (``changes``: its fields)."""
    record = LeaseRecord.new("deadbeef-run", "qa", None, 1800.0)
    record = LeaseRecord(**{**record.__dict__, **changes})
    assert _store(location).create(record.encode()) is not None
    return record


def past(seconds: float) -> str:
    return (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds)).isoformat()


class Lines:
    """A logger keeping its lines."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, message: str) -> None:
        self.lines.append(message)

    warning = error = info


def test_second_acquire_is_refused_naming_the_holder_and_its_age(tmp_path: Path) -> None:
    location = str(tmp_path / "lease.json")
    held = claim(location, "1a2b3c4d-first")
    document = json.loads(Path(location).read_text())
    assert document["run_id"] == "1a2b3c4d-first" and document["environment"] == "qa"
    assert {"owner", "pid", "started_at", "heartbeat_at", "expires_at", "token"} <= set(document)

    with pytest.raises(LeaseHeldError) as refused:
        claim(location, "second")
    message = str(refused.value)
    assert re.match(r"another deployment of 'qa' holds the lease since \d+ s \(run ", message)
    assert f"run 1a2b3c4d, {held.record.owner} pid {held.record.pid}" in message
    assert location in message and "\n" not in message
    assert json.loads(Path(location).read_text())["token"] == held.token  # untouched

    assert held.release()
    assert not Path(location).exists()
    assert claim(location, "second").release()


def test_an_expired_lease_is_taken_over(tmp_path: Path) -> None:
    location = str(tmp_path / "lease.json")
    plant(location, started_at=past(4000), heartbeat_at=past(3000), expires_at=past(120))
    held = claim(location, "taker")
    assert held.taken_over and "it expired 2 min ago" in held.taken_over
    assert "run deadbeef" in held.taken_over
    assert json.loads(Path(location).read_text())["run_id"] == "taker"


def test_the_local_lease_of_a_killed_process_is_taken_over_at_once(tmp_path: Path) -> None:
    location = str(tmp_path / "lease.json")
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        plant(location, pid=process.pid)
        with pytest.raises(LeaseHeldError):  # control: its process is alive
            claim(location, "taker")
    finally:
        process.kill()
        process.wait()
    held = claim(location, "taker")
    assert held.taken_over and f"its process {process.pid} on this host is gone" in held.taken_over


def test_of_two_takers_of_an_expired_lease_exactly_one_wins(tmp_path: Path) -> None:
    location = str(tmp_path / "lease.json")
    # Control: one taker alone takes it over.
    plant(location, expires_at=past(1))
    claim(location, "alone").release()

    # Both read the expired lease, then both swap it conditionally on what they read.
    plant(location, expires_at=past(1))
    first, second = _store(location), _store(location)
    (_, tag_first), (_, tag_second) = first.read(), second.read()
    assert tag_first == tag_second
    won = [first.replace(b'{"by": 1}', tag_first), second.replace(b'{"by": 2}', tag_second)]
    assert sum(tag is not None for tag in won) == 1

    # Through acquire, in threads started together: one holds it, the other is refused.
    Path(location).unlink()
    plant(location, expires_at=past(1))
    start = threading.Barrier(4)
    outcomes: list[object] = []

    def take(run_id: str) -> None:
        start.wait()
        try:
            outcomes.append(claim(location, run_id))
        except LeaseHeldError as error:
            outcomes.append(error)

    threads = [threading.Thread(target=take, args=(f"run-{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    held = [outcome for outcome in outcomes if not isinstance(outcome, LeaseHeldError)]
    assert len(outcomes) == 4 and len(held) == 1
    assert json.loads(Path(location).read_text())["token"] == held[0].token


def test_heartbeat_extends_the_expiry_and_a_lost_lease_is_noticed(tmp_path: Path) -> None:
    location = str(tmp_path / "lease.json")
    held = claim(location, "beating", seconds=600.0)
    first = held.record.expires_at
    time.sleep(0.01)
    held.renew()
    assert held.record.expires_at > first
    assert json.loads(Path(location).read_text())["expires_at"] == held.record.expires_at

    log = Lines()
    held.start_heartbeat(0.05, log)
    deadline = time.monotonic() + 20
    renewed = held.record.heartbeat_at
    while held.record.heartbeat_at == renewed and time.monotonic() < deadline:
        time.sleep(0.02)
    assert held.record.heartbeat_at > renewed  # the heartbeat renewed it
    assert held.release()

    # A holder whose lease expired and was taken over finds out, and releases nothing.
    stale = claim(location, "stale", seconds=600.0)
    document = json.loads(Path(location).read_text())
    Path(location).write_text(json.dumps({**document, "expires_at": past(1)}))
    taker = claim(location, "taker")
    with pytest.raises(LeaseLostError, match="taken over or removed"):
        stale.renew()
    with pytest.raises(LeaseLostError):
        stale.check()
    assert not stale.release()
    assert json.loads(Path(location).read_text())["token"] == taker.token


def test_a_waiting_deployment_proceeds_when_the_lease_is_released(tmp_path: Path) -> None:
    location = str(tmp_path / "lease.json")
    holder = claim(location, "holder-run")
    log = Lines()
    outcome: list[object] = []
    waiter = threading.Thread(
        target=lambda: outcome.append(
            claim(location, "waiter", wait=True, poll_seconds=0.05, log=log)
        )
    )
    waiter.start()
    deadline = time.monotonic() + 20
    while not log.lines and time.monotonic() < deadline:
        time.sleep(0.02)
    assert log.lines and "so far: another deployment of 'qa' holds the lease" in log.lines[0]
    assert "run holder-r" in log.lines[0]
    assert waiter.is_alive() and not outcome
    holder.release()
    waiter.join(20)
    assert outcome and json.loads(Path(location).read_text())["run_id"] == "waiter"


def test_a_damaged_lease_is_named(tmp_path: Path) -> None:
    location = tmp_path / "lease.json"
    location.write_text("{not json")
    with pytest.raises(StorageError, match=re.escape(f"{location}: not a deployment lease")):
        claim(str(location), "run")


def test_temporary_prefixes_name_their_writer_and_time() -> None:
    with using(StorageConfig(writer="0a1b2c3d4e5f")):
        name = objects.staging_name("pyramid.zarr")
    match = objects.STAGING.match(name)
    assert match and match["name"] == "pyramid.zarr" and match["writer"] == "0a1b2c3d4e5f"
    assert match["stamp"].startswith(dt.datetime.now(dt.UTC).strftime("%Y%m%d"))
    assert objects.STAGING.match(".pyramid.zarr.tmp-0123456789ab")["writer"] is None  # older
    assert not objects.STAGING.match("pyramid.zarr") and not objects.STAGING.match(
        ".pyramid.zarr.tmp-abcdef12-123-0123456789ab"  # a local temporary file (atomic.py)
    )


@pytest.mark.integration
def test_the_lease_on_s3_is_created_renewed_taken_over_and_released_conditionally(
    s3_bucket: str,
) -> None:
    location = f"s3://{s3_bucket}/ocr/lease.json"
    held = claim(location, "1a2b3c4d-first")
    with pytest.raises(LeaseHeldError, match=r"holds the lease since \d+ s \(run 1a2b3c4d"):
        claim(location, "second")
    tag = held._tag
    held.renew()
    assert held._tag != tag
    store = _store(location)
    assert store.replace(b"{}", tag) is None  # an old version no longer matches
    assert not store.delete(tag)
    assert held.release()
    assert store.read() is None

    # Two takers of one expired lease: control (one alone), then both at once.
    plant(location, expires_at=past(1))
    claim(location, "alone").release()
    plant(location, expires_at=past(1))
    first, second = _store(location), _store(location)
    (_, tag_first), (_, tag_second) = first.read(), second.read()
    won = [first.replace(b'{"by": 1}', tag_first), second.replace(b'{"by": 2}', tag_second)]
    assert sum(tag is not None for tag in won) == 1


@pytest.mark.integration
def test_sweep_removes_the_temporary_prefixes_of_dead_runs_only(s3_bucket: str) -> None:
    layout = Layout(f"s3://{s3_bucket}/ocr", "qa")
    fs = s3fs.S3FileSystem(skip_instance_cache=True)
    pyramid = layout.risk_pyramid.removeprefix("s3://")
    parent = pyramid.rsplit("/", 1)[0]
    dead = f"{parent}/.pyramid.zarr.tmp-deadbeef0000-20260101T000000Z-0123456789ab"
    older = f"{parent}/.pyramid.zarr.tmp-0123456789ab"
    live = f"{parent}/.pyramid.zarr.tmp-livelive0000-20260101T000000Z-0123456789ab"
    # Written outside a deployment (no lease): removed once older than the given age.
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    unleased_old = f"{parent}/.pyramid.zarr.tmp-nolease-20260101T000000Z-0123456789ab"
    unleased_new = f"{parent}/.pyramid.zarr.tmp-nolease-{stamp}-0123456789ab"
    files = {
        f"{pyramid}/zarr.json": b"{}",
        f"{pyramid}/.tmp-note": b"published",
        f"{dead}/zarr.json": b"12345",
        f"{dead}/0/c/0": b"678",
        f"{older}/zarr.json": b"9",
        f"{live}/zarr.json": b"live",
        f"{unleased_old}/zarr.json": b"old",
        f"{unleased_new}/zarr.json": b"new",
    }
    for path, data in files.items():
        fs.pipe(path, data)

    swept = objects.sweep_staging(layout.upload_folders, "livelive0000", unleased_age=3600)

    expected = [(f"s3://{dead}", 8), (f"s3://{older}", 1), (f"s3://{unleased_old}", 3)]
    assert sorted(swept) == sorted(expected)
    left = set(s3fs.S3FileSystem(skip_instance_cache=True).find(s3_bucket))
    assert left == {
        f"{pyramid}/zarr.json",
        f"{pyramid}/.tmp-note",
        f"{live}/zarr.json",
        f"{unleased_new}/zarr.json",
    }
