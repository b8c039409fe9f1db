"""Staleness that follows the inputs: a region is current only if its inputs have not changed.

Each region commit of the raster store records, under
:data:`~ocr_assets.storage.raster_store.INPUT_VERSIONS` in its commit metadata, the identities (:meth:`~ocr_assets.catalog.InputCatalog.input_versions`) of the
inputs the region was computed from (:data:`REGION_INPUT_NAMES`). A committed region is stale
when any recorded identity differs from the input's current one, or when the commit records
none (written before identities were recorded): its inputs are unknown, so it is recomputed.
"""

from __future__ import annotations

from collections.abc import Mapping

from ocr_assets.catalog.inputs import InputCatalog
from ocr_assets.catalog.layout import RILEY_YEARS, SCOTT_STORE, riley_store
from ocr_assets.storage.raster_store import INPUT_VERSIONS, RasterStore

#: The inputs a region's rasters are computed from (``InputCatalog.region_inputs``).
REGION_INPUT_NAMES: tuple[str, ...] = (
    SCOTT_STORE,
    *(riley_store(year, res) for year in RILEY_YEARS for res in ("270m-5070", "30m-4326")),
)


def region_input_versions(catalog: InputCatalog) -> dict[str, str]:
    """The identities of the region inputs, as a region commit records them."""
    return catalog.input_versions(REGION_INPUT_NAMES)


def changed_inputs(recorded: object, current: Mapping[str, str]) -> list[str]:
    """The inputs whose identity in ``recorded`` (a commit's record) differs from ``current``.

    A missing or malformed record counts as every input changed.
    """
    if not isinstance(recorded, Mapping):
        return list(current)
    return [name for name, version in current.items() if recorded.get(name) != version]


def stale_regions(store: RasterStore, catalog: InputCatalog) -> dict[str, list[str]]:
    """Committed regions computed from other inputs than the current ones, each with the
    names of the inputs that changed since."""
    return {region_id: names for region_id, names in _changes(store, catalog).items() if names}


def current_regions(store: RasterStore, catalog: InputCatalog) -> set[str]:
    """Committed regions computed from the current inputs (those a deployment may skip)."""
    return {region_id for region_id, names in _changes(store, catalog).items() if not names}


def _changes(store: RasterStore, catalog: InputCatalog) -> dict[str, list[str]]:
    """Every committed region with the inputs changed since its commit (often none)."""
    commits = store.region_commits()
    if not commits:
        return {}
    current = region_input_versions(catalog)
    return {
        region_id: changed_inputs(info.metadata.get(INPUT_VERSIONS), current)
        for region_id, info in commits.items()
    }
