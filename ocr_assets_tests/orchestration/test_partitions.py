"""The region partitions: a selection adds to them, never removes, and they stay in grid order."""

from __future__ import annotations

import dagster as dg
import pytest

from ocr_assets.orchestration.partitions import REGION_PARTITIONS, add_region_partitions


def listed(instance: dg.DagsterInstance) -> list[str]:
    return list(instance.get_dynamic_partitions(REGION_PARTITIONS.name))


def test_selections_add_regions_in_grid_order() -> None:
    instance = dg.DagsterInstance.ephemeral()
    assert add_region_partitions(instance, ["y1_x2", "y0_x10", "y0_x2"]) == [
        "y0_x2",
        "y0_x10",
        "y1_x2",
    ]
    # A re-run of one region: nothing removed, nothing added.
    assert add_region_partitions(instance, ["y1_x2"]) == []
    assert listed(instance) == ["y0_x2", "y0_x10", "y1_x2"]
    # A region that sorts first is listed first; the others keep their keys.
    assert add_region_partitions(instance, ["y0_x1", "y2_x0"]) == ["y0_x1", "y2_x0"]
    assert listed(instance) == ["y0_x1", "y0_x2", "y0_x10", "y1_x2", "y2_x0"]


def test_a_failure_while_listing_again_keeps_the_known_regions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    instance = dg.DagsterInstance.ephemeral()
    add_region_partitions(instance, ["y1_x1", "y1_x2"])
    add = instance.add_dynamic_partitions
    calls = []

    def fail_once(name: str, keys: list[str]) -> None:
        calls.append(keys)
        if len(calls) == 1:
            raise RuntimeError("the run storage went away")
        add(name, keys)

    monkeypatch.setattr(instance, "add_dynamic_partitions", fail_once)
    with pytest.raises(RuntimeError, match="went away"):
        add_region_partitions(instance, ["y0_x1"])
    assert listed(instance) == ["y1_x1", "y1_x2"]
