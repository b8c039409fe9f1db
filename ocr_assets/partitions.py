"""The region partitions: one partition per valid processing region of the inputs.

Which regions are valid (hold any CRPS data) is a property of the inputs, so the partition set is
read from the input catalog when the Definitions load. Before any input exists (a fresh clone,
``dagster definitions validate`` in CI) it falls back to every region of the demo grid, so the
code location always loads and the asset graph is the same; runs then fail with the catalog's
message about the missing inputs.

A deployment narrows the partitions to its region selection (``OCR_REGIONS``: the QA set, the
staging set, explicit IDs or ``all``), so the roll-ups, which read every region partition,
are built from exactly the deployed regions.
"""

from __future__ import annotations

import dagster as dg

from ocr_assets.catalog import InputCatalog
from ocr_assets.deploy.environments import select_regions
from ocr_assets.regions import demo_grid


def valid_region_ids(input_root: str) -> list[str]:
    """Valid region IDs of the inputs under ``input_root`` (demo grid's IDs when absent)."""
    try:
        return InputCatalog(input_root).valid_region_ids()
    except FileNotFoundError:
        return demo_grid().all_region_ids()


def region_partitions(
    input_root: str, selection: str | None = None
) -> dg.StaticPartitionsDefinition:
    """A static partition per valid region ID, in grid order (north-west first).

    With ``selection`` (``OCR_REGIONS`` syntax), only the selected regions.

    Raises:
        DeploymentError: naming ``OCR_REGIONS`` when the selection is malformed, lies outside
            the grid or names regions without input data.
    """
    region_ids = valid_region_ids(input_root)
    if selection is None or not selection.strip():
        return dg.StaticPartitionsDefinition(region_ids)
    try:
        grid = InputCatalog(input_root).grid
    except FileNotFoundError:
        grid = demo_grid()
    chosen = set(select_regions(selection, grid, region_ids))
    return dg.StaticPartitionsDefinition([rid for rid in region_ids if rid in chosen])
