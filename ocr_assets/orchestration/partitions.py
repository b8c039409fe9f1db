"""The region partitions: one dynamic partition per processing region a deployment selected.

Loading the code location never opens the inputs (an unreachable store must not stop
``dagster definitions validate`` or the UI), and which regions hold data is known only from the
inputs, so the region assets share one dynamic partitions definition, :data:`REGION_PARTITIONS`
(``regions``). Every deployment (and so ``make demo``) adds the regions it selects
(:func:`add_region_partitions`); a region is never removed, so re-running a few regions keeps
every other region's partition and history in the UI. Regions can also be added from the UI's
partitions page.
"""

from __future__ import annotations

from collections.abc import Iterable

import dagster as dg

from ocr_assets.regions import region_sort_key

#: The region partitions of every region-partitioned asset.
REGION_PARTITIONS = dg.DynamicPartitionsDefinition(name="regions")


def add_region_partitions(instance: dg.DagsterInstance, region_ids: Iterable[str]) -> list[str]:
    """Add ``region_ids`` to the region partitions of ``instance``; return the ones added.

    The partitions stay listed south-west first (grid order): when a new region sorts before
    one already known, the keys are listed again in order (a partition's materializations and
    check results are kept by key, so nothing is lost; if listing them again fails half way,
    the known keys are put back before the error is raised).
    """
    name = REGION_PARTITIONS.name
    current = list(instance.get_dynamic_partitions(name))
    added = sorted(set(region_ids) - set(current), key=region_sort_key)
    if not added:
        return []
    wanted = sorted([*current, *added], key=region_sort_key)
    if wanted[: len(current)] == current:
        instance.add_dynamic_partitions(name, added)
        return added
    try:
        for region_id in current:
            instance.delete_dynamic_partition(name, region_id)
        instance.add_dynamic_partitions(name, wanted)
    except Exception:
        missing = [key for key in current if not instance.has_dynamic_partition(name, key)]
        instance.add_dynamic_partitions(name, missing)
        raise
    return added
