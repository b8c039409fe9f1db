"""Every roll-up at a stated fraction of CONUS, timed the way a deployment runs it.

Not part of CI; run by hand from the repository root (``make bench-conus`` runs 1 %)::

    .venv/bin/python -m benchmarks.bench_conus --fraction 0.01
    .venv/bin/python -m benchmarks.bench_conus --fraction 0.001 --fraction 0.01   # growth

**The synthetic CONUS** (deterministic, written first and not timed). A fraction ``F`` is
``round(405 F)`` (at least one) whole regions of the published region grid at the real
density: CONUS holds about 156 M buildings in 405 regions, about 385,000 per region. The
regions are the valid ones nearest to 120 W, 38.5 N, side by side. Each region has towns
(two thirds of its buildings, Pareto-sized clusters), scattered rural buildings, and lakes
where no building stands; footprints are 8-25 m rectangles (:mod:`benchmarks.bench_tiles`).
Census polygons cover the regions' extent and nest like TIGER's (blocks in tracts in counties
in states in the nation), with the number of polygons per level of the contiguous US (about
49 states, 3,100 counties, 84,000 tracts and 8.1 M blocks, round figures) times ``F``.

**The steps**, each timed once, as the deployment runs them:

* ``consolidate``: consolidated + hive GeoParquet (``buildings_geoparquet``, one process);
* ``partials``: each region's statistics partial, one task per region on a local cluster of
  single-threaded worker processes (``region_statistics_partials``);
* ``summary_stats``: every level's statistics from the partials (``region_summary_stats``);
* ``analysis_files``: every level's CSV / GeoJSON / GeoParquet (``region_analysis_files``);
* ``regional_pmtiles``: the five-layer statistics archive;
* ``tile_features``: each region's footprint and centroid feature tables, one task per region;
* ``building_pmtiles`` / ``centroid_pmtiles``: the sharded archives (shard zoom 6), their
  shard tasks on the local cluster;
* ``pyramid``: the Web-Mercator pyramid of two float32 rasters of the regions' extent at the
  real 30 m pixel size (dask, random values).

The per-region and tile steps run with ``--workers`` (default ``1 2``) single-threaded worker
processes each, which gives their parallel efficiency ``e = t1 / (2 t2)``. The other steps run
in this process with every core of the machine, as on their sized machine.

For each step: wall and CPU seconds (this process and its children), the peak resident memory
of this process and the peak sum over its child processes (workers, tippecanoe), sampled every
0.2 s, and the bytes it wrote. A JSON report goes to ``benchmarks/results/``.

**Projection** (printed and stored, every figure labelled projected). A step's throughput per
core is ``r = N / CPU seconds`` (``N``: the buildings measured, or for the pyramid its
pixels), which other work on the machine disturbs less than wall time. On the ``C`` cores of
the machines its asset is sized for, with parallel efficiency ``e`` (measured between the
worker counts for the per-region and tile steps; taken as 1 for the one-process steps, which
is optimistic, and the report says which), CONUS takes ``156e6 / (r C e)`` seconds (the
pyramid: the published grid's pixels instead of 156e6). Memory: a per-region or per-shard task
is as large at CONUS as here, so a worker's peak is the measured one; a one-process step's
added memory is scaled linearly with the data. With two fractions or more, each step's growth
exponent in CPU time between the two largest is reported (1: linear), and the load average of
the machine before and after.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dask.array as da
import geopandas as gpd
import numpy as np
import psutil
import shapely
import xarray as xr

from benchmarks.bench_tiles import CONUS_BUILDINGS, CONUS_REGIONS, region_buildings
from benchmarks.measure import Sampler, cpu_seconds_since, usage, write_report
from ocr_assets.config.compute import SIZES
from ocr_assets.regions import CONUS_GRID, feature_id_base
from ocr_assets.rollups import (
    BUILDING_TILES,
    CENTROID_TILES,
    LEVELS,
    DatasetMetadata,
    census_polygons,
    consolidate_buildings,
    level_for_resolution,
    regional_pmtiles,
    write_analysis_files,
    write_region_partial,
    write_risk_pyramid,
    write_summary_statistics,
)
from ocr_assets.rollups.pyramid import ZARR_JS_MAX_LEVEL
from ocr_assets.rollups.shards import sharded_archive
from ocr_assets.rollups.tiles import building_features, centroid_features

REPO_ROOT = Path(__file__).resolve().parent.parent
#: Census polygons of the contiguous US per level (round figures of TIGER 2020).
CONUS_CENSUS = {"states": 49, "counties": 3_100, "tracts": 84_000, "blocks": 8_100_000}
#: Where the benchmark's regions gather.
CENTRE = (-120.0, 38.5)
METADATA = DatasetMetadata(version="0.0.0-bench")
#: vCPUs of the instance types the assets are sized on.
VCPUS = {"m8g.2xlarge": 8, "m8g.4xlarge": 16, "m8g.16xlarge": 64, "r8g.4xlarge": 16}
VCPUS |= {"c8g.12xlarge": 48}
#: Each step's asset (for its sized machine) and whether it runs one task per region.
STEP_ASSETS = {
    "consolidate": ("buildings_geoparquet", False),
    "partials": ("region_statistics_partials", True),
    "summary_stats": ("region_summary_stats", False),
    "analysis_files": ("region_analysis_files", False),
    "regional_pmtiles": ("regional_pmtiles", False),
    "tile_features": ("region_tile_features", True),
    "building_pmtiles": ("building_pmtiles", True),
    "centroid_pmtiles": ("building_centroid_pmtiles", True),
    "pyramid": ("risk_pyramid", False),
}


def valid_regions() -> list[str]:
    """The published grid's valid region IDs."""
    path = REPO_ROOT / "ocr_assets" / "data" / "valid_region_ids.json"
    return list(json.loads(path.read_text()))


