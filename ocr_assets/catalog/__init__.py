"""The inputs: where they live, how they are read and checked, and how their changes are noticed.

==========================  ======================================================================
module                      what
==========================  ======================================================================
:mod:`.layout`              the prefix of every input below the root (the published bucket's)
:mod:`.inputs`              :class:`InputCatalog`: opening, validating, a region's inputs
:mod:`.grid`                the region grid read from the CRPS store; the valid region IDs
:mod:`.validation`          checks of variables, dims, CRSs, spacing and units
:mod:`.vectors`             GeoParquet inputs and bounding-box queries
:mod:`.identity`            identities of inputs (Icechunk snapshots, ETags, hashes)
:mod:`.staleness`           which committed regions were computed from other inputs
:mod:`.rows`                per-region identities of the buildings' and census rows
==========================  ======================================================================

Imports only the layers below it (``storage``, ``regions``, ``data``); see
``docs/architecture.md``.
"""

from ocr_assets.catalog.inputs import InputCatalog, RegionInputs
from ocr_assets.catalog.layout import (
    BUILDING_TAGS,
    BUILDINGS_COLUMNS,
    BUILDINGS_FILE,
    RILEY_RESOLUTION_M,
    RILEY_YEARS,
    SCOTT_STORE,
    census_file,
    conus404_store,
    riley_store,
)

__all__ = [
    "BUILDINGS_COLUMNS",
    "BUILDINGS_FILE",
    "BUILDING_TAGS",
    "RILEY_RESOLUTION_M",
    "RILEY_YEARS",
    "SCOTT_STORE",
    "InputCatalog",
    "RegionInputs",
    "census_file",
    "conus404_store",
    "riley_store",
]
