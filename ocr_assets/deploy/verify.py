"""Read back every published output of a deployment (``ocr-assets verify``).

Instead of "check the deployment URLs by hand": after a deployment, every output the plan says
it writes is opened and checked, local or on S3:

- the raster store: a commit per selected region (and, for versioned deployments, the
  ``v{version}`` tag);
- the wind distribution;
- per region: the building GeoParquet (GeoParquet 1.1 ``geo`` metadata);
- the consolidated building GeoParquet (``geo`` metadata, the published columns in order and
  the vector metadata licence) and the hive folder's ``_common_metadata`` (the same columns
  plus ``state_fips`` / ``county_fips`` as strings);
- the summary statistics of every census level (rows > 0, the published columns in order
  with their types);
- the PMTiles archives (header and the expected layers);
- when their branch is on: the analysis files of every level (published folder names) and
  the pyramid.

Freshness: outputs must not be older than the run. The run start is ``--since`` or the
``started_at`` of the deployment record the ``deploy`` job writes; roll-ups and the outputs of
the regions that run processed must be at least that recent (regions the run skipped, already
in the store, may be older). Each problem is one :class:`Finding` naming the output.
"""

from __future__ import annotations

import datetime as dt
import json
import posixpath
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ocr_assets.rollups.analysis_files import CSV_FILE, GEOJSON_FILE, PARQUET_FILE
from ocr_assets.rollups.buildings import (
    COMMON_METADATA,
    PARTITION_TYPE,
    PARTITIONS,
    consolidated_schema,
)
from ocr_assets.rollups.schema import (
    ANALYSIS_FOLDERS,
    LEVELS,
    VECTOR_LICENSE,
    statistics_schema,
)
from ocr_assets.rollups.tiles import BUILDING_LAYER, summarize_pmtiles
from ocr_assets.storage import RasterStore, objects
from ocr_assets.storage.layout import Layout

#: Status of a completed deployment record.
SUCCEEDED = "succeeded"


@dataclass(frozen=True)
class Finding:
    """One problem with one output.

    Attributes:
        output: What the output is (asset key, with region or level).
        location: Where it should be.
        problem: What is wrong.
    """

    output: str
    location: str
    problem: str

    def __str__(self) -> str:
        return f"{self.output}: {self.problem} ({self.location})"


