"""Hand-built inputs for the roll-up tests (``test_rollups_*.py``), with known answers.

Census (EPSG:4326), a strip 3 degrees wide and 1 high::

    x:  0      0.5      1         2         3
        | blk 1000 | blk 1001 | blk 06003 | blk 41001 |   blocks
        |    county 06001     | cty 06003 | cty 41001 |   counties (= tracts)
        |          state 06 (CA)          | 41 (OR)   |   states
        |              nation US                      |

Buildings are squares centred on the listed points; ``a3`` sits exactly on the boundary
x = 1 between county 06001 and county 06003 (and between their blocks), and belongs to the
smaller GEOIDs (06001, block ...1001). County 41001 has no buildings. Region ``A`` holds a1..a3,
region ``B`` holds b1, b2.

Region files have the published region table (no building id): a building is recognised by
its ``crps_scott``, unique per building (:func:`names_of`).
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ocr_assets.rollups import (
    CensusPolygons,
    DatasetMetadata,
    census_polygons,
    write_region_partial,
)
from ocr_assets.rollups.schema import RISK_VARIABLES

METADATA = DatasetMetadata(version="1.2.3")
HALF_SIZE = 0.0625

#: id -> (region, x, y, rps_2011, rps_2047)
BUILDINGS: dict[str, tuple[str, float, float, float, float]] = {
    "a1": ("A", 0.25, 0.5, 0.0, 0.005),
    "a2": ("A", 0.75, 0.5, 0.0625, 2.0),
    "a3": ("A", 1.0, 0.5, 50.0, 50.0),
    "b1": ("B", 1.5, 0.5, 0.5, 0.5),
    "b2": ("B", 1.5, 0.25, 3.0, 100.0),
}

#: Expected membership per level (polygons without buildings are absent from the statistics).
MEMBERS: dict[str, dict[str, list[str]]] = {
    "nation": {"US": ["a1", "a2", "a3", "b1", "b2"]},
    "states": {"06": ["a1", "a2", "a3", "b1", "b2"], "41": []},
    "counties": {"06001": ["a1", "a2", "a3"], "06003": ["b1", "b2"], "41001": []},
    "tracts": {
        "06001000100": ["a1", "a2", "a3"],
        "06003000100": ["b1", "b2"],
        "41001000100": [],
    },
    "blocks": {
        "060010001001000": ["a1"],
        "060010001001001": ["a2", "a3"],
        "060030001001000": ["b1", "b2"],
        "410010001001000": [],
    },
}

_BLOCK_OF = {
    building: geoid for geoid, members in MEMBERS["blocks"].items() for building in members
}


def variables_of(building: str) -> dict[str, np.float32]:
    """All eight variables of a hand-built building (float32): RPS as listed, the rest derived."""
    _, _, _, rps_2011, rps_2047 = BUILDINGS[building]
    k = int(building[1]) + (0 if building[0] == "a" else 3)
    values = {
        "bp_2011": 0.1 * k,
        "bp_2047": 0.11 * k,
        "rps_2011": rps_2011,
        "rps_2047": rps_2047,
        "crps_scott": 10.0 * k,
        "rps_scott": 1.0 * k,
        "bp_2011_riley": 0.05 * k,
        "bp_2047_riley": 0.06 * k,
    }
    return {name: np.float32(values[name]) for name in RISK_VARIABLES}


def names_of(crps_scott: pd.Series) -> list[str]:
    """The hand-built buildings with these ``crps_scott`` values, in order."""
    by_value = {float(variables_of(b)["crps_scott"]): b for b in BUILDINGS}
    return [by_value[float(value)] for value in crps_scott]


def building_frame(ids: list[str]) -> gpd.GeoDataFrame:
    """The region building table (the published columns, in order) of hand-built buildings."""
    geometry = [
        shapely.box(x - HALF_SIZE, y - HALF_SIZE, x + HALF_SIZE, y + HALF_SIZE)
        for _, x, y, _, _ in (BUILDINGS[i] for i in ids)
    ]
    columns: dict[str, object] = {
        name: np.array([variables_of(i)[name] for i in ids], dtype=np.float32)
        for name in RISK_VARIABLES
    }
    columns["GEOID"] = pd.Series([_BLOCK_OF.get(i, "060010001001000") for i in ids], dtype=str)
    columns["state"] = pd.Series(["CA"] * len(ids), dtype=str)
    columns["county"] = pd.Series(["Alpha"] * len(ids), dtype=str)
    return gpd.GeoDataFrame(columns, geometry=geometry, crs="EPSG:4326")


def write_region(frame: gpd.GeoDataFrame, path: Path) -> str:
    """Write ``frame`` as the region building GeoParquet 1.1 (zstd, covering bbox)."""
    frame.to_parquet(
        path, compression="zstd", write_covering_bbox=True, schema_version="1.1.0", index=False
    )
    return str(path)


def region_files(folder: Path) -> dict[str, str]:
    """Region files ``A`` (a1..a3) and ``B`` (b1, b2) written into ``folder``."""
    regions: dict[str, list[str]] = {}
    for building, (region, *_rest) in BUILDINGS.items():
        regions.setdefault(region, []).append(building)
    return {
        region: write_region(building_frame(ids), folder / f"{region}.parquet")
        for region, ids in sorted(regions.items())
    }


def census_frames() -> dict[str, gpd.GeoDataFrame]:
    """The census polygons of the hand-built case, per level (rows deliberately unsorted)."""

    def frame(rows: list[tuple[str, tuple[float, float, float, float]]], **extra: list[str]):
        return gpd.GeoDataFrame(
            {"GEOID": [g for g, _ in rows], **extra},
            geometry=[shapely.box(*b) for _, b in rows],
            crs="EPSG:4326",
        )

    return {
        "nation": frame([("US", (0, 0, 3, 1))], NAME=["United States"]),
        "states": frame(
            [("41", (2, 0, 3, 1)), ("06", (0, 0, 2, 1))],
            NAME=["Oregon", "California"],
            STUSPS=["OR", "CA"],
        ),
        "counties": frame(
            [("41001", (2, 0, 3, 1)), ("06003", (1, 0, 2, 1)), ("06001", (0, 0, 1, 1))],
            NAME=["Gamma", "Beta", "Alpha"],
        ),
        "tracts": frame(  # tracts and blocks have NAME columns the statistics do not carry
            [
                ("06003000100", (1, 0, 2, 1)),
                ("41001000100", (2, 0, 3, 1)),
                ("06001000100", (0, 0, 1, 1)),
            ],
            NAME=["Tract 1", "Tract 1", "Tract 1"],
        ),
        "blocks": frame(
            [
                ("060030001001000", (1, 0, 2, 1)),
                ("060010001001001", (0.5, 0, 1, 1)),
                ("410010001001000", (2, 0, 3, 1)),
                ("060010001001000", (0, 0, 0.5, 1)),
            ],
            NAME=["Block 1000", "Block 1001", "Block 1000", "Block 1000"],
        ),
    }


def census() -> dict[str, CensusPolygons]:
    """The validated census polygons of the hand-built case."""
    return {
        level: census_polygons(frame, level, f"hand-built {level}")
        for level, frame in census_frames().items()
    }


def write_partial(buildings: str, census: dict[str, CensusPolygons], location: Path) -> str:
    """Write the region partial of ``buildings`` into the folder ``location``; the folder (what
    :func:`~ocr_assets.rollups.summary_statistics` and the checks read)."""
    write_region_partial(buildings, census, str(location))
    return str(location)
