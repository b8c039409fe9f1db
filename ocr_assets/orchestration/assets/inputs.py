"""The region inputs as observable source assets: their data version is the input's identity.

Observing them (the UI's "Observe sources" button) records the input's
current identity (:meth:`~ocr_assets.catalog.InputCatalog.input_versions`: the Icechunk
snapshot ID of ``main``, a file's ETag or content hash). ``region_risk_rasters`` depends on
them, so each materialization records the versions observed before it, and once an input is
observed with another identity, Dagster shows the regions computed from the older one as stale.
"""

from __future__ import annotations

import re
import warnings

import dagster as dg

from ocr_assets.catalog.staleness import REGION_INPUT_NAMES
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
