"""Throughput of the CONUS roll-ups (``ocr_assets.rollups``) on synthetic buildings.

Not part of CI; run by hand from the repository root::

    .venv/bin/python -m benchmarks.bench_rollups --buildings 200000 --regions 4

A deterministic synthetic case is written to a temporary folder first (not timed): a 1 x 1
degree square near 38.5 N cut into ``--regions`` region building files (the region building
table of docs/INTERFACES.md), and census polygons nesting like TIGER's (1 nation, 1 state,
4 counties, 16 x 16 tracts, 128 x 128 blocks). Footprints are ~15 m rectangles clustered in
towns; about a fifth of the buildings have zero risk. Each step is then timed once with
``time.perf_counter``:

* ``consolidate``: consolidated GeoParquet + hive copy (bytes/s of region files read);
* ``partials``: per-region assignment to every census level + partial aggregates (features/s);
* ``merge``: summary statistics of all five levels from the partials;
* ``analysis``: CSV / GeoJSON / GeoParquet of the block level;
* ``regional_pmtiles``: the five-layer archive of the statistics;
* ``{building,centroid}_features``: per-region NDJSON inputs (the reusable, incremental part);
* ``{building,centroid}_tiling``: one tippecanoe run over all regions' features with the
  published settings (``--tile-zoom`` caps the building zoom instead of tippecanoe's guess).

Prints a table and writes a JSON report to ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, is_dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ocr_assets.rollups import (
    BUILDING_TILES,
    CENTROID_TILES,
    LEVELS,
    DatasetMetadata,
    Tileset,
    census_polygons,
    consolidate_buildings,
    regional_pmtiles,
    tile_features,
    write_analysis_files,
    write_building_features,
    write_centroid_features,
    write_region_partial,
    write_summary_statistics,
)
from ocr_assets.rollups.tiles import BUILDING_LAYER
from ocr_assets.science import VARIABLES

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"
WEST, SOUTH, SIDE = -121.0, 38.0, 1.0
#: Census grid cells per side: counties, tracts, blocks.
CELLS = {"counties": 2, "tracts": 16, "blocks": 128}
FOOTPRINT_DEGREES = 1.5e-4
SEED = 20250701
METADATA = DatasetMetadata(version="0.0.0-bench")


def _cell_index(x: np.ndarray, y: np.ndarray, cells: int) -> tuple[np.ndarray, np.ndarray]:
    size = SIDE / cells
    return (
        np.clip(((x - WEST) / size).astype(int), 0, cells - 1),
        np.clip(((y - SOUTH) / size).astype(int), 0, cells - 1),
    )


def _block_geoids(col: np.ndarray, row: np.ndarray) -> np.ndarray:
    """TIGER-like nesting: state 06, county (2x2), tract (8x8 per county), block (8x8 per tract)."""
    county = (col // 64) * 2 + row // 64 + 1
    tract = ((col // 8) % 8) * 8 + (row // 8) % 8 + 100
    block = (col % 8) * 8 + row % 8 + 1000
    return np.char.add(
        np.char.add("06", np.char.zfill(county.astype(str), 3)),
        np.char.add(np.char.zfill(tract.astype(str), 6), block.astype(str)),
    )


def census_frames() -> dict[str, gpd.GeoDataFrame]:
    """Nation, state, counties, tracts and blocks as grids over the square."""
    frames = {
        "nation": gpd.GeoDataFrame(
            {"GEOID": ["1"], "NAME": ["Benchland"]},
            geometry=[shapely.box(WEST, SOUTH, WEST + SIDE, SOUTH + SIDE)],
            crs="EPSG:4326",
        ),
        "states": gpd.GeoDataFrame(
            {"GEOID": ["06"], "NAME": ["California"], "STUSPS": ["CA"]},
            geometry=[shapely.box(WEST, SOUTH, WEST + SIDE, SOUTH + SIDE)],
            crs="EPSG:4326",
        ),
    }
    for level, cells in CELLS.items():
        col, row = np.meshgrid(np.arange(cells), np.arange(cells), indexing="ij")
        col, row = col.ravel(), row.ravel()
        scale = 128 // cells
        geoids = _block_geoids(col * scale, row * scale)
        length = {"counties": 5, "tracts": 11, "blocks": 15}[level]
        size = SIDE / cells
        frames[level] = gpd.GeoDataFrame(
            {"GEOID": [g[:length] for g in geoids], "NAME": [f"{level} {g}" for g in geoids]},
            geometry=shapely.box(
                WEST + col * size,
                SOUTH + row * size,
                WEST + (col + 1) * size,
                SOUTH + (row + 1) * size,
            ),
            crs="EPSG:4326",
        )
    return frames


def buildings_frame(n: int) -> gpd.GeoDataFrame:
    """``n`` footprints clustered around 200 towns, with the region building table's columns."""
    rng = np.random.default_rng(SEED)
    towns = rng.uniform(
        [WEST + 0.02, SOUTH + 0.02], [WEST + SIDE - 0.02, SOUTH + SIDE - 0.02], (200, 2)
    )
    which = rng.integers(0, len(towns), n)
    xy = towns[which] + rng.normal(0, 0.01, (n, 2))
    x = np.clip(xy[:, 0], WEST + 1e-3, WEST + SIDE - 1e-3)
    y = np.clip(xy[:, 1], SOUTH + 1e-3, SOUTH + SIDE - 1e-3)
    w = FOOTPRINT_DEGREES * rng.uniform(0.5, 1.5, n)
    columns: dict[str, Any] = {
        "id": pd.Series([f"bench-{i:08d}" for i in range(n)], dtype=str),
        "GEOID": pd.Series(_block_geoids(*_cell_index(x, y, CELLS["blocks"])), dtype=str),
        "state": "CA",
        "county": "Bench",
    }
    safe = rng.uniform(size=n) < 0.2
    for name in VARIABLES:
        high = 100.0 if name.startswith(("rps", "crps")) else 1.0
        values = rng.gamma(0.5, high / 50, n).clip(0, high)
        columns[name] = np.where(safe, 0.0, values).astype(np.float32)
    return gpd.GeoDataFrame(
        columns, geometry=shapely.box(x - w / 2, y - w / 2, x + w / 2, y + w / 2), crs="EPSG:4326"
    )