@dataclass(frozen=True)
class Verification:
    """The outcome of :func:`verify_outputs`.

    Attributes:
        checked: How many outputs were read back.
        findings: The problems found (empty: everything is there and fresh).
        since: The run start outputs were compared with (``None``: not checked).
    """

    checked: int
    findings: tuple[Finding, ...]
    since: dt.datetime | None

    @property
    def ok(self) -> bool:
        """True when nothing is missing or stale."""
        return not self.findings

    def render(self) -> str:
        """A readable report."""
        since = self.since.isoformat() if self.since else "not checked"
        lines = [f"checked {self.checked} output(s); run start {since}"]
        if self.ok:
            lines.append("every output is present and fresh")
        else:
            lines.append(f"{len(self.findings)} problem(s):")
            lines.extend(f"  {finding}" for finding in self.findings)
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON view: ``ok``, ``checked``, ``since`` and ``findings``."""
        return {
            "ok": self.ok,
            "checked": self.checked,
            "since": self.since.isoformat() if self.since else None,
            "findings": [finding.__dict__ for finding in self.findings],
        }


def read_record(location: str) -> dict[str, Any] | None:
    """The deployment record at ``location`` (``None`` when absent)."""
    return objects.read_json(location)


def parse_time(value: str, variable: str = "--since") -> dt.datetime:
    """An ISO 8601 time, UTC when it names no zone.

    Raises:
        ValueError: naming ``variable`` for anything else.
    """
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError as error:
        raise ValueError(f"{variable}={value!r} is not an ISO 8601 time") from error
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


class _Checker:
    """Collects findings while reading outputs back."""

    def __init__(self, since: dt.datetime | None) -> None:
        self.since = since
        self.findings: list[Finding] = []
        self.checked = 0

    def fail(self, output: str, location: str, problem: str) -> None:
        self.findings.append(Finding(output, location, problem))

    def present(self, output: str, location: str, fresh: bool) -> bool:
        """Check that ``location`` exists (and, when ``fresh``, is not older than the run)."""
        self.checked += 1
        if not objects.exists(location):
            self.fail(output, location, "missing")
            return False
        if fresh and self.since is not None:
            written = _newest_write(location)
            if written is not None and written < self.since.timestamp():
                stamp = dt.datetime.fromtimestamp(written, dt.UTC).isoformat()
                self.fail(output, location, f"older than the run (written {stamp})")
        return True

    def read(self, output: str, location: str, reader: Callable[[], str | None]) -> None:
        """Run ``reader``; a returned text or an exception is a finding."""
        try:
            problem = reader()
        except Exception as error:  # any failure to read back is the finding itself
            problem = f"unreadable: {type(error).__name__}: {error}"
        if problem:
            self.fail(output, location, problem)


def _newest_write(location: str) -> float | None:
    """Newest modification time of the file, or of the files under the folder."""
    fs, path = objects.filesystem(location)
    if not fs.isdir(path):
        return objects.modified(location)
    times = []
    for file in fs.find(path):
        try:
            times.append(fs.modified(file).timestamp())
        except (NotImplementedError, FileNotFoundError):
            continue
    return max(times) if times else None


def _parquet(location: str) -> pq.ParquetFile:
    fs, path = objects.filesystem(location)
    return pq.ParquetFile(fs.open(path, "rb"))


def _geoparquet_problem(location: str) -> str | None:
    metadata = _parquet(location).metadata.metadata or {}
    if b"geo" not in metadata:
        return "no GeoParquet 'geo' metadata"
    version = json.loads(metadata[b"geo"]).get("version")
    return None if version == "1.1.0" else f"GeoParquet version {version!r}, expected 1.1.0"


def _rows_problem(location: str) -> str | None:
    rows = _parquet(location).metadata.num_rows
    return None if rows > 0 else "no rows"


def _schema_problem(schema: pa.Schema, expected: pa.Schema) -> str | None:
    """Columns and types against the published schema (geometry: any binary encoding)."""
    if schema.names != expected.names:
        return f"columns {schema.names}, expected {expected.names}"
    for field in expected:
        actual = schema.field(field.name).type
        binary = pa.types.is_binary(actual) or pa.types.is_large_binary(actual)
        if field.name == "geometry" and binary:
            continue
        if actual != field.type:
            return f"column {field.name!r} has type {actual}, expected {field.type}"
    return None


def _buildings_problem(location: str) -> str | None:
    problem = _geoparquet_problem(location)
    file = _parquet(location)
    problem = problem or _schema_problem(file.schema_arrow, consolidated_schema())
    license_name = (file.metadata.metadata or {}).get(b"license_name", b"").decode()
    if problem is None and license_name != VECTOR_LICENSE["license_name"]:
        problem = f"license_name {license_name!r}, expected {VECTOR_LICENSE['license_name']!r}"
    return problem


def _common_metadata_problem(location: str) -> str | None:
    fs, path = objects.filesystem(location)
    with fs.open(path, "rb") as handle:
        schema = pq.read_schema(handle)
    partitions = [pa.field(name, PARTITION_TYPE) for name in PARTITIONS]
    return _schema_problem(schema, pa.schema([*consolidated_schema(), *partitions]))


def _statistics_problem(location: str, level: str) -> str | None:
    file = _parquet(location)
    problem = _schema_problem(file.schema_arrow, statistics_schema(level))
    return problem or _rows_problem(location)


def _pmtiles_problem(location: str, layers: tuple[str, ...]) -> str | None:
    with tempfile.TemporaryDirectory(prefix="ocr-verify-") as scratch:
        local = objects.download(location, Path(scratch) / posixpath.basename(location))
        summary = summarize_pmtiles(local, location)
    missing = [layer for layer in layers if layer not in summary.layers]
    if missing:
        return f"layers {', '.join(missing)} missing (has {', '.join(summary.layers) or 'none'})"
    return None if summary.max_zoom >= summary.min_zoom else "invalid zoom range in the header"


def _zarr_problem(location: str) -> str | None:
    fs, path = objects.filesystem(location)
    markers = ("zarr.json", ".zgroup")  # Zarr v3 / v2 group metadata
    if not any(fs.exists(posixpath.join(path, marker)) for marker in markers):
        return "not a Zarr group (no zarr.json or .zgroup)"
    return None


def _raster_store(check: _Checker, layout: Layout, regions: list[str], fresh: set[str]) -> None:
    location = layout.raster_store
    check.checked += 1
    store = RasterStore(location)
    if not store.exists():
        check.fail("region_risk_rasters", location, "missing raster store")
        return
    commits = {
        snapshot.metadata.get("region_id"): snapshot.written_at
        for snapshot in reversed(list(store.repository.ancestry(branch="main")))
        if snapshot.metadata.get("region_id")
    }
    for region_id in regions:
        written = commits.get(region_id)
        if written is None:
            check.fail(f"region_risk_rasters[{region_id}]", location, "no commit for the region")
        elif region_id in fresh and check.since is not None and written < check.since:
            check.fail(
                f"region_risk_rasters[{region_id}]",
                location,
                f"commit older than the run ({written.isoformat()})",
            )
    if layout.version and f"v{layout.version}" not in store.tags():
        check.fail("region_risk_rasters", location, f"no tag v{layout.version}")


def _per_region(check: _Checker, layout: Layout, regions: list[str], fresh: set[str]) -> None:
    for region_id in regions:
        location = layout.region_buildings(region_id)
        output = f"region_buildings[{region_id}]"
        if check.present(output, location, region_id in fresh):
            check.read(output, location, lambda loc=location: _geoparquet_problem(loc))


def _rollups(check: _Checker, layout: Layout, branches: dict[str, bool]) -> None:
    if check.present("buildings_geoparquet", layout.consolidated_buildings, True):
        check.read(
            "buildings_geoparquet",
            layout.consolidated_buildings,
            lambda: _buildings_problem(layout.consolidated_buildings),
        )
    common = posixpath.join(layout.partitioned_buildings, COMMON_METADATA)
    if check.present("buildings_geoparquet (hive)", common, True):
        check.read("buildings_geoparquet (hive)", common, lambda: _common_metadata_problem(common))
    for level in LEVELS:
        location = layout.region_summary_stats(level)
        output = f"region_summary_stats[{level}]"
        if check.present(output, location, True):
            check.read(
                output, location, lambda loc=location, lv=level: _statistics_problem(loc, lv)
            )
    archives = (
        ("regional_pmtiles", layout.regional_pmtiles, LEVELS),
        ("building_pmtiles", layout.building_pmtiles, (BUILDING_LAYER,)),
        ("building_centroid_pmtiles", layout.building_centroid_pmtiles, (BUILDING_LAYER,)),
    )
    for output, location, layers in archives:
        if check.present(output, location, True):
            check.read(output, location, lambda loc=location, ly=layers: _pmtiles_problem(loc, ly))
    if branches.get("region_analysis_files"):
        for level in LEVELS:
            folder = layout.region_analysis(ANALYSIS_FOLDERS[level])
            for name in (CSV_FILE, GEOJSON_FILE, PARQUET_FILE):
                check.present(f"region_analysis_files[{level}]", posixpath.join(folder, name), True)
    if branches.get("risk_pyramid") and check.present("risk_pyramid", layout.risk_pyramid, True):
        check.read("risk_pyramid", layout.risk_pyramid, lambda: _zarr_problem(layout.risk_pyramid))


def verify_outputs(
    layout: Layout,
    regions: list[str] | None,
    branches: dict[str, bool],
    since: dt.datetime | None = None,
) -> Verification:
    """Read back every output of the deployment at ``layout``.

    Args:
        layout: Where the deployment writes.
        regions: The regions to check (``None``: those of the deployment record).
        branches: Optional asset -> whether its branch is on.
        since: The run start; default the record's ``started_at``.

    Returns:
        The findings; a missing or unfinished deployment record is one when ``since`` is
        not given.
    """
    record = read_record(layout.deployment_record)
    if since is None and record is not None:
        since = parse_time(record["started_at"], "started_at")
    check = _Checker(since)
    check.checked += 1
    if record is None:
        if since is None:
            check.fail("deployment", layout.deployment_record, "no deployment record")
    elif record.get("status") != SUCCEEDED:
        check.fail(
            "deployment",
            layout.deployment_record,
            f"run {record.get('run_id')} did not complete (status {record.get('status')!r})",
        )
    selected = list(regions if regions is not None else (record or {}).get("regions", []))
    processed = set((record or {}).get("processed", selected))
    check.present("wind_direction_distribution", layout.wind_distribution, False)
    _raster_store(check, layout, selected, processed)
    _per_region(check, layout, selected, processed)
    _rollups(check, layout, branches)
    return Verification(check.checked, tuple(check.findings), since)
