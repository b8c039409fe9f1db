"""Where each input lives below the input root: the prefixes of the published bucket ``carbonplan-ocr``.

``InputCatalog(root)`` (:mod:`ocr_assets.catalog.inputs`) finds every input at the prefix it has in
the published bucket, so ``root`` may be ``s3://carbonplan-ocr`` itself, any copy of it, or the
synthetic demo inputs written by :mod:`ocr_assets.synthetic`:

=============================================================================  ====================
``input/fire-risk/tensor/USFS/scott-et-al-2024/processed-30m-4326.icechunk``   ``CRPS``, ``RPS``, ``BP``
``input/fire-risk/tensor/USFS/riley-et-al-2025/{year}-climate-run-270m-5070.icechunk``  ``BP`` (y, x)
``input/fire-risk/tensor/USFS/riley-et-al-2025/{year}-climate-run-30m-4326.icechunk``   ``BP``
``input/conus404-hourly-icechunk/{PSFC,Q2,T2,TD2,U10,V10}``                      one variable each
``input/conus404-hourly-icechunk/constants``                                  ``SINALPHA``, ``COSALPHA``, ``crs``
``input/fire-risk/vector/overture-maps/CONUS-overture-region-tagged-buildings-2025-09-24.0.parquet``
``input/fire-risk/vector/census-tiger/{level}/{level}.parquet``                ``GEOID``, ``geometry``
``valid_region_ids.json``                                                     cache of valid region IDs
=============================================================================  ====================

Pure: names and numbers, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping

from ocr_assets.data import CENSUS_LEVELS
from ocr_assets.regions import CONUS_GRID

#: Icechunk branch the inputs are read from.
INPUT_BRANCH = "main"

_USFS = "input/fire-risk/tensor/USFS"

SCOTT_STORE = f"{_USFS}/scott-et-al-2024/processed-30m-4326.icechunk"

#: The Scott variables the pipeline reads (the store has 8; these must be float32).
SCOTT_VARIABLES: tuple[str, ...] = ("CRPS", "RPS", "BP")

CONUS404_PREFIX = "input/conus404-hourly-icechunk"

#: The hourly CONUS404 variables (one Icechunk repository each) and their WRF units.
CONUS404_UNITS: Mapping[str, str] = {
    "PSFC": "Pa",
    "Q2": "kg kg-1",
    "T2": "K",
    "TD2": "K",
    "U10": "m s-1",
    "V10": "m s-1",
}

CONUS404_VARIABLES: tuple[str, ...] = tuple(CONUS404_UNITS)

#: What each CONUS404 variable is, as error messages name it.
CONUS404_QUANTITIES: Mapping[str, str] = {
    "PSFC": "surface pressure",
    "Q2": "2 m water vapour mixing ratio",
    "T2": "2 m air temperature",
    "TD2": "2 m dew point temperature",
    "U10": "grid-relative eastward wind",
    "V10": "grid-relative northward wind",
    "SINALPHA": "sine of the grid rotation",
    "COSALPHA": "cosine of the grid rotation",
}

#: The repository of the CONUS404 spatial constants (this project's convention, see the docs).
CONUS404_CONSTANTS = "constants"

CONUS404_CONSTANT_VARIABLES: tuple[str, ...] = ("SINALPHA", "COSALPHA")

BUILDINGS_FILE = (
    "input/fire-risk/vector/overture-maps/"
    "CONUS-overture-region-tagged-buildings-2025-09-24.0.parquet"
)

#: Columns of the region-tagged buildings file, in the published order.
BUILDINGS_COLUMNS: tuple[str, ...] = (
    "geometry",
    "bbox",
    "block_geoid",
    "block_group_geoid",
    "tract_geoid",
    "county_geoid",
    "state_fips",
    "county_fips",
    "tract_fips",
    "block_group_fips",
    "block_fips",
    "state_abbrev",
    "county_name",
)

#: The building columns the pipeline reads besides the geometry.
BUILDING_TAGS: tuple[str, ...] = ("block_geoid", "state_abbrev", "county_name")

CENSUS_PREFIX = "input/fire-risk/vector/census-tiger"

VALID_REGION_IDS_FILE = "valid_region_ids.json"

#: The two climates of the Riley et al. 2025 burn probability.
RILEY_YEARS: tuple[int, ...] = (2011, 2047)

#: Degrees added around a bounding-box query on the vectors' ``bbox`` column: Overture stores
#: it as float32, whose rounding (under 1e-5 degree on CONUS) must not drop a footprint.
BBOX_QUERY_MARGIN_DEG = 1e-5

#: Pixel size of the Scott (and Riley 30 m) grid in degrees (about 34 m by 25 m at 40 N).
PIXEL_SIZE_DEGREES = CONUS_GRID.pixel_size

#: Pixel size of the Riley native grid, metres (EPSG:5070).
RILEY_RESOLUTION_M = 270.0

#: Extra coarse pixels kept around a region's buffered window in ``riley_270m``.
RILEY_WINDOW_MARGIN_PIXELS = 3

HOW_TO_GENERATE = (
    "generate the synthetic demo inputs with `make demo` or "
    "`python -m ocr_assets.synthetic --root {root}`"
)


def riley_store(year: int, resolution: str) -> str:
    """Prefix of a Riley et al. 2025 repository: ``resolution`` is ``'270m-5070'`` or ``'30m-4326'``."""
    if year not in RILEY_YEARS:
        raise ValueError(f"unknown Riley year {year!r}: expected one of {RILEY_YEARS}")
    if resolution not in ("270m-5070", "30m-4326"):
        raise ValueError(
            f"unknown Riley resolution {resolution!r}: expected '270m-5070' or '30m-4326'"
        )
    return f"{_USFS}/riley-et-al-2025/{year}-climate-run-{resolution}.icechunk"


def conus404_store(name: str) -> str:
    """Prefix of a CONUS404 repository: one of :data:`CONUS404_VARIABLES` or ``'constants'``."""
    if name not in (*CONUS404_VARIABLES, CONUS404_CONSTANTS):
        raise ValueError(
            f"unknown CONUS404 repository {name!r}: expected one of "
            f"{(*CONUS404_VARIABLES, CONUS404_CONSTANTS)}"
        )
    return f"{CONUS404_PREFIX}/{name}"


def census_file(level: str) -> str:
    """Prefix of a census level's GeoParquet file (``.../census-tiger/{level}/{level}.parquet``)."""
    if level not in CENSUS_LEVELS:
        raise ValueError(f"unknown census level {level!r}: expected one of {CENSUS_LEVELS}")
    return f"{CENSUS_PREFIX}/{level}/{level}.parquet"


#: Every input prefix of the layout above (what :meth:`InputCatalog.input_versions` identifies).
INPUT_NAMES: tuple[str, ...] = (
    SCOTT_STORE,
    *(riley_store(year, res) for year in RILEY_YEARS for res in ("270m-5070", "30m-4326")),
    *(conus404_store(name) for name in (*CONUS404_VARIABLES, CONUS404_CONSTANTS)),
    BUILDINGS_FILE,
    *(census_file(level) for level in CENSUS_LEVELS),
)
