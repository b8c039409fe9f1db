"""The region inputs as observable source assets: their data version is the input's identity.

Observing them (the UI's "Observe sources" button) records the input's
current identity (:meth:`~ocr_assets.catalog.InputCatalog.input_versions`: the Icechunk
snapshot ID of ``main``, a file's ETag or content hash). ``region_risk_rasters`` depends on
them, so each materialization records the versions observed before it, and once an input is
observed with another identity, Dagster shows the regions computed from the older one as stale.

The vector inputs read per region (the buildings file, the census levels) are observable source
assets partitioned by region (:data:`ROW_INPUT_ASSETS`): each region's data version is the
identity of its rows (:meth:`~ocr_assets.catalog.InputCatalog.region_row_versions`), and the
region assets reading them depend on them, so a change of one region's rows makes only that
region's assets stale.
"""

from __future__ import annotations

import re
import warnings

import dagster as dg

from ocr_assets.catalog.layout import BUILDINGS_FILE
from ocr_assets.catalog.rows import NO_ROWS
from ocr_assets.catalog.staleness import REGION_INPUT_NAMES, row_input_names
from ocr_assets.orchestration.partitions import REGION_PARTITIONS
from ocr_assets.orchestration.resources import InputCatalogResource

GROUP = "inputs"


def input_source_asset(key: str, prefix: str) -> dg.SourceAsset:
    """An observable source asset ``key`` for the input at ``prefix`` below the input root."""

    @dg.observable_source_asset(
        name=key,
        group_name=GROUP,
        description=f"The input `{prefix}`; its data version is the input's identity.",
    )
    def observe(catalog: InputCatalogResource) -> dg.DataVersion:
        """The input's identity as its data version."""
        return dg.DataVersion(catalog.catalog().input_versions([prefix])[prefix])

    return observe


def row_source_asset(key: str, prefix: str) -> dg.SourceAsset:
    """An observable source asset ``key``, partitioned by region, for the vector input at
    ``prefix``: each region's data version is the identity of the region's rows."""

    @dg.observable_source_asset(
        name=key,
        group_name=GROUP,
        partitions_def=REGION_PARTITIONS,
        description=(
            f"The rows of `{prefix}` each region reads; a region's data version is the "
            "identity of its rows."
        ),
    )
    def observe(
        context: dg.OpExecutionContext, catalog: InputCatalogResource
    ) -> dg.DataVersionsByPartition:
        """Each region partition's rows' identity as its data version."""
        versions = catalog.catalog().region_row_versions(prefix)
        regions = REGION_PARTITIONS.get_partition_keys(dynamic_partitions_store=context.instance)
        return dg.DataVersionsByPartition(
            {region_id: versions.get(region_id, NO_ROWS) for region_id in regions}
        )

    return observe


def row_input_key(prefix: str) -> str:
    """The asset key of the region rows of the vector input at ``prefix``: ``buildings_rows``,
    ``census_{level}_rows``."""
    if prefix == BUILDINGS_FILE:
        return "buildings_rows"
    return f"census_{prefix.rsplit('/', 2)[-2]}_rows"


def input_key(prefix: str) -> str:
    """The asset key of the input at ``prefix``: its last two path parts, as an identifier."""
    parts = prefix.removesuffix(".icechunk").split("/")[-2:]
    return re.sub(r"\W", "_", "_".join(parts))


# Observable source assets are beta in Dagster 1.13, used knowingly (they are how the UI shows
# staleness from data versions): their warning would print on every load of the code location.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", dg.BetaWarning)
    #: The inputs of ``region_risk_rasters``, one source asset each.
    REGION_INPUT_ASSETS: tuple[dg.SourceAsset, ...] = tuple(
        input_source_asset(input_key(prefix), prefix) for prefix in REGION_INPUT_NAMES
    )
    #: The vector inputs read per region (their rows), one region-partitioned source asset each.
    ROW_INPUT_ASSETS: dict[str, dg.SourceAsset] = {
        prefix: row_source_asset(row_input_key(prefix), prefix) for prefix in row_input_names()
    }
