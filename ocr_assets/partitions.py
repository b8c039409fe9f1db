"""The region partitions: one partition per valid processing region of the inputs.

Building them does no I/O when the inputs' grid is known in advance:

- inputs in the published bucket (``OCR_INPUT_ROOT`` at or below ``s3://carbonplan-ocr``, which
  the input layout mirrors) are the published data sets on the published CONUS grid; its 405
  valid region IDs ship with the package (:mod:`ocr_assets.data`), so no store is opened when
  the code location loads;
- any other root (the demo, tests, a cut-out of the real grid) holds inputs whose valid IDs are
  read through the input catalog (from its cached ``valid_region_ids.json``, computed from CRPS
  once when missing). Before any input exists (a fresh clone, ``dagster definitions validate``
  in CI) they are the demo grid's valid IDs, which ship with the package too, so the code
  location always loads and the asset graph is the same; runs then fail with the catalog's
  message about the missing inputs.

A deployment narrows the partitions to its region selection (``OCR_REGIONS``: the QA set, the
staging set, explicit IDs or ``all``), so the roll-ups, which read every region partition,
are built from exactly the deployed regions.
"""

from __future__ import annotations

import dagster as dg

from ocr_assets.catalog import InputCatalog
from ocr_assets.data import demo_valid_region_ids, on_published_inputs, published_valid_region_ids
from ocr_assets.deploy.environments import select_regions
from ocr_assets.regions import CONUS_GRID, RegionGrid


def valid_region_ids(input_root: str) -> tuple[RegionGrid, list[str]]:
    """The grid and valid region IDs of the inputs under ``input_root``.

    The published inputs get the shipped list without opening them; other roots the catalog's,
    or the demo grid's shipped list when the inputs are absent.
    """
    if on_published_inputs(input_root):
        return CONUS_GRID, published_valid_region_ids()
    catalog = InputCatalog(input_root)
    try:
        return catalog.grid, catalog.valid_region_ids()
    except FileNotFoundError:
        demo, region_ids = demo_valid_region_ids()
        return RegionGrid(**demo), region_ids


def region_partitions(
    input_root: str, selection: str | None = None
) -> dg.StaticPartitionsDefinition:
    """A static partition per valid region ID, in grid order (south-west first).

    With ``selection`` (``OCR_REGIONS`` syntax), only the selected regions.

    Raises:
        DeploymentError: naming ``OCR_REGIONS`` when the selection is malformed, lies outside
            the grid or names regions without input data.
    """
    grid, region_ids = valid_region_ids(input_root)
    if selection is None or not selection.strip():
        return dg.StaticPartitionsDefinition(region_ids)
    chosen = set(select_regions(selection, grid, region_ids))
    return dg.StaticPartitionsDefinition([rid for rid in region_ids if rid in chosen])