def write_regions(frame: gpd.GeoDataFrame, regions: int, folder: Path) -> list[str]:
    """Cut ``frame`` into ``regions`` vertical strips, one region building file each."""
    centroid_x = shapely.get_x(shapely.centroid(frame.geometry.array))
    strip = np.minimum(((centroid_x - WEST) / SIDE * regions).astype(int), regions - 1)
    paths = []
    for r in range(regions):
        part = frame[strip == r].assign(region_id=f"y0_x{r}")
        path = folder / f"y0_x{r}.parquet"
        part.to_parquet(
            path, compression="zstd", write_covering_bbox=True, schema_version="1.1.0", index=False
        )
        paths.append(str(path))
    return paths


def _write_partial(source: str, census: dict, folder: Path) -> str:
    """Write the partial of one region file into ``folder``; its location."""
    location = str(folder / Path(source).stem)
    write_region_partial(source, census, location)
    return location


def _timed(step: str, results: dict[str, dict[str, Any]], call: Callable[[], Any]) -> Any:
    start = time.perf_counter()
    value = call()
    seconds = time.perf_counter() - start
    results[step] = {"seconds": round(seconds, 3)}
    print(f"{step:>18}: {seconds:8.2f} s", flush=True)
    return value


def _time_tiles(
    sources: list[str],
    stats: dict[str, str],
    folder: Path,
    tile_zoom: int | None,
    results: dict[str, dict[str, Any]],
) -> None:
    """Time the three archives; buildings and centroids as per-region features + tiling."""
    regional = _timed(
        "regional_pmtiles",
        results,
        lambda: regional_pmtiles(stats, str(folder / "regions.pmtiles"), METADATA),
    )
    summaries = {"regional_pmtiles": regional}
    building_options = BUILDING_TILES
    if tile_zoom is not None:
        zooms = tuple(f"-z{tile_zoom}" if o == "-zg" else o for o in BUILDING_TILES.options)
        building_options = Tileset(BUILDING_TILES.name, zooms, BUILDING_TILES.layer)
    for kind, write, options in (
        ("building", write_building_features, building_options),
        ("centroid", write_centroid_features, CENTROID_TILES),
    ):
        paths = [str(folder / kind / f"{Path(p).stem}.ndjson") for p in sources]
        counts = _timed(
            f"{kind}_features",
            results,
            lambda write=write, paths=paths: [
                write(source, path) for source, path in zip(sources, paths, strict=True)
            ],
        )
        results[f"{kind}_features"]["features_per_s"] = round(
            sum(counts) / results[f"{kind}_features"]["seconds"]
        )
        summaries[f"{kind}_tiling"] = _timed(
            f"{kind}_tiling",
            results,
            lambda paths=paths, options=options, kind=kind: tile_features(
                {BUILDING_LAYER: paths},
                str(folder / f"{kind}.pmtiles"),
                options,
                METADATA,
            ),
        )
    for step, summary in summaries.items():
        results[step] |= {k: v for k, v in asdict(summary).items() if k != "location"}
        results[step]["features_per_s"] = round(summary.features / results[step]["seconds"])


