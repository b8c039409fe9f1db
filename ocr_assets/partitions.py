"""The region partitions: one partition per valid processing region, known without any I/O.

Loading the code location never opens the inputs (an unreachable store must not stop
``dagster definitions validate`` or the UI):

- inputs in the published bucket (``OCR_INPUT_ROOT`` at or below ``s3://carbonplan-ocr``, which
  the input layout mirrors) are on the published CONUS grid; its 405 valid region IDs ship with
  the package (:mod:`ocr_assets.data`). A deployment narrows them to its selection
  (``OCR_REGIONS``: the QA set, the staging set, explicit IDs or ``all``), so the roll-ups,
  which read every region partition, are built from exactly the deployed regions;
- any other root (the demo, tests, a cut-out of the real grid) gets the dynamic partitions
  :data:`REGION_PARTITIONS`, which the ``deploy`` job (and so ``make demo``) sets to the
  selected valid regions before running them (:func:`sync_region_partitions`).
"""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg

from ocr_assets.data import on_published_inputs, published_valid_region_ids
from ocr_assets.deploy.environments import select_regions
from ocr_assets.regions import CONUS_GRID

#: Name of the dynamic region partitions (inputs other than the published ones).
REGION_PARTITIONS = "regions"


def region_partitions(input_root: str, selection: str | None = None) -> dg.PartitionsDefinition:
    """The region partitions of the inputs under ``input_root``; reads nothing.

    Published inputs: a static partition per selected valid region ID, in grid order
    (south-west first); ``selection`` uses ``OCR_REGIONS`` syntax (``None``: every region).
    Other inputs: the dynamic partitions :data:`REGION_PARTITIONS` (``selection`` is applied
    when the ``deploy`` job fills them).

    Raises:
        DeploymentError: naming ``OCR_REGIONS`` when the selection is malformed, lies outside
            the published grid or names regions without input data.
    """
    if not on_published_inputs(input_root):
        return dg.DynamicPartitionsDefinition(name=REGION_PARTITIONS)
    region_ids = published_valid_region_ids()
    if selection is None or not selection.strip():
        return dg.StaticPartitionsDefinition(region_ids)
    chosen = set(select_regions(selection, CONUS_GRID, region_ids))
    return dg.StaticPartitionsDefinition([rid for rid in region_ids if rid in chosen])


def sync_region_partitions(
    partitions_def: dg.PartitionsDefinition,
    instance: dg.DagsterInstance,
    region_ids: Sequence[str],
) -> None:
    """Make ``region_ids`` the region partitions of a deployment on ``instance``.

    Dynamic partitions are set to exactly ``region_ids`` (added and removed; materializations of
    removed partitions stay in the event log). Static partitions must already hold them.

    Raises:
        ValueError: naming the regions a static partitions definition lacks.
    """
    if isinstance(partitions_def, dg.DynamicPartitionsDefinition):
        name = partitions_def.name
        current = set(instance.get_dynamic_partitions(name))
        for region_id in sorted(current - set(region_ids)):
            instance.delete_dynamic_partition(name, region_id)
        instance.add_dynamic_partitions(name, [r for r in region_ids if r not in current])
        return
    known = set(partitions_def.get_partition_keys())
    missing = [region_id for region_id in region_ids if region_id not in known]
    if missing:
        raise ValueError(
            f"region(s) {', '.join(missing)} are not region partitions of the code location "
            "(OCR_REGIONS differs between the code location and the deployment)"
        )
