"""Write the synthetic inputs under a root folder: idempotent, atomic, deterministic."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Mapping
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import Any

import geopandas as gpd
import icechunk
import numpy as np
import pyarrow.parquet as pq
import xarray as xr

from ocr_assets.catalog.grid import valid_region_ids_document, valid_region_ids_of
from ocr_assets.catalog.layout import (
    BUILDINGS_FILE,
    CONUS404_CONSTANT_VARIABLES,
    CONUS404_CONSTANTS,
    CONUS404_VARIABLES,
    INPUT_BRANCH,
    PIXEL_SIZE_DEGREES,
    RILEY_YEARS,
    SCOTT_STORE,
    VALID_REGION_IDS_FILE,
    census_file,
    conus404_store,
    riley_store,
)
from ocr_assets.data import CENSUS_LEVELS
from ocr_assets.regions import RegionGrid, demo_grid
from ocr_assets.synthetic import rasters, vectors, weather
from ocr_assets.synthetic.landscape import Landscape, make_landscape

#: Defaults of the demo: the seed, sizes, and the demo grid (see ``regions.demo_grid``).
SYNTHETIC_DEFAULTS: Mapping[str, int] = MappingProxyType(
    {
        "seed": 20251126,
        "n_buildings": 30000,
        "hours": 720,
        "region_rows": 600,
        "region_cols": 450,
        "n_region_rows": 3,
        "n_region_cols": 4,
    }
)

#: Parameters of the inputs under a root, written before anything else.
MANIFEST_FILE = "synthetic-inputs.json"
#: The layout of what the generator writes; raised when it changes (2: the real stores'
#: attributes on every input). Inputs of an older format are regenerated.
GENERATOR_FORMAT = 2

# One independent random stream per component, so that which files are (re)written and in
# what order never changes the values.
_STREAMS = {"landscape": 1, "riley": 2, "scott": 3, "buildings": 4, "weather": 5}


def _log(message: str) -> None:
    print(f"[synthetic] {message}", flush=True)


class _Synthesis:
    """The synthetic data, each piece computed on first use."""

    def __init__(self, grid: RegionGrid, seed: int, n_buildings: int, hours: int) -> None:
        self.grid, self.seed, self.n_buildings, self.hours = grid, seed, n_buildings, hours

    def rng(self, stream: str) -> np.random.Generator:
        return np.random.default_rng([self.seed, _STREAMS[stream]])

    @cached_property
    def census(self) -> dict[str, gpd.GeoDataFrame]:
        return vectors.census_frames(self.grid)

    @cached_property
    def landscape(self) -> Landscape:
        no_towns = vectors.empty_county_bounds(self.grid)
        return make_landscape(self.grid, self.rng("landscape"), no_towns)

    @cached_property
    def riley_270m(self) -> dict[int, xr.DataArray]:
        return rasters.riley_270m(self.landscape, self.rng("riley"))

    @cached_property
    def riley_30m(self) -> dict[int, xr.DataArray]:
        return {year: rasters.riley_30m(da, self.grid) for year, da in self.riley_270m.items()}

    @cached_property
    def scott(self) -> xr.Dataset:
        return rasters.scott(self.landscape, self.riley_30m[2011], self.rng("scott"))

    @cached_property
    def valid_region_ids(self) -> list[str]:
        return valid_region_ids_of(self.scott["CRPS"], self.grid)

    def _valid_at(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """True where every 30 m raster has data in the pixel containing each point."""
        g = self.grid
        col = np.floor((lon - g.west) / g.pixel_size).astype(np.int64)
        row = np.floor((lat - g.south) / g.pixel_size).astype(np.int64)
        inside = (row >= 0) & (row < g.height) & (col >= 0) & (col < g.width)
        ok = np.zeros(lon.shape, dtype=bool)
        stack = [self.scott[v].values for v in ("CRPS", "RPS", "BP")]
        stack += [self.riley_30m[year].values for year in RILEY_YEARS]
        ok[inside] = np.all([~np.isnan(a[row[inside], col[inside]]) for a in stack], axis=0)
        return ok

    @cached_property
    def buildings(self) -> gpd.GeoDataFrame:
        return vectors.buildings_frame(
            self.grid,
            self.landscape,
            self._valid_at,
            self.census["blocks"],
            self.rng("buildings"),
            self.n_buildings,
        )

    @cached_property
    def conus404(self) -> xr.Dataset:
        return weather.conus404(self.grid, self.rng("weather"), self.hours)


def _to_icechunk(
    ds: xr.Dataset, path: Path, chunks: Mapping[str, tuple[int, ...]], message: str
) -> None:
    """Write ``ds`` as a new Icechunk repository at ``path``: one commit on branch ``main``.

    The chunks are merged into each variable's encoding rather than passed as ``encoding=``,
    which would replace it and drop odc-geo's ``grid_mapping`` (the link to ``spatial_ref``).
    """
    ds = ds.copy()
    for name, shape in chunks.items():
        ds[name].encoding = {**ds[name].encoding, "chunks": shape}
    session = icechunk.Repository.create(
        icechunk.local_filesystem_storage(str(path))
    ).writable_session(INPUT_BRANCH)
    ds.to_zarr(session.store, mode="w-", zarr_format=3, consolidated=False)
    session.commit(message)


def _write_geoparquet(gdf: gpd.GeoDataFrame, path: Path) -> None:
    """GeoParquet the way the published census files are written (GeoPandas, GeoParquet 1.1)."""
    gdf.to_parquet(
        path,
        index=False,
        compression="zstd",
        geometry_encoding="WKB",
        write_covering_bbox=True,
        schema_version="1.1.0",
    )


def _write_json(doc: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(doc, indent=2) + "\n")


def _older_format(manifest_path: Path, manifest: dict) -> bool:
    """Whether ``manifest_path`` records the same parameters written by an older format."""
    if not manifest_path.exists():
        return False
    found = json.loads(manifest_path.read_text())
    older = found.get("format", 1) < GENERATOR_FORMAT
    same = {k: v for k, v in found.items() if k != "format"} == {
        k: v for k, v in manifest.items() if k != "format"
    }
    return older and same


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def _write_atomically(final: Path, writer: Callable[[Path], None]) -> None:
    """Run ``writer`` on a temporary sibling of ``final``, then rename it into place."""
    final.parent.mkdir(parents=True, exist_ok=True)
    partial = final.with_name(f".{final.name}.partial")
    _remove(partial)
    writer(partial)
    os.replace(partial, final)


def _capped(shape: tuple[int, ...], chunks: tuple[int, ...]) -> tuple[int, ...]:
    """``chunks`` no larger than ``shape``."""
    return tuple(min(n, c) for n, c in zip(shape, chunks, strict=True))


def _writers(s: _Synthesis) -> dict[str, Callable[[Path], None]]:
    """Output name (its prefix under the root) -> writer, in writing order (valid IDs last).

    Every input has the published prefix and format: Icechunk repositories with the published
    chunking (30 m rasters one chunk per region, Riley 270 m ``6000 x 4500``, CONUS404 time
    whole by ``10 x 10`` pixels), the buildings as the published tagged-buildings GeoParquet,
    the census levels as GeoPandas GeoParquet 1.1 labelled NAD83.
    """
    grid = s.grid
    region_chunks = (grid.region_rows, grid.region_cols)
    out: dict[str, Callable[[Path], None]] = {}
    for year in RILEY_YEARS:

        def write_270m(path: Path, year: int = year) -> None:
            # The published store is sorted ascending in y (south-up).
            da = s.riley_270m[year].sortby("y")
            chunks = _capped(da.shape, (6000, 4500))
            ds = da.to_dataset().assign_attrs(rasters.RILEY_ATTRS, climate_run_year=str(year))
            _to_icechunk(ds, path, {"BP": chunks}, "Processed dataset")

        def write_30m(path: Path, year: int = year) -> None:
            ds = s.riley_30m[year].to_dataset()
            ds.attrs = {
                **rasters.RILEY_ATTRS,
                "EPSG": "4326",
                "resolution": "30m",
                "climate_run_year": str(year),
                "crs": "EPSG:4326",
                **grid.to_dict(),
            }
            _to_icechunk(ds, path, {"BP": region_chunks}, "Processed dataset")

        out[riley_store(year, "270m-5070")] = write_270m
        out[riley_store(year, "30m-4326")] = write_30m
    out[SCOTT_STORE] = lambda path: _to_icechunk(
        s.scott, path, dict.fromkeys(("CRPS", "RPS", "BP"), region_chunks), "Processed dataset"
    )
    for name in CONUS404_VARIABLES:

        def write_hourly(path: Path, name: str = name) -> None:
            ds = s.conus404[[name]].drop_vars("crs")
            chunks = _capped(ds[name].shape, (ds.sizes["time"], 10, 10))
            _to_icechunk(ds, path, {name: chunks}, "Processed dataset")

        out[conus404_store(name)] = write_hourly

    def write_constants(path: Path) -> None:
        ds = s.conus404[list(CONUS404_CONSTANT_VARIABLES)].drop_vars(["lat", "lon"])
        ds = ds.reset_coords("crs")
        chunks = _capped(ds["SINALPHA"].shape, (175, 175))
        _to_icechunk(
            ds, path, dict.fromkeys(CONUS404_CONSTANT_VARIABLES, chunks), "Spatial constants"
        )

    out[conus404_store(CONUS404_CONSTANTS)] = write_constants
    for level in CENSUS_LEVELS:
        out[census_file(level)] = lambda path, level=level: _write_geoparquet(
            s.census[level].set_crs(vectors.CENSUS_CRS, allow_override=True), path
        )
    out[BUILDINGS_FILE] = lambda path: pq.write_table(
        vectors.tagged_buildings_table(s.buildings), path, compression="zstd"
    )
    out[VALID_REGION_IDS_FILE] = lambda path: _write_json(
        valid_region_ids_document(s.valid_region_ids, grid), path
    )
    return out


def input_names() -> list[str]:
    """Relative paths of every input the generator writes (besides its manifest)."""
    return list(_writers(_Synthesis(demo_grid(), 0, 1, 24)))


def _check_arguments(grid: RegionGrid, n_buildings: int, hours: int) -> None:
    if abs(grid.pixel_size - PIXEL_SIZE_DEGREES) > 1e-15:
        raise ValueError(
            f"grid.pixel_size must be {PIXEL_SIZE_DEGREES!r} degree like the real data, "
            f"got {grid.pixel_size!r}"
        )
    if grid.n_region_rows < 2 or grid.n_region_cols < 2:
        raise ValueError(
            "the synthetic landscape needs at least 2 x 2 regions, got "
            f"{grid.n_region_rows} x {grid.n_region_cols}"
        )
    if n_buildings < 1:
        raise ValueError(f"n_buildings must be >= 1, got {n_buildings!r}")
    if hours < 24:
        raise ValueError(f"hours must be >= 24, got {hours!r}")


def generate_inputs(
    root: str | Path,
    grid: RegionGrid | None = None,
    seed: int = SYNTHETIC_DEFAULTS["seed"],
    n_buildings: int = SYNTHETIC_DEFAULTS["n_buildings"],
    hours: int = SYNTHETIC_DEFAULTS["hours"],
    force: bool = False,
) -> dict[str, Any]:
    """Write the synthetic mini-CONUS inputs under ``root`` (only those that are missing).

    Every input is written to a hidden temporary name and renamed into place, so an
    interrupted run leaves no half-written input; a rerun completes the set. The parameters
    are recorded in ``synthetic-inputs.json`` first; a rerun with different parameters on the
    same root is refused unless ``force`` is set, which deletes and rewrites every input.

    Args:
        root: Local folder to write into (created if needed).
        grid: Region grid; ``demo_grid()`` (3 x 4 regions of 600 x 450 px) by default.
        seed: Seed of all random streams; the same seed gives identical inputs.
        n_buildings: Number of building footprints.
        hours: Number of hourly CONUS404 time steps.
        force: Delete existing inputs and regenerate them all.

    Returns:
        A summary: ``root``, ``grid`` (parameters), ``seed``, ``n_buildings``, ``hours``,
        ``valid_region_ids``, ``written`` and ``kept`` (input names), ``seconds``.
    """
    started = time.perf_counter()
    grid = grid if grid is not None else demo_grid()
    _check_arguments(grid, n_buildings, hours)
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    synthesis = _Synthesis(grid, seed, n_buildings, hours)
    writers = _writers(synthesis)
    manifest = {
        "generator": "ocr_assets.synthetic",
        "format": GENERATOR_FORMAT,
        "seed": seed,
        "n_buildings": n_buildings,
        "hours": hours,
        "grid": grid.to_dict(),
    }
    manifest_path = root / MANIFEST_FILE
    if not force and _older_format(manifest_path, manifest):
        _log(
            f"{root}: inputs of an older generator format (now {GENERATOR_FORMAT}); "
            "writing them again"
        )
        force = True
    if force:
        for name in [MANIFEST_FILE, *writers]:
            _remove(root / name)
    if manifest_path.exists():
        found = json.loads(manifest_path.read_text())
        if found != manifest:
            raise ValueError(
                f"{manifest_path} records other parameters ({found}) than requested "
                f"({manifest}); pass force=True (--force) or use another root"
            )
    else:
        existing = [name for name in writers if (root / name).exists()]
        if existing:
            raise ValueError(
                f"{root} holds inputs {existing} but no {MANIFEST_FILE}; pass force=True "
                "(--force) to replace them or use another root"
            )
        _write_atomically(manifest_path, lambda path: _write_json(manifest, path))

    written, kept = [], []
    for name, writer in writers.items():
        final = root / name
        if final.exists():
            kept.append(name)
            continue
        t0 = time.perf_counter()
        _write_atomically(final, writer)
        written.append(name)
        _log(f"wrote {name} ({time.perf_counter() - t0:.1f} s)")
    if kept:
        _log(f"kept {len(kept)} existing inputs under {root}")

    doc = json.loads((root / VALID_REGION_IDS_FILE).read_text())
    return {
        "root": str(root),
        "grid": grid.to_dict(),
        "seed": seed,
        "n_buildings": n_buildings,
        "hours": hours,
        "valid_region_ids": doc["region_ids"],
        "written": written,
        "kept": kept,
        "seconds": round(time.perf_counter() - started, 3),
    }