def run(n_buildings: int, regions: int, tile_zoom: int | None, skip_tiles: bool) -> dict[str, Any]:
    """Build the synthetic case and time every roll-up step; returns the report."""
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-rollups-") as work:
        folder = Path(work)
        sources = write_regions(buildings_frame(n_buildings), regions, folder)
        census = {
            level: census_polygons(frame, level, f"synthetic {level}")
            for level, frame in census_frames().items()
        }
        input_bytes = sum(Path(p).stat().st_size for p in sources)

        consolidated = _timed(
            "consolidate",
            results,
            lambda: consolidate_buildings(
                sources,
                str(folder / "out" / "buildings.parquet"),
                str(folder / "out" / "hive"),
                METADATA,
            ),
        )
        results["consolidate"] |= {
            "input_bytes": input_bytes,
            "bytes_per_s": round(input_bytes / results["consolidate"]["seconds"]),
            "consolidated_bytes": consolidated.consolidated_bytes,
            "hive_bytes": consolidated.hive_bytes,
            "hive_files": consolidated.hive_files,
        }

        partials = _timed(
            "partials",
            results,
            lambda: [_write_partial(p, census, folder / "partials") for p in sources],
        )
        results["partials"]["features_per_s"] = round(n_buildings / results["partials"]["seconds"])

        stats = {level: str(folder / "stats" / f"{level}.parquet") for level in LEVELS}
        written = _timed(
            "merge",
            results,
            lambda: {
                level: write_summary_statistics(partials, census[level], stats[level])
                for level in LEVELS
            },
        )
        results["merge"]["rows"] = {level: w.rows for level, w in written.items()}
        results["merge"]["features_per_s"] = round(n_buildings / results["merge"]["seconds"])

        _timed(
            "analysis",
            results,
            lambda: write_analysis_files(
                stats["blocks"], str(folder / "analysis"), "blocks", METADATA
            ),
        )
        if not skip_tiles:
            _time_tiles(sources, stats, folder / "tiles", tile_zoom, results)
    return {
        "benchmark": "bench_rollups",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "buildings": n_buildings,
        "regions": regions,
        "peak_rss_mb": {
            "self": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
            "children": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024,
        },
        "steps": results,
    }


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--buildings", type=int, default=200_000)
    parser.add_argument("--regions", type=int, default=4)
    parser.add_argument("--tile-zoom", type=int, default=None, help="cap the building zoom")
    parser.add_argument("--skip-tiles", action="store_true")
    args = parser.parse_args()
    report = run(args.buildings, args.regions, args.tile_zoom, args.skip_tiles)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS_DIR / f"bench_rollups_{stamp}.json"
    path.write_text(
        json.dumps(report, indent=2, default=lambda o: asdict(o) if is_dataclass(o) else str(o))
    )
    print(json.dumps(report["steps"], indent=2))
    print(f"report: {path}")


if __name__ == "__main__":
    main()
