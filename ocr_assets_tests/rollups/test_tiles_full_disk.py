"""Tiling on a full disk (docs/reliability.md, fault 17): refused before tippecanoe starts when
the scratch folder lacks the estimated space, reported the same way when a write runs out of
space; the previous archive stays and no scratch folder is left behind.

The real full file system is a 1 MB tmpfs mounted in a private mount namespace
(``unshare --mount``, as root, or with ``--user --map-root-user``), skipped where it cannot be.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest

from ocr_assets.rollups import BUILDING_TILES, tile_features, write_building_features
from ocr_assets.rollups.tiles import SCRATCH_BYTES_PER_INPUT_BYTE, scratch_needed
from ocr_assets.storage import scratch
from ocr_assets.storage.scratch import ScratchSpaceError, reporting_full_disk
from ocr_assets_tests.rollups.rollups_cases import METADATA

ROOT = Path(__file__).resolve().parents[2]


def _features(tmp_path: Path, inputs) -> Path:
    regions, _ = inputs
    features = tmp_path / "features" / "a.ndjson"
    features.parent.mkdir()
    assert write_building_features(regions["A"], str(features)) == 3
    return features


def test_tiling_is_refused_before_it_starts_without_scratch_space(
    tmp_path: Path, inputs, monkeypatch: pytest.MonkeyPatch
) -> None:
    features = _features(tmp_path, inputs)
    work = tmp_path / "scratch"
    archive = tmp_path / "tiles.pmtiles"
    # Control: the same tiling with the disk's real free space succeeds.
    tile_features({"risk": [str(features)]}, str(archive), BUILDING_TILES, METADATA,
                  scratch=str(work))  # fmt: skip
    previous = archive.read_bytes()
    needed = scratch_needed([str(features)])
    assert needed == int(SCRATCH_BYTES_PER_INPUT_BYTE * features.stat().st_size)

    monkeypatch.setattr(scratch, "free_space", lambda folder: needed - 1)
    with pytest.raises(ScratchSpaceError) as raised:
        tile_features({"risk": [str(features)]}, str(archive), BUILDING_TILES, METADATA,
                      scratch=str(work))  # fmt: skip
    message = str(raised.value)
    assert f"tiling {archive}: the scratch folder {work}/ocr-tiles-" in message
    assert "has not enough space: needs about " in message
    assert f" ({needed} bytes), " in message and f" ({needed - 1} bytes) available" in message
    assert archive.read_bytes() == previous  # nothing published
    assert list(work.iterdir()) == []  # the scratch folder is removed


def test_a_write_failing_with_enospc_names_folder_needed_and_available(tmp_path: Path) -> None:
    # /dev/full: every write fails with ENOSPC, as on a full disk.
    with (
        pytest.raises(ScratchSpaceError) as raised,
        reporting_full_disk(tmp_path, 2_000_000, 1500, "writing x"),
        open("/dev/full", "w") as sink,
    ):
        sink.write("x" * 10_000)
        sink.flush()
    assert str(raised.value).startswith(
        f"writing x: the scratch folder {tmp_path} ran out of space (No space left on device): "
        "needs about 2.0 MB (2000000 bytes), 1.5 kB (1500 bytes) available"
    )
    # Other OS errors pass unchanged.
    with pytest.raises(PermissionError), reporting_full_disk(tmp_path, 1, 1, "writing x"):
        raise PermissionError(errno.EACCES, "denied")


_ON_FULL_TMPFS = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from ocr_assets.rollups import BUILDING_TILES, tiles
    from ocr_assets.storage.scratch import ScratchSpaceError
    from ocr_assets_tests.rollups import rollups_cases as cases

    mount, features, archive, region_file = (Path(a) for a in sys.argv[1:5])
    messages = {}
    # The pre-check passes (a tiny estimate): tippecanoe itself finds the disk full.
    tiles.SCRATCH_BYTES_PER_INPUT_BYTE = 0.01
    try:
        tiles.tile_features({"risk": [str(features)]}, str(archive), BUILDING_TILES,
                            cases.METADATA, scratch=str(mount))
    except ScratchSpaceError as error:
        messages["tippecanoe"] = str(error)
    # Our own writes: the features of a region file larger than the disk.
    try:
        tiles.building_pmtiles([str(region_file)], str(archive), cases.METADATA,
                               scratch=str(mount))
    except ScratchSpaceError as error:
        messages["features"] = str(error)
    messages["left"] = sorted(p.name for p in mount.iterdir())
    print(json.dumps(messages))
    """
)


def _namespace_command() -> list[str] | None:
    """``unshare`` with a private mount namespace this process may use, else None."""
    if shutil.which("unshare") is None:
        return None
    for command in (["unshare", "--mount"], ["unshare", "--user", "--map-root-user", "--mount"]):
        probe = subprocess.run([*command, "true"], capture_output=True, check=False)
        if probe.returncode == 0:
            return command
    return None


@pytest.mark.integration
def test_tiling_on_a_really_full_file_system(tmp_path: Path, inputs) -> None:
    command = _namespace_command()
    if command is None:
        pytest.skip("cannot make a private mount namespace (unshare) to mount a small tmpfs")
    features = tmp_path / "features.ndjson"
    line = _features(tmp_path, inputs).read_text().splitlines()[0]
    features.write_text((line + "\n") * 30000)  # about 20 MB of features
    regions, _ = inputs
    region_file = tmp_path / "y0_x0.parquet"
    big = pd.concat([gpd.read_parquet(regions["A"])] * 20000, ignore_index=True)
    big.to_parquet(region_file)  # its features need far more than 1 MB
    archive = tmp_path / "tiles.pmtiles"
    archive.write_bytes(b"previous")
    mount = tmp_path / "mnt"
    mount.mkdir()
    script = (
        f"mount -t tmpfs -o size=1m tmpfs {mount} && exec {sys.executable} -c "
        f'"$0" {mount} {features} {archive} {region_file}'
    )
    done = subprocess.run(
        [*command, "sh", "-c", script, _ON_FULL_TMPFS],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=120,
        check=False,
    )
    if done.returncode != 0 and "mount" in done.stderr and "Traceback" not in done.stderr:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    messages = json.loads(done.stdout.strip().splitlines()[-1])
    assert f"tiling {archive}: the scratch folder {mount}/ocr-tiles-" in messages["tippecanoe"]
    assert "ran out of space" in messages["tippecanoe"]
    assert "No space left on device" in messages["tippecanoe"]
    assert "needs about" in messages["tippecanoe"] and "available" in messages["tippecanoe"]
    assert (
        f"writing the features of {archive}: the scratch folder {mount}/ocr-features-"
        in (messages["features"])
    )
    assert "needs more than" in messages["features"]
    assert messages["left"] == []  # every scratch folder removed
    assert archive.read_bytes() == b"previous"  # nothing published
