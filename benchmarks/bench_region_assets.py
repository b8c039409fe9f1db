"""One region of the real size through the region assets, with each step's peak memory.

Not part of CI; run by hand from the repository root::

    .venv/bin/python -m benchmarks.bench_region_assets                  # 6000 x 4500, 400,000
    .venv/bin/python -m benchmarks.bench_region_assets --rows 600 --cols 450 --buildings 4000

The synthetic generator (which lays out at least 2 x 2 regions) writes a grid of 2 x 2 regions
of ``--rows`` x ``--cols`` pixels of the real pixel size (a real region: 6000 x 4500, read with
its 0.15 degree buffer as 7080 x 5580) with about ``--buildings`` buildings per region, on the
published pixel lattice (not timed). One region's assets are then materialized one after
another through Dagster, exactly as a region's child run does
(the local environment: the process's own in-process Dask cluster, so every byte the work
holds is in this process):

1. ``wind_direction_distribution`` (once, unpartitioned);
2. ``region_risk_rasters`` with its blocking checks (compute, check, commit to the raster
   store);
3. ``region_buildings`` (sampling the rasters at the buildings, GeoParquet);
4. ``region_statistics_partials``;
5. ``region_tile_features``.

For each: wall and CPU seconds and the peak resident memory of the process (sampled every
0.2 s), beside the memory of the machine a region's asset is sized for (``SIZES``: an
m8g.2xlarge, 32 GiB). A JSON report goes to ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import psutil

from benchmarks.measure import Sampler, write_report
from ocr_assets.config.compute import SIZES
from ocr_assets.orchestration.assets import ASSETS, CHECKS
from ocr_assets.orchestration.graph import resources
from ocr_assets.orchestration.partitions import add_region_partitions
from ocr_assets.orchestration.resources import (
    ComputeResource,
    InputCatalogResource,
    OutputStorage,
)
from ocr_assets.regions import demo_grid
from ocr_assets.synthetic import generate_inputs

#: Memory of the instance types the region assets are sized on (GiB).
MEMORY_GIB = {"m8g.2xlarge": 32}
STEPS = (
    ("wind", "wind_direction_distribution", False),
    ("rasters_and_checks", "region_risk_rasters", True),
    ("buildings", "region_buildings", True),
    ("partials", "region_statistics_partials", True),
    ("tile_features", "region_tile_features", True),
)


def materialize_step(
    asset: str, partition: str | None, graph_resources: dict[str, Any], instance: Any
) -> dg.ExecuteInProcessResult:
    """Materialize ``asset`` (and its checks) as a child run of a deployment does."""
    return dg.materialize(
        [*ASSETS, *CHECKS],
        selection=dg.AssetSelection.assets(asset),
        partition_key=partition,
        resources=graph_resources,
        instance=instance,
        raise_on_error=True,
    )


def counts(result: dg.ExecuteInProcessResult) -> dict[str, float]:
    """The numbers among the materialization's metadata (rows, sizes, ...)."""
    found: dict[str, float] = {}
    for event in result.get_asset_materialization_events():
        for key, value in event.materialization.metadata.items():
            if isinstance(value, dg.IntMetadataValue | dg.FloatMetadataValue):
                found[key] = value.value
    return found


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=6000)
    parser.add_argument("--cols", type=int, default=4500)
    parser.add_argument("--buildings", type=int, default=400_000)
    parser.add_argument("--hours", type=int, default=720, help="hourly CONUS404 steps")
    args = parser.parse_args(argv)
    report: dict[str, Any] = {
        "benchmark": "bench_region_assets",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
            "platform": platform.platform(),
            "load_average_before": os.getloadavg(),
        },
        "region": {"rows": args.rows, "cols": args.cols, "buildings": args.buildings},
        "steps": {},
    }
    with tempfile.TemporaryDirectory(prefix="bench-region-assets-") as work:
        inputs, outputs = Path(work) / "inputs", Path(work) / "outputs"
        started = time.perf_counter()
        grid = demo_grid(args.rows, args.cols, 2, 2, partial=False)
        summary = generate_inputs(
            inputs, grid=grid, n_buildings=4 * args.buildings, hours=args.hours
        )
        region = summary["valid_region_ids"][0]
        print(f"inputs for {region} written in {time.perf_counter() - started:.0f} s", flush=True)
        storage = OutputStorage(root=str(outputs))
        graph_resources = resources(
            InputCatalogResource(root=str(inputs)),
            storage,
            ComputeResource(environment=storage.environment),
        )
        instance = dg.DagsterInstance.ephemeral()
        add_region_partitions(instance, [region])
        process = psutil.Process()
        for name, asset, partitioned in STEPS:
            before = process.memory_info().rss
            cpu_before = sum(process.cpu_times()[:2])
            with Sampler() as sampler:
                t0 = time.perf_counter()
                result = materialize_step(
                    asset, region if partitioned else None, graph_resources, instance
                )
                wall = time.perf_counter() - t0
            size = SIZES[asset]
            numbers = {
                "wall_s": round(wall, 1),
                "cpu_s": round(sum(process.cpu_times()[:2]) - cpu_before, 1),
                "process_before_gib": round(before / 2**30, 2),
                "peak_process_gib": round(max(sampler.peak_self, before) / 2**30, 2),
                "sized_on": size.vm_type,
                "sized_memory_gib": MEMORY_GIB.get(size.vm_type),
                "counts": counts(result),
            }
            report["steps"][name] = numbers
            print(f"  {name:>20}: {numbers}", flush=True)
    report["machine"]["load_average_after"] = os.getloadavg()
    write_report(report, "bench_region_assets")
    return report


if __name__ == "__main__":
    main()
