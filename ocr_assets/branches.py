"""Optional branches of the asset graph, switched by environment flags.

The published CLI builds the pyramid and the per-level analysis files only when asked
(``--create-pyramid``, ``--write-regional-stats``). Here both assets always exist in the graph
(so the UI shows them and a user can materialize them by hand); the flags decide whether the
jobs (``phase02``, ``rollups``, and so every deployment and ``make demo``) select them:

- ``OCR_CREATE_PYRAMID``: ``risk_pyramid``;
- ``OCR_WRITE_REGIONAL_STATS``: ``region_analysis_files``.

Values ``true/false``, ``1/0``, ``yes/no``, ``on/off``; unset or empty means the environment's
default from the deployment policies (:data:`ocr_assets.deploy.environments.POLICIES`): on in
``local``, so the demo builds everything, off elsewhere, as in the seed. Anything else raises
:class:`~ocr_assets.deploy.naming.DeploymentError` (a ``ValueError``) naming the variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

import dagster as dg

from ocr_assets.deploy.environments import get_policy, read_flag

CREATE_PYRAMID = "OCR_CREATE_PYRAMID"
WRITE_REGIONAL_STATS = "OCR_WRITE_REGIONAL_STATS"

#: The asset each flag switches.
BRANCH_ASSETS: dict[str, dg.AssetKey] = {
    CREATE_PYRAMID: dg.AssetKey("risk_pyramid"),
    WRITE_REGIONAL_STATS: dg.AssetKey("region_analysis_files"),
}


@dataclass(frozen=True)
class OptionalBranches:
    """Which optional branches the jobs select.

    Attributes:
        create_pyramid: Select ``risk_pyramid``.
        write_regional_stats: Select ``region_analysis_files``.
    """

    create_pyramid: bool = True
    write_regional_stats: bool = True

    @classmethod
    def from_env(
        cls, environment: str = "local", environ: Mapping[str, str] | None = None
    ) -> OptionalBranches:
        """Read the flags from ``environ`` (default ``os.environ``), defaults per environment."""
        env = os.environ if environ is None else environ
        policy = get_policy(environment)
        return cls(
            create_pyramid=read_flag(env, CREATE_PYRAMID, policy.create_pyramid),
            write_regional_stats=read_flag(env, WRITE_REGIONAL_STATS, policy.write_regional_stats),
        )

    @property
    def disabled_assets(self) -> list[dg.AssetKey]:
        """The assets of the branches that are switched off."""
        enabled = {
            CREATE_PYRAMID: self.create_pyramid,
            WRITE_REGIONAL_STATS: self.write_regional_stats,
        }
        return [key for flag, key in BRANCH_ASSETS.items() if not enabled[flag]]

    def selection(self) -> dg.AssetSelection:
        """Every asset except those of switched-off branches."""
        return dg.AssetSelection.all() - dg.AssetSelection.assets(*self.disabled_assets)