def chosen_regions(count: int) -> list[str]:
    """The ``count`` valid regions nearest to :data:`CENTRE`."""

    def distance(region_id: str) -> float:
        west, south, east, north = CONUS_GRID.bounds(region_id)
        return math.hypot((west + east) / 2 - CENTRE[0], (south + north) / 2 - CENTRE[1])

    return sorted(valid_regions(), key=distance)[:count]


def with_lakes(frame: gpd.GeoDataFrame, region_id: str, seed: int) -> gpd.GeoDataFrame:
    """``frame`` without the buildings inside a few lakes (about a tenth of the region)."""
    west, south, east, north = CONUS_GRID.bounds(region_id)
    rng = np.random.default_rng(seed + 10_000)
    radius = 0.18 * min(east - west, north - south)
    centres = rng.uniform((west, south), (east, north), (4, 2))
    lakes = shapely.union_all(shapely.buffer(shapely.points(centres), radius / 2))
    centroids = shapely.centroid(frame.geometry.array)
    return frame[~shapely.contains(lakes, centroids)].reset_index(drop=True)


@dataclass(frozen=True)
class CensusGrid:
    """Census polygons nesting like TIGER's over a box: counties on a grid, each cut into
    ``tracts_side`` x ``tracts_side`` tracts, each into ``blocks_side`` x ``blocks_side`` blocks;
    states are columns of counties."""

    box: tuple[float, float, float, float]
    counties_x: int
    counties_y: int
    tracts_side: int
    blocks_side: int
    states: int

    @classmethod
    def scaled(cls, box: tuple[float, float, float, float], fraction: float) -> CensusGrid:
        counties = max(1, round(CONUS_CENSUS["counties"] * fraction))
        west, south, east, north = box
        aspect = (east - west) / (north - south)
        counties_x = max(1, round(math.sqrt(counties * aspect)))
        counties_y = max(1, math.ceil(counties / counties_x))
        tracts = max(1, round(math.sqrt(CONUS_CENSUS["tracts"] / CONUS_CENSUS["counties"])))
        blocks = max(1, round(math.sqrt(CONUS_CENSUS["blocks"] / CONUS_CENSUS["tracts"])))
        states = min(counties_x, max(1, round(CONUS_CENSUS["states"] * fraction)))
        return cls(box, counties_x, counties_y, tracts, blocks, states)

    def cells(self, per_county: int) -> tuple[int, int]:
        return self.counties_x * per_county, self.counties_y * per_county

    def geoids(self, col: np.ndarray, row: np.ndarray, level: str) -> np.ndarray:
        """GEOIDs of the cells ``(col, row)`` of ``level``'s grid: state (2) county (3) tract
        (6) block (4) digits, each level a prefix of the next."""
        per_county = {"counties": 1, "tracts": self.tracts_side}
        per_county["blocks"] = self.tracts_side * self.blocks_side
        side = per_county.get(level, 1)
        county_col, county_row = col // side, row // side
        state = county_col * self.states // self.counties_x + 1
        county = county_row * self.counties_x + county_col + 1
        text = np.char.add(
            np.char.zfill(state.astype(str), 2), np.char.zfill(county.astype(str), 3)
        )
        if level in ("tracts", "blocks"):
            tract_side = side // self.tracts_side if level == "blocks" else 1
            tract = (row // tract_side % self.tracts_side) * self.tracts_side
            tract += col // tract_side % self.tracts_side
            text = np.char.add(text, np.char.zfill((tract + 100).astype(str), 6))
        if level == "blocks":
            block = (row % self.blocks_side) * self.blocks_side + col % self.blocks_side
            text = np.char.add(text, np.char.zfill((block + 1000).astype(str), 4))
        return text

    def block_of(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The block GEOID holding each point."""
        nx, ny = self.cells(self.tracts_side * self.blocks_side)
        west, south, east, north = self.box
        col = np.clip(((x - west) / (east - west) * nx).astype(int), 0, nx - 1)
        row = np.clip(((y - south) / (north - south) * ny).astype(int), 0, ny - 1)
        return self.geoids(col, row, "blocks")

    def frames(self) -> dict[str, gpd.GeoDataFrame]:
        """Every level's polygons (the columns the census inputs have)."""
        west, south, east, north = self.box
        frames = {
            "nation": gpd.GeoDataFrame(
                {"GEOID": ["1"], "NAME": ["Benchland"]},
                geometry=[shapely.box(*self.box)],
                crs="EPSG:4326",
            )
        }
        state_ids = np.arange(1, self.states + 1)
        step = (east - west) / self.counties_x
        first_col = [
            next(c for c in range(self.counties_x) if c * self.states // self.counties_x + 1 == s)
            for s in state_ids
        ]
        edges = [*first_col, self.counties_x]
        frames["states"] = gpd.GeoDataFrame(
            {
                "GEOID": [f"{s:02d}" for s in state_ids],
                "NAME": [f"State {s}" for s in state_ids],
                "STUSPS": [f"S{s}" for s in state_ids],
            },
            geometry=[
                shapely.box(west + edges[i] * step, south, west + edges[i + 1] * step, north)
                for i in range(self.states)
            ],
            crs="EPSG:4326",
        )
        for level, per_county in (
            ("counties", 1),
            ("tracts", self.tracts_side),
            ("blocks", self.tracts_side * self.blocks_side),
        ):
            nx, ny = self.cells(per_county)
            col, row = (a.ravel() for a in np.meshgrid(np.arange(nx), np.arange(ny)))
            dx, dy = (east - west) / nx, (north - south) / ny
            geoids = self.geoids(col, row, level)
            frames[level] = gpd.GeoDataFrame(
                {"GEOID": geoids, "NAME": np.char.add(f"{level} ", geoids)},
                geometry=shapely.box(
                    west + col * dx, south + row * dy, west + (col + 1) * dx, south + (row + 1) * dy
                ),
                crs="EPSG:4326",
            )
        return frames


def write_case(folder: Path, fraction: float, per_region: int) -> dict[str, Any]:
    """The synthetic CONUS at ``fraction``: region building files and census polygons."""
    regions = chosen_regions(max(1, round(CONUS_REGIONS * fraction)))
    boxes = np.array([CONUS_GRID.bounds(r) for r in regions])
    box = (boxes[:, 0].min(), boxes[:, 1].min(), boxes[:, 2].max(), boxes[:, 3].max())
    census = CensusGrid.scaled(box, fraction)
    (folder / "regions").mkdir()
    files, buildings = [], 0
    for seed, region_id in enumerate(regions):
        frame = with_lakes(region_buildings(region_id, per_region, seed), region_id, seed)
        centroids = shapely.centroid(frame.geometry.array)
        frame["GEOID"] = census.block_of(shapely.get_x(centroids), shapely.get_y(centroids))
        frame["state"] = frame["GEOID"].str[:2]
        frame["county"] = frame["GEOID"].str[:5]
        path = folder / "regions" / f"{region_id}.parquet"
        frame.to_parquet(path, write_covering_bbox=True, schema_version="1.1.0", index=False)
        files.append(str(path))
        buildings += len(frame)
    polygons = {
        level: census_polygons(frame, level, f"synthetic {level}")
        for level, frame in census.frames().items()
    }
    return {"regions": regions, "files": files, "buildings": buildings, "census": polygons}


def folder_bytes(path: Path) -> int:
    """Bytes of the files under ``path`` (or of the file)."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def measured(step: Callable[[], Any], output: Path | None) -> tuple[Any, dict[str, float]]:
    """Run ``step``: its result and its wall and CPU seconds, peak memory and bytes written."""
    before = usage()
    baseline = psutil.Process().memory_info().rss
    with Sampler() as sampler:
        started = time.perf_counter()
        result = step()
        wall = time.perf_counter() - started
    cpu = cpu_seconds_since(before)
    numbers = {
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "process_before_mib": round(baseline / 2**20),
        "peak_process_mib": round(max(sampler.peak_self, baseline) / 2**20),
        "peak_workers_mib": round(sampler.peak_children / 2**20),
        "bytes_written": folder_bytes(output) if output is not None and output.exists() else 0,
    }
    return result, numbers


def region_tile_features(source: str, region_id: str, folder: str) -> tuple[str, str]:
    """A region's footprint and centroid feature tables (the ``region_tile_features`` work)."""
    import pyarrow.parquet as pq

    buildings = Path(folder) / f"{region_id}-buildings.parquet"
    centroids = Path(folder) / f"{region_id}-centroids.parquet"
    pq.write_table(building_features(source, feature_id_base(region_id)), buildings)
    pq.write_table(centroid_features(source), centroids)
    return str(buildings), str(centroids)


def on_cluster(workers: int, work: Callable[[Callable[..., list[Any]]], Any]) -> Any:
    """``work(map_tasks)`` with a local cluster of ``workers`` single-threaded processes
    (closed before returning, so their CPU time counts as this process's children's)."""
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address="127.0.0.1:0",
            env={"TIPPECANOE_MAX_THREADS": "1", "OMP_NUM_THREADS": "1"},
        ) as cluster,
        Client(cluster) as client,
    ):

        def map_tasks(fn: Callable[..., Any], items: Sequence[Any], *args: Any) -> list[Any]:
            return client.gather([client.submit(fn, item, *args, pure=False) for item in items])

        return work(map_tasks)


def pyramid_input(regions: Sequence[str]) -> xr.Dataset:
    """Two float32 rasters over the regions' extent at the published pixel size (random)."""
    boxes = np.array([CONUS_GRID.bounds(r) for r in regions])
    west, south = boxes[:, 0].min(), boxes[:, 1].min()
    east, north = boxes[:, 2].max(), boxes[:, 3].max()
    size = CONUS_GRID.pixel_size
    ny, nx = round((north - south) / size), round((east - west) / size)
    latitude = south + (np.arange(ny) + 0.5) * size
    longitude = west + (np.arange(nx) + 0.5) * size
    chunks = (CONUS_GRID.region_rows, CONUS_GRID.region_cols)
    state = da.random.RandomState(7)
    variables = {
        name: (("latitude", "longitude"), state.random((ny, nx), chunks=chunks).astype("f4"))
        for name in ("rps_2011", "rps_2047")
    }
    return xr.Dataset(variables, coords={"latitude": latitude, "longitude": longitude})


def run_fraction(
    fraction: float, per_region: int, workers: Sequence[int], skip: set[str]
) -> dict[str, Any]:
    """Write the synthetic CONUS at ``fraction`` and time every step on it."""
    steps: dict[str, dict[str, Any]] = {}
    cores = os.cpu_count() or 1

    def record(name: str, numbers: dict[str, float], used: int, **extra: Any) -> None:
        steps[name] = {**numbers, "cores_used": used, **extra}
        print(f"  {name:>26}: {numbers}", flush=True)

    with tempfile.TemporaryDirectory(prefix="bench-conus-") as work:
        folder = Path(work)
        started = time.perf_counter()
        case = write_case(folder, fraction, per_region)
        files, regions, census = case["files"], case["regions"], case["census"]
        print(
            f"fraction {fraction}: {len(regions)} region(s), {case['buildings']:,} buildings, "
            f"{sum(len(c.frame) for c in census.values()):,} census polygons "
            f"(written in {time.perf_counter() - started:.0f} s)",
            flush=True,
        )
        out = folder / "out"
        if "consolidate" not in skip:
            _, numbers = measured(
                lambda: consolidate_buildings(
                    files, str(out / "buildings.parquet"), str(out / "hive"), METADATA
                ),
                out,
            )
            record("consolidate", numbers, cores)

        partials: list[str] = []
        for count in workers:
            target = out / f"partials-{count}"
            target.mkdir(parents=True)
            locations = [str(target / Path(f).stem) for f in files]

            def partial_work(map_tasks: Callable[..., list[Any]], locations=locations) -> None:
                map_tasks(_partial, list(zip(files, locations, strict=True)), census)

            _, numbers = measured(lambda w=count, pw=partial_work: on_cluster(w, pw), target)
            record(f"partials_{count}", numbers, count)
            partials = locations
        stats = {level: str(out / "stats" / f"{level}.parquet") for level in LEVELS}
        _, numbers = measured(
            lambda: [write_summary_statistics(partials, census[lv], stats[lv]) for lv in LEVELS],
            out / "stats",
        )
        record("summary_stats", numbers, cores)
        if "analysis_files" not in skip:
            _, numbers = measured(
                lambda: [
                    write_analysis_files(stats[lv], str(out / "analysis" / lv), lv, METADATA)
                    for lv in LEVELS
                ],
                out / "analysis",
            )
            record("analysis_files", numbers, cores)
        if "regional_pmtiles" not in skip:
            _, numbers = measured(
                lambda: regional_pmtiles(stats, str(out / "regional.pmtiles"), METADATA),
                out / "regional.pmtiles",
            )
            record("regional_pmtiles", numbers, cores)

        tables: list[tuple[str, str]] = []
        for count in workers:
            target = out / f"features-{count}"
            target.mkdir(parents=True)

            def feature_work(map_tasks: Callable[..., list[Any]], target=target) -> list[Any]:
                return map_tasks(_features, list(zip(files, regions, strict=True)), str(target))

            tables, numbers = measured(lambda w=count, fw=feature_work: on_cluster(w, fw), target)
            record(f"tile_features_{count}", numbers, count)
        for name, index, tileset in (
            ("building_pmtiles", 0, BUILDING_TILES),
            ("centroid_pmtiles", 1, CENTROID_TILES),
        ):
            if name in skip:
                continue
            sources = [t[index] for t in tables]
            for count in workers:
                archive = out / f"{name}-{count}.pmtiles"

                def tile_work(
                    map_tasks: Callable[..., list[Any]],
                    sources=sources,
                    archive=archive,
                    tileset=tileset,
                    shards=out / f"{name}-shards-{count}",
                ) -> Any:
                    return sharded_archive(
                        sources, str(archive), tileset, METADATA, str(shards), 6, map_tasks
                    )

                built, numbers = measured(lambda w=count, tw=tile_work: on_cluster(w, tw), archive)
                record(
                    f"{name}_{count}",
                    numbers,
                    count,
                    shards=built.shards,
                    max_zoom=built.summary.max_zoom,
                    features=built.summary.features,
                )
        if "pyramid" not in skip:
            rasters = pyramid_input(regions)
            level = min(level_for_resolution(30.0, 512), ZARR_JS_MAX_LEVEL)
            _, numbers = measured(
                lambda: write_risk_pyramid(
                    rasters,
                    str(out / "pyramid.zarr"),
                    METADATA.raster(),
                    max_level=level,
                    pixels_per_tile=512,
                ),
                out / "pyramid.zarr",
            )
            record("pyramid", numbers, cores, pixels=int(rasters["rps_2011"].size))
    return {
        "fraction": fraction,
        "regions": regions,
        "buildings": case["buildings"],
        "census_polygons": {level: len(c.frame) for level, c in census.items()},
        "steps": steps,
    }


def _partial(item: tuple[str, str], census: dict[str, Any]) -> str:
    source, location = item
    write_region_partial(source, census, location)
    return location


def _features(item: tuple[str, str], folder: str) -> tuple[str, str]:
    return region_tile_features(item[0], item[1], folder)


def _added_mib(numbers: dict[str, Any]) -> float:
    """Memory a one-process step added: its process above where it started, and its children."""
    return numbers["peak_process_mib"] - numbers["process_before_mib"] + numbers["peak_workers_mib"]


def _step_base(name: str) -> str:
    """``partials_2`` -> ``partials``."""
    base, _, suffix = name.rpartition("_")
    return base if suffix.isdigit() else name


def projection(runs: Sequence[dict[str, Any]], workers: Sequence[int]) -> dict[str, Any]:
    """Projected time and memory of every step at 156 M buildings (see the module's text)."""
    largest = runs[-1]
    result: dict[str, Any] = {"label": "projected, not measured"}
    most, fewest = max(workers), min(workers)
    conus_pixels = CONUS_GRID.height * CONUS_GRID.width
    for name, numbers in largest["steps"].items():
        base = _step_base(name)
        asset, per_task = STEP_ASSETS[base]
        if per_task and name != f"{base}_{most}":
            continue
        size = SIZES[asset]
        sized_cores = VCPUS[size.vm_type] * size.n_workers
        # The pyramid grows with the pixels, everything else with the buildings.
        units, total = largest["buildings"], CONUS_BUILDINGS
        if base == "pyramid":
            units, total = numbers["pixels"], conus_pixels
        rate = units / max(numbers["cpu_s"], 1e-9)
        efficiency, measured_e = 1.0, False
        one = largest["steps"].get(f"{base}_{fewest}")
        if per_task and most > fewest and one:
            efficiency = (one["wall_s"] * fewest) / (numbers["wall_s"] * most)
            measured_e = True
        added = _added_mib(numbers)
        growth, memory_growth = 1.0, 1.0
        if len(runs) > 1 and (small := runs[-2]["steps"].get(name)):
            ratio = largest["buildings"] / runs[-2]["buildings"]
            if ratio > 1 and small["cpu_s"] > 0 and numbers["cpu_s"] > 0:
                growth = math.log(numbers["cpu_s"] / small["cpu_s"]) / math.log(ratio)
            if ratio > 1 and _added_mib(small) > 0 and added > 0:
                memory_growth = min(
                    max(math.log(added / _added_mib(small)) / math.log(ratio), 0), 1.5
                )
        if per_task:
            # A task is one region or one shard: as large at CONUS as here.
            memory = numbers["peak_workers_mib"] / numbers["cores_used"]
            memory_note = "per worker, as measured (tasks do not grow with CONUS)"
        else:
            memory = numbers["process_before_mib"] + added * (total / units) ** memory_growth
            memory_note = (
                f"process: before + added x (CONUS / measured)^{memory_growth:.2f} "
                "(the growth between the two largest fractions; 1 with one fraction)"
            )
        result[base] = {
            "asset": asset,
            "sized_on": f"{size.n_workers} x {size.vm_type} ({sized_cores} cores)",
            "r_per_cpu_second": round(rate),
            "r_counts": "pixels" if base == "pyramid" else "buildings",
            "e_parallel_efficiency": round(efficiency, 2),
            "e_measured": measured_e,
            "growth_exponent_cpu": round(growth, 2),
            "projected_minutes": round(total / (rate * sized_cores * efficiency) / 60, 1),
            "projected_peak_memory_gib": round(memory / 1024, 1),
            "memory": memory_note,
            "formula": "units / (r C e), r = units / CPU seconds",
        }
    return result


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--fraction", type=float, action="append", help="share of CONUS (repeatable)"
    )
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--per-region",
        type=int,
        default=CONUS_BUILDINGS // CONUS_REGIONS,
        help="buildings per region before lakes (default: the real average)",
    )
    parser.add_argument(
        "--skip", nargs="*", default=[], choices=sorted(STEP_ASSETS), help="steps left out"
    )
    args = parser.parse_args(argv)
    fractions = sorted(args.fraction or [0.01])
    for fraction in fractions:
        if not 0 < fraction <= 1:
            parser.error(f"--fraction {fraction}: use a share of CONUS in (0, 1]")
    report: dict[str, Any] = {
        "benchmark": "bench_conus",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
            "platform": platform.platform(),
            "load_average_before": os.getloadavg(),
        },
        "workers": args.workers,
        "runs": [
            run_fraction(f, args.per_region, sorted(args.workers), set(args.skip))
            for f in fractions
        ],
    }
    report["machine"]["load_average_after"] = os.getloadavg()
    report["projection"] = projection(report["runs"], sorted(args.workers))
    print(json.dumps(report["projection"], indent=2))
    write_report(report, "bench_conus")
    return report


if __name__ == "__main__":
    main()
