"""Data shipped with the package: the valid region IDs of the grids known in advance, and the
census levels of the published data sets.

- ``valid_region_ids.json``: the 405 region IDs of the published CONUS grid
  (:data:`ocr_assets.regions.CONUS_GRID`) whose CRPS is not all null, in grid order (row by row
  from the south-west), as the published pipeline ships them.
- ``demo_valid_region_ids.json``: the same for the synthetic demo grid
  (:func:`ocr_assets.regions.demo_grid`) with the generator's default seed, with the grid it
  refers to. The synthetic inputs are deterministic, so the list is known without generating
  them; a test recomputes it from the generator's landscape.

Reading these files is the only I/O here; they let the code location build its region
partitions without opening the input stores.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

PUBLISHED_VALID_REGION_IDS_FILE = "valid_region_ids.json"
DEMO_VALID_REGION_IDS_FILE = "demo_valid_region_ids.json"

#: The bucket of the published inputs (``OCR_INPUT_ROOT`` mirrors its layout).
PUBLISHED_BUCKET = "s3://carbonplan-ocr"
#: The census levels of the published inputs and statistics, coarsest first (the folder names
#: of the census inputs, ``input/fire-risk/vector/census-tiger/{level}/``).
CENSUS_LEVELS: tuple[str, ...] = ("nation", "states", "counties", "tracts", "blocks")


def _load(name: str) -> Any:
    return json.loads(resources.files(__name__).joinpath(name).read_text())


@cache
def _published() -> tuple[str, ...]:
    doc = _load(PUBLISHED_VALID_REGION_IDS_FILE)
    if not isinstance(doc, list) or not all(isinstance(rid, str) for rid in doc):
        raise ValueError(f"{PUBLISHED_VALID_REGION_IDS_FILE}: expected a JSON list of region IDs")
    return tuple(doc)


@cache
def _demo() -> tuple[dict[str, Any], tuple[str, ...]]:
    doc = _load(DEMO_VALID_REGION_IDS_FILE)
    if not isinstance(doc, dict) or not {"grid", "region_ids"} <= set(doc):
        raise ValueError(f"{DEMO_VALID_REGION_IDS_FILE}: expected 'grid' and 'region_ids'")
    return dict(doc["grid"]), tuple(doc["region_ids"])


def published_valid_region_ids() -> list[str]:
    """The valid region IDs of the published CONUS grid (405 IDs, south-west first)."""
    return list(_published())


def demo_valid_region_ids() -> tuple[dict[str, Any], list[str]]:
    """The demo grid's parameters (``RegionGrid.to_dict()``) and its valid region IDs."""
    grid, region_ids = _demo()
    return dict(grid), list(region_ids)


def on_published_inputs(input_root: str) -> bool:
    """Whether an input root lies in the published bucket, whose inputs are on the published
    grid (so :func:`published_valid_region_ids` are theirs); decided from the text alone."""
    root = input_root.rstrip("/")
    return root == PUBLISHED_BUCKET or root.startswith(PUBLISHED_BUCKET + "/")
