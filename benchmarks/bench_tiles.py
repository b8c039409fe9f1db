"""The building or centroid archive at a stated fraction of CONUS: one tippecanoe run against
shards.

Not part of CI; run by hand from the repository root (``make bench-tiles`` runs 0.5 % of the
building archive)::

    .venv/bin/python -m benchmarks.bench_tiles --fraction 0.0025
    .venv/bin/python -m benchmarks.bench_tiles --fraction 0.0025 --archive centroids

A fraction of the real data keeps the real density: CONUS holds about 156 M buildings in 405
regions of the published grid (about 385,000 each), so a fraction ``F`` is
``round(405 F)`` (at least one) whole regions at that density, side by side on the real grid.
Density matters: tippecanoe's ``-zg`` picks the maximum zoom from how close features are, and
the work per feature grows with it. Each region holds towns (about two thirds of its
buildings, clustered) and scattered rural buildings; footprints are 8-25 m rectangles.
Writing the inputs is not timed.

Timed, each once:

* ``single``: one tippecanoe run over every feature with the published options (the
  straightforward implementation, and what the published system runs);
* ``sharded, 1 worker`` and ``sharded, 2 workers``: :func:`ocr_assets.rollups.shards.sharded_archive`
  at shard zoom 6 with its per-shard tasks on a ``distributed.LocalCluster`` of 1 or 2
  single-threaded worker processes (``TIPPECANOE_MAX_THREADS=1`` in each), so the two differ
  only in parallelism.

For each: wall and CPU seconds (this process and its children), peak memory of any single
process (the largest ``ru_maxrss`` among this process and its finished children: the workers
and the tippecanoe processes), bytes written. A JSON report goes to ``benchmarks/results/``.

Projection to CONUS (printed, and labelled projected): with ``r`` the buildings per second
one single-threaded worker turns into the archive (everything included: the shards'
margins, shards tiled again deeper, the zoom statistics and the merge), ``e = t1 / (2 t2)``
the parallel efficiency measured between 1 and 2 workers, and ``C`` the cores of the
machines the archive is sized for (96 for the building archive, 48 for the centroids), the
archive takes about ``156e6 / (r C e)`` seconds.
This holds while every core has shards to tile and no shard takes longer than that on its
own: the densest zoom-6 tile of CONUS sets a floor (docs/performance.md). The benchmark's two
regions straddle zoom-6 tile borders (four shards for two regions), so its margins cost more
than CONUS's on average.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely

from benchmarks.measure import cpu_seconds_since, usage, write_report
from ocr_assets.regions import CONUS_GRID
from ocr_assets.rollups import BUILDING_TILES, CENTROID_TILES, DatasetMetadata, Tileset
from ocr_assets.rollups.shards import sharded_archive
from ocr_assets.rollups.tiles import BUILDING_LAYER, tile_features
from ocr_assets.rollups.tiles import write_feature_lines as write_lines
from ocr_assets.synthetic.region_tables import region_buildings_table, write_feature_table

CONUS_BUILDINGS = 156_000_000
CONUS_REGIONS = 405
#: Regions of the benchmark, in order: the first two meet at the corner of four zoom-6 tiles
#: (118.125 W, 40.98 N, northern Nevada), so they make four shards.
REGIONS = ["y10_x7", "y9_x7", "y10_x6", "y9_x6", "y11_x7", "y11_x6", "y10_x8", "y9_x8"]
#: Per archive: its tippecanoe options and the cores of the machines its asset is sized for
#: (``building_pmtiles``: 2 x c8g.12xlarge; ``building_centroid_pmtiles``: 1 x c8g.12xlarge).
ARCHIVES: dict[str, tuple[Tileset, int]] = {
    "buildings": (BUILDING_TILES, 96),
    "centroids": (CENTROID_TILES, 48),
}


def region_buildings(region_id: str, count: int, seed: int) -> gpd.GeoDataFrame:
    """``count`` footprints in region ``region_id`` of the real grid: towns and rural land."""
    west, south, east, north = CONUS_GRID.bounds(region_id)
    rng = np.random.default_rng(seed)
    towns = 25
    centres = rng.uniform((west, south), (east, north), (towns, 2))
    sizes = rng.pareto(1.2, towns) + 1
    in_towns = int(count * 2 / 3)
    town = rng.choice(towns, in_towns, p=sizes / sizes.sum())
    spread = 0.004 * np.sqrt(sizes[town])[:, None]
    points = np.vstack(
        [
            centres[town] + rng.normal(0, 1, (in_towns, 2)) * spread,
            rng.uniform((west, south), (east, north), (count - in_towns, 2)),
        ]
    )
    points = np.clip(points, (west, south), (east - 1e-7, north - 1e-7))
    half = rng.uniform(4, 12.5, (count, 2)) / 111_000  # metres to degrees (about)
    boxes = shapely.box(*(points - half).T, *(points + half).T)
    return region_buildings_table(boxes, seed, "060670001001000", "CA", "Sacramento")


def write_inputs(
    folder: Path, regions: Sequence[str], per_region: int, centroids: bool
) -> list[str]:
    """Region building files and their footprint (or centroid) feature tables; the feature
    tables' paths."""
    return [
        write_feature_table(
            region_buildings(region_id, per_region, seed), region_id, folder, centroids
        )
        for seed, region_id in enumerate(regions)
    ]


