"""Staleness that follows the inputs: a region is current only if its inputs have not changed.

Each region commit of the raster store records, under
:data:`~ocr_assets.storage.raster_store.INPUT_VERSIONS` in its commit metadata, the identities (:meth:`~ocr_assets.catalog.InputCatalog.input_versions`) of the
inputs the region was computed from (:data:`REGION_INPUT_NAMES`). A committed region is stale
when any recorded identity differs from the input's current one, or when the commit records
none (written before identities were recorded): its inputs are unknown, so it is recomputed.

The region assets after the rasters read rows of the vector inputs (:data:`ASSET_ROW_INPUTS`):
each records, in its file's metadata, the identities of the region's rows it read
(:mod:`ocr_assets.catalog.rows`). :func:`stale_region_assets` compares such records with the
current identities: an asset whose rows changed is recomputed with the region assets
downstream of it (:data:`REGION_DOWNSTREAM`), the rasters are not.
"""

from __future__ import annotations

from collections.abc import Mapping

from ocr_assets.catalog.inputs import InputCatalog
from ocr_assets.catalog.layout import (
    BUILDINGS_FILE,
    RILEY_YEARS,
    SCOTT_STORE,
    census_file,
    riley_store,
)
from ocr_assets.data import CENSUS_LEVELS
from ocr_assets.storage.raster_store import INPUT_VERSIONS, RasterStore

#: The inputs a region's rasters are computed from (``InputCatalog.region_inputs``).
REGION_INPUT_NAMES: tuple[str, ...] = (
    SCOTT_STORE,
    *(riley_store(year, res) for year in RILEY_YEARS for res in ("270m-5070", "30m-4326")),
)


#: The region assets reading rows of vector inputs, each with the inputs whose region rows it
#: reads (besides its upstream assets' values).
ASSET_ROW_INPUTS: dict[str, tuple[str, ...]] = {
    "region_buildings": (BUILDINGS_FILE,),
    "region_statistics_partials": tuple(census_file(level) for level in CENSUS_LEVELS),
}
#: The region assets after the rasters, in order, each with the region assets built from it.
REGION_DOWNSTREAM: dict[str, tuple[str, ...]] = {
    "region_buildings": ("region_statistics_partials", "region_tile_features"),
    "region_statistics_partials": (),
    "region_tile_features": (),
}


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


def row_input_names() -> tuple[str, ...]:
    """Every vector input some region asset reads rows of."""
    return tuple(dict.fromkeys(name for names in ASSET_ROW_INPUTS.values() for name in names))


def stale_region_assets(
    recorded: Mapping[str, object], current: Mapping[str, str]
) -> tuple[str, ...]:
    """The region assets (after the rasters) to recompute for one region, in order: those
    whose ``recorded`` rows (asset -> its file's record, ``None`` when it has none) differ
    from the ``current`` identities of the region's rows (input -> identity), with every
    region asset downstream of them. Empty: the region's outputs are current."""
    stale = {
        asset
        for asset, names in ASSET_ROW_INPUTS.items()
        if changed_inputs(recorded.get(asset), {name: current[name] for name in names})
    }
    for asset in REGION_DOWNSTREAM:  # in order: upstream first
        if asset in stale:
            stale.update(REGION_DOWNSTREAM[asset])
    return tuple(asset for asset in REGION_DOWNSTREAM if asset in stale)
