"""What a deployment would do: the regions it selects, where it writes, on what.

:func:`build_plan` turns the settings (:class:`~ocr_assets.config.settings.Settings`) into a
:class:`DeploymentPlan`: the storage location of every output, the regions, the optional
branches, the retries and every asset's compute. Every check that can fail a deployment
without reading data fails here or in the settings, naming the setting.

The regions a deployment runs are those of its selection that hold data in its inputs;
:func:`input_regions` reads them as the deploy job does (the grid and the regions with data of
the inputs), so ``ocr-assets plan`` selects exactly what the deployment will run.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ocr_assets.catalog import InputCatalog
from ocr_assets.config.compute import RETRY_DELAY_SECONDS, ClusterSpec
from ocr_assets.config.environments import select_regions
from ocr_assets.config.naming import DeploymentError
from ocr_assets.config.settings import Settings, SettingsError
from ocr_assets.data import (
    demo_valid_region_ids,
    on_published_inputs,
    published_valid_region_ids,
)
from ocr_assets.regions import RegionGrid
from ocr_assets.storage import objects
from ocr_assets.storage.layout import ASSET_KEYS, PARTITIONED_ASSETS, Layout

#: Regions listed in full by :meth:`DeploymentPlan.render`; longer selections are shortened.
_RENDER_REGIONS = 40


@dataclass(frozen=True)
class AssetPlan:
    """One asset of a deployment.

    Attributes:
        key: The asset key.
        uris: Where it writes; patterns keep ``{region_id}`` / ``{level}`` placeholders.
        partitioned: Whether it is partitioned by region.
        compute: The cluster it gets.
    """

    key: str
    uris: tuple[str, ...]
    partitioned: bool
    compute: ClusterSpec

    def to_dict(self) -> dict[str, Any]:
        """``{uris, partitioned, compute}`` as in the plan's JSON."""
        return {
            "uris": list(self.uris),
            "partitioned": self.partitioned,
            "compute": self.compute.to_dict(),
        }


@dataclass(frozen=True)
class DeploymentPlan:
    """A validated deployment: what runs, where it writes, on what.

    Attributes:
        environment: The environment.
        version: Semantic version (``None`` when unversioned).
        storage_root: Normalised storage root.
        region_selection: The selection text the regions came from.
        regions: Selected region IDs, south-west first.
        wipe: Whether the environment's outputs are wiped first.
        force: Whether regions already in the raster store are processed again.
        retries: Retries of every step (each region's and each roll-up's).
        branches: Optional asset -> whether it runs.
        software_env: Coiled software environment (``None``: package sync).
        url: Where the environment is published.
        assets: Asset key -> plan, for every asset that runs, in dependency order.
    """

    environment: str
    version: str | None
    storage_root: str
    region_selection: str
    regions: tuple[str, ...]
    wipe: bool
    force: bool
    retries: int
    branches: Mapping[str, bool]
    software_env: str | None
    url: str | None
    assets: Mapping[str, AssetPlan]

    @property
    def layout(self) -> Layout:
        """The output layout of this deployment."""
        return Layout(self.storage_root, self.environment, self.version)

    def to_dict(self) -> dict[str, Any]:
        """The plan as one JSON-serialisable object (``ocr-assets plan --json``)."""
        return {
            "environment": self.environment,
            "version": self.version,
            "storage_root": self.storage_root,
            "regions": list(self.regions),
            "region_selection": self.region_selection,
            "wipe": self.wipe,
            "force": self.force,
            "retries": self.retries,
            "retry_delay_seconds": RETRY_DELAY_SECONDS,
            "branches": dict(self.branches),
            "software_env": self.software_env,
            "url": self.url,
            "assets": {key: asset.to_dict() for key, asset in self.assets.items()},
        }

    def render(self) -> str:
        """A readable summary for people about to spend money."""
        backends = sorted({asset.compute.backend for asset in self.assets.values()})
        if backends == ["local"]:
            compute = "local Dask cluster"
        else:
            software = self.software_env or "package sync (COILED_SOFTWARE_ENV_NAME not set)"
            compute = f"Coiled, software environment: {software}"
        shown = list(self.regions)
        if len(shown) > _RENDER_REGIONS:
            rest = len(shown) - _RENDER_REGIONS
            shown = [*shown[:_RENDER_REGIONS], f"... ({rest} more)"]
        region_text = textwrap.fill(
            ", ".join(shown), width=96, initial_indent=" " * 4, subsequent_indent=" " * 4
        )
        branches = ", ".join(f"{key} {'on' if on else 'off'}" for key, on in self.branches.items())
        lines = [
            f"Deployment plan: {self.environment}",
            f"  version       {self.version or '(unversioned)'}",
            f"  storage root  {self.storage_root}",
            f"  regions       {len(self.regions)} (selection {self.region_selection!r})",
            region_text,
            f"  wipe          {'yes' if self.wipe else 'no'}",
            f"  reprocess     {'all selected' if self.force else 'only regions not in the raster store'}",
            f"  retries       {self.retries} per step (regions and roll-ups), waiting "
            f"{RETRY_DELAY_SECONDS:g} s x attempt",
            f"  branches      {branches}",
            f"  compute       {compute}",
            f"  published at  {self.url or '-'}",
            "",
            "Assets",
        ]
        for key, asset in self.assets.items():
            spec = asset.compute
            if spec.backend == "local":
                size = f"local, {spec.n_workers} worker x {spec.threads_per_worker} threads"
            else:
                size = f"coiled {spec.vm_type} x{spec.n_workers}"
                if spec.scheduler_vm_type:
                    size += f", scheduler {spec.scheduler_vm_type}"
                if spec.disk_size_gb:
                    size += f", disk {spec.disk_size_gb} GB"
                if spec.why:
                    size += f" ({spec.why})"
            partitioned = " [per region]" if asset.partitioned else ""
            lines.append(f"  {key}{partitioned}: {size}")
            lines.extend(f"      {uri}" for uri in asset.uris)
        return "\n".join(lines)