def measured(step: Callable[[], Any]) -> tuple[Any, dict[str, float]]:
    """Run ``step``; its result and wall, CPU and peak memory."""
    before = usage()
    started = time.perf_counter()
    result = step()
    wall = time.perf_counter() - started
    cpu = cpu_seconds_since(before)
    peak = max(a.ru_maxrss for a in usage()) / 1024  # KiB -> MiB
    return result, {"wall_s": wall, "cpu_s": cpu, "peak_process_mib": peak}


def sharded_on_cluster(
    workers: int, tables: list[str], folder: Path, shard_zoom: int, tileset: Tileset
) -> Any:
    """:func:`sharded_archive` with its tasks on a new local cluster of ``workers``
    single-threaded processes (closed before returning, so their CPU time and memory, and
    their tippecanoe processes', count as this process's children)."""
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address="127.0.0.1:0",
            env={"TIPPECANOE_MAX_THREADS": "1"},
        ) as cluster,
        Client(cluster) as client,
    ):

        def run(fn: Callable[..., Any], items: Sequence[Any], *args: Any) -> list[Any]:
            return client.gather([client.submit(fn, item, *args, pure=False) for item in items])

        return sharded_archive(
            tables,
            str(folder / f"sharded-{workers}.pmtiles"),
            tileset,
            DatasetMetadata(),
            str(folder / f"shards-{workers}"),
            shard_zoom,
            run,
        )


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fraction", type=float, default=0.0025, help="share of CONUS")
    parser.add_argument("--shard-zoom", type=int, default=6)
    parser.add_argument("--archive", choices=sorted(ARCHIVES), default="buildings")
    parser.add_argument(
        "--per-region",
        type=int,
        default=CONUS_BUILDINGS // CONUS_REGIONS,
        help="buildings per region (default: the real average; fewer only to try the script)",
    )
    args = parser.parse_args(argv)
    regions = max(1, round(CONUS_REGIONS * args.fraction))
    if regions > len(REGIONS):
        parser.error(f"--fraction {args.fraction}: at most {len(REGIONS)} regions are laid out")
    per_region = args.per_region
    tileset, sized_cores = ARCHIVES[args.archive]
    report: dict[str, Any] = {
        "archive": args.archive,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "fraction": regions / CONUS_REGIONS,
        "regions": REGIONS[:regions],
        "buildings": regions * per_region,
        "steps": {},
    }
    print(f"{regions} region(s) x {per_region:,} buildings = {regions * per_region:,}")
    with tempfile.TemporaryDirectory(prefix="bench-tiles-") as work:
        folder = Path(work)
        tables = write_inputs(folder, REGIONS[:regions], per_region, args.archive == "centroids")
        lines = folder / "features.ndjson"
        write_lines(tables, str(lines))

        def single() -> Any:
            return tile_features(
                {BUILDING_LAYER: [str(lines)]},
                str(folder / "single.pmtiles"),
                tileset,
                DatasetMetadata(),
            )

        summary, numbers = measured(single)
        numbers["bytes"] = summary.bytes
        numbers["max_zoom"] = summary.max_zoom
        report["steps"]["single"] = numbers
        print(f"single run: {numbers}")
        for workers in (1, 2):
            built, numbers = measured(
                lambda w=workers: sharded_on_cluster(w, tables, folder, args.shard_zoom, tileset)
            )
            numbers |= {
                "bytes": built.summary.bytes,
                "max_zoom": built.summary.max_zoom,
                "guessed_zoom": built.guessed_zoom,
                "shards": built.shards,
                "retiled": built.retiled,
                "shard_zoom": built.shard_zoom,
            }
            report["steps"][f"sharded_{workers}"] = numbers
            print(f"sharded, {workers} worker(s): {numbers}")
    steps = report["steps"]
    t1, t2 = steps["sharded_1"]["wall_s"], steps["sharded_2"]["wall_s"]
    features = report["buildings"]
    rate = features / t1
    efficiency = t1 / (2 * t2)
    projected = CONUS_BUILDINGS / (rate * sized_cores * efficiency)
    report["projection"] = {
        "label": "projected, not measured",
        "formula": "156e6 / (r C e)",
        "r_buildings_per_s_per_worker": rate,
        "e_parallel_efficiency": efficiency,
        "C_cores": sized_cores,
        "conus_sharded_minutes": projected / 60,
        "conus_single_run_hours": CONUS_BUILDINGS / (features / steps["single"]["wall_s"]) / 3600,
        "speedup_2_workers": t1 / t2,
    }
    print(json.dumps(report["projection"], indent=2))
    write_report(report, f"bench_tiles-{args.archive}")
    return report


if __name__ == "__main__":
    main()