def input_regions(settings: Settings) -> tuple[RegionGrid, list[str]]:
    """The grid of ``settings``' inputs and its regions holding data, as the deploy job sees
    them: the published list for the published inputs; for the local environment before
    ``make demo`` generated its inputs, those of the synthetic set it will generate; else read
    from the inputs (their grid and ``valid_region_ids.json`` or CRPS).

    Raises:
        DeploymentError: naming the input root when the inputs cannot be read.
    """
    if on_published_inputs(settings.input_root):
        return settings.policy.grid, published_valid_region_ids()
    if settings.environment == "local" and not objects.exists(settings.input_root):
        grid, region_ids = demo_valid_region_ids()
        return RegionGrid(**grid), region_ids
    catalog = InputCatalog(settings.input_root)
    try:
        return catalog.grid, catalog.valid_region_ids()
    except (OSError, ValueError) as error:
        raise DeploymentError(
            f"{settings.name('OCR_INPUT_ROOT')}={settings.input_root!r}: cannot read the "
            f"inputs' regions: {error}"
        ) from error


def build_plan(
    settings: Settings,
    grid: RegionGrid | None = None,
    available_regions: Iterable[str] | None = None,
) -> DeploymentPlan:
    """Work out what a deployment with ``settings`` does, from the settings alone.

    Args:
        settings: The deployment's settings.
        grid: Grid the regions are checked against (default: the environment's, the demo grid
            for ``local`` and the published 17 x 47 CONUS grid elsewhere); pass the inputs' grid
            when known.
        available_regions: Regions holding input data, when known; ``all`` then means these,
            and a selected region without data is refused. By default, for inputs in the
            published bucket, the valid IDs of the published grid shipped with the package.

    Raises:
        SettingsError: naming the setting, for a bad region selection.
    """
    policy = settings.policy
    if available_regions is None and on_published_inputs(settings.input_root):
        available_regions = published_valid_region_ids()
    try:
        regions = select_regions(
            settings.regions,
            policy.grid if grid is None else grid,
            available_regions,
            settings.name("OCR_REGIONS"),
        )
    except DeploymentError as error:
        raise SettingsError(str(error)) from error
    layout = settings.layout
    branches = settings.branches
    assets = {
        key: AssetPlan(
            key=key,
            uris=tuple(layout.outputs(key).values()),
            partitioned=key in PARTITIONED_ASSETS,
            compute=settings.cluster_spec(key),
        )
        for key in ASSET_KEYS
        if branches.get(key, True)
    }
    return DeploymentPlan(
        environment=settings.environment,
        version=settings.version,
        storage_root=settings.storage_root,
        region_selection=settings.regions,
        regions=tuple(regions),
        wipe=settings.wipe,
        force=settings.force,
        retries=settings.retries,
        branches=branches,
        software_env=settings.software_env,
        url=policy.url,
        assets=assets,
    )
