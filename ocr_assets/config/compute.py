"""Compute for the assets: a local Dask cluster by default, Coiled clusters sized per asset.

Sizes follow the seed's batch jobs (:data:`SIZES`): region processing (and the other per-region
assets) on the default worker type, the roll-ups on one large VM each with a scheduler of the
same type, the three PMTiles assets with 250 GB disks. Every Coiled cluster uses spot instances with on-demand fallback in
us-west-2, is tagged ``Project=OCR`` / ``Environment`` / ``Asset``, and runs the software
environment named by ``COILED_SOFTWARE_ENV_NAME`` (package sync when unset).

Two settings adjust this per deployment (parsed once, in :mod:`ocr_assets.config.settings`):

- ``OCR_COMPUTE``: ``local`` or ``coiled``; unset means the environment's default (local for
  ``local``, Coiled elsewhere). ``OCR_COMPUTE=local`` runs any environment's configuration on
  a local cluster.
- ``OCR_COMPUTE_OVERRIDES``: JSON ``{"<asset key>" | "*": {field: value}}`` where fields are
  ``vm_type``, ``scheduler_vm_type``, ``disk_size_gb``, ``n_workers`` (Coiled sizing) and
  ``threads_per_worker`` (local sizing); ``"*"`` applies to every asset, an asset's own entry
  wins over it.

This module only says what each asset gets (:func:`cluster_spec`) and with which keyword
arguments a cluster of that spec is made; the clusters themselves are made by the compute
resource (:mod:`ocr_assets.orchestration.clusters`). Pure: no I/O, no Dagster.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ocr_assets.config.environments import get_policy
from ocr_assets.config.naming import DeploymentError
from ocr_assets.storage.layout import ASSET_KEYS

BACKENDS: tuple[str, ...] = ("local", "coiled")
#: Coiled's worker type for region processing (the seed's default).
DEFAULT_WORKER_VM_TYPE = "m8g.2xlarge"
SPOT_POLICY = "spot_with_fallback"
COILED_REGION = "us-west-2"
#: Shut an idle Coiled cluster down after this long.
IDLE_TIMEOUT = "20 minutes"
#: Dagster concurrency pool of the steps that start Coiled clusters (see docker/dagster.yaml).
COILED_POOL = "coiled"
#: The seed's warning when no software environment is named.
PACKAGE_SYNC_WARNING = "COILED_SOFTWARE_ENV_NAME not set; Coiled will use package sync"
#: Local cluster shape: one in-process worker (no re-import of the entry script) with threads.
LOCAL_N_WORKERS = 1
LOCAL_THREADS_PER_WORKER = 2
#: Base wait between region retries; attempt ``n`` waits ``n`` times this.
RETRY_DELAY_SECONDS = 5.0


@dataclass(frozen=True)
class Size:
    """The Coiled size of one asset's cluster.

    Attributes:
        vm_type: Worker instance type.
        scheduler_vm_type: Scheduler instance type (``None``: Coiled's default).
        disk_size_gb: Worker disk in GB (``None``: Coiled's default).
        n_workers: Number of workers.
        why: Why the asset gets this size, for ``ocr-assets plan`` (empty: nothing to say).
    """

    vm_type: str
    scheduler_vm_type: str | None = None
    disk_size_gb: int | None = None
    n_workers: int = 1
    why: str = ""


_ROLLUP_TILES = Size("c8g.12xlarge", "c8g.12xlarge", disk_size_gb=250)

#: Per-asset sizes, as the seed sizes its jobs.
SIZES: dict[str, Size] = {
    "wind_direction_distribution": Size(DEFAULT_WORKER_VM_TYPE),
    # Phase 01: one task per region, mapped over the selected regions.
    "region_risk_rasters": Size(DEFAULT_WORKER_VM_TYPE, n_workers=20),
    "region_buildings": Size(DEFAULT_WORKER_VM_TYPE, n_workers=20),
    # Per-region inputs of the roll-ups (statistics partials, tile features): light, mapped.
    "region_statistics_partials": Size(DEFAULT_WORKER_VM_TYPE, n_workers=20),
    "region_tile_features": Size(DEFAULT_WORKER_VM_TYPE, n_workers=20),
    "risk_pyramid": Size("m8g.4xlarge", "m8g.4xlarge"),
    "buildings_geoparquet": Size("c8g.12xlarge", "c8g.12xlarge"),
    "region_summary_stats": Size("m8g.16xlarge", "m8g.16xlarge"),
    "region_analysis_files": Size("r8g.4xlarge", "r8g.4xlarge"),
    "regional_pmtiles": _ROLLUP_TILES,
    "building_pmtiles": Size(
        "c8g.12xlarge",
        "c8g.12xlarge",
        disk_size_gb=250,
        n_workers=2,
        why=(
            "its shards (one per zoom-6 tile, about 90 for CONUS) are tippecanoe tasks in "
            "parallel, one per core: 2 x 48 cores share the work in about 22 minutes "
            "projected, the densest shard taking longer (docs/performance.md)"
        ),
    ),
    "building_centroid_pmtiles": _ROLLUP_TILES,
}

_OVERRIDE_FIELDS: dict[str, tuple[type, bool]] = {
    # field: (type, may be null)
    "vm_type": (str, False),
    "scheduler_vm_type": (str, True),
    "disk_size_gb": (int, True),
    "n_workers": (int, False),
    "threads_per_worker": (int, False),
}


@dataclass(frozen=True)
class ClusterSpec:
    """What cluster one asset gets in one environment.

    Attributes:
        backend: ``local`` or ``coiled``.
        environment: The deployment environment.
        asset_key: The asset the cluster computes.
        n_workers: Number of workers.
        vm_type: Coiled worker instance type (``None`` for local clusters).
        scheduler_vm_type: Coiled scheduler instance type (``None``: Coiled's default / local).
        disk_size_gb: Coiled worker disk (``None``: Coiled's default / local).
        threads_per_worker: Threads of each local worker (``None`` for Coiled).
        software: Coiled software environment (``None``: package sync).
        name: Coiled cluster name; ``None`` lets Coiled pick a unique one. Coiled attaches to a
            running cluster of the same name, so give a per-run name if one is set at all.
        spot_policy: Coiled purchase option.
        region: Coiled cloud region.
        why: Why the asset gets this size (see :class:`Size`).
    """

    backend: str
    environment: str
    asset_key: str
    n_workers: int
    vm_type: str | None = None
    scheduler_vm_type: str | None = None
    disk_size_gb: int | None = None
    threads_per_worker: int | None = None
    software: str | None = None
    name: str | None = None
    spot_policy: str = SPOT_POLICY
    region: str = COILED_REGION
    why: str = ""

    @property
    def tags(self) -> dict[str, str]:
        """Cloud tags of the cluster's VMs."""
        return {"Project": "OCR", "Environment": self.environment, "Asset": self.asset_key}

    def to_dict(self) -> dict[str, Any]:
        """The plan's view: backend, VM types, disk, worker count (and threads when local)."""
        summary: dict[str, Any] = {
            "backend": self.backend,
            "vm_type": self.vm_type,
            "scheduler_vm_type": self.scheduler_vm_type,
            "disk_size_gb": self.disk_size_gb,
            "n_workers": self.n_workers,
        }
        if self.backend == "local":
            summary["threads_per_worker"] = self.threads_per_worker
        else:
            summary["spot_policy"] = self.spot_policy
            summary["region"] = self.region
            summary["software"] = self.software
        return summary


def parse_backend(value: str, variable: str = "OCR_COMPUTE") -> str:
    """Return ``value`` when it names a compute backend.

    Raises:
        DeploymentError: naming ``variable`` otherwise.
    """
    if value not in BACKENDS:
        raise DeploymentError(
            f"{variable}={value!r} is not a compute backend; use one of {', '.join(BACKENDS)}"
        )
    return value


def parse_overrides(
    value: str | Mapping[str, Any], variable: str = "OCR_COMPUTE_OVERRIDES"
) -> dict[str, dict[str, Any]]:
    """Validate compute overrides given as JSON text or a mapping (empty text: none).

    Raises:
        DeploymentError: naming ``variable`` and the offending asset key, field or value.
    """
    if isinstance(value, str):
        if not value.strip():
            return {}
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise DeploymentError(f"{variable} is not valid JSON: {exc}") from exc
    if not isinstance(value, Mapping):
        raise DeploymentError(f"{variable} must be a JSON object of asset key -> sizes")
    parsed: dict[str, dict[str, Any]] = {}
    for key, entry in value.items():
        if key != "*" and key not in ASSET_KEYS:
            raise DeploymentError(
                f"{variable}: unknown asset key {key!r}; use '*' or one of {', '.join(ASSET_KEYS)}"
            )
        if not isinstance(entry, Mapping):
            raise DeploymentError(f"{variable}[{key!r}] must be an object of field -> value")
        for field, item in entry.items():
            if field not in _OVERRIDE_FIELDS:
                raise DeploymentError(
                    f"{variable}[{key!r}]: unknown field {field!r}; use one of "
                    f"{', '.join(_OVERRIDE_FIELDS)}"
                )
            kind, nullable = _OVERRIDE_FIELDS[field]
            if item is None and nullable:
                continue
            valid = (
                isinstance(item, str) and bool(item.strip())
                if kind is str
                else isinstance(item, int) and not isinstance(item, bool) and item >= 1
            )
            if not valid:
                wanted = "a non-empty string" if kind is str else "a positive integer"
                raise DeploymentError(
                    f"{variable}[{key!r}][{field!r}]={item!r} must be {wanted}"
                    + (" or null" if nullable else "")
                )
        parsed[key] = dict(entry)
    return parsed


def cluster_spec(
    environment: str,
    asset_key: str,
    backend: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    software: str | None = None,
) -> ClusterSpec:
    """The cluster ``asset_key`` gets in ``environment``.

    Args:
        environment: The deployment environment.
        asset_key: One of :data:`~ocr_assets.storage.layout.ASSET_KEYS`.
        backend: ``local`` or ``coiled`` (``OCR_COMPUTE``; ``None``: the environment's).
        overrides: Sizes in the ``OCR_COMPUTE_OVERRIDES`` format (``"*"`` and per asset).
        software: The Coiled software environment (``COILED_SOFTWARE_ENV_NAME``).

    Raises:
        DeploymentError: naming the setting, for an unknown environment, asset key, backend
            or malformed override.
    """
    policy = get_policy(environment)
    if asset_key not in SIZES:
        raise DeploymentError(
            f"unknown asset key {asset_key!r}; expected one of {', '.join(ASSET_KEYS)}"
        )
    backend = parse_backend(backend or policy.compute)
    parsed = parse_overrides(overrides or {})
    merged: dict[str, Any] = {**parsed.get("*", {}), **parsed.get(asset_key, {})}
    if backend == "local":
        return ClusterSpec(
            backend="local",
            environment=environment,
            asset_key=asset_key,
            n_workers=LOCAL_N_WORKERS,
            threads_per_worker=merged.get("threads_per_worker", LOCAL_THREADS_PER_WORKER),
        )
    size = SIZES[asset_key]
    return ClusterSpec(
        backend="coiled",
        environment=environment,
        asset_key=asset_key,
        n_workers=merged.get("n_workers", size.n_workers),
        vm_type=merged.get("vm_type", size.vm_type),
        scheduler_vm_type=merged.get("scheduler_vm_type", size.scheduler_vm_type),
        disk_size_gb=merged.get("disk_size_gb", size.disk_size_gb),
        software=software or None,
        why="" if merged else size.why,
    )


def local_cluster_kwargs(spec: ClusterSpec) -> dict[str, Any]:
    """Keyword arguments of ``distributed.LocalCluster`` for a local spec.

    Workers are threads of this process (``processes=False``): no pickling of the region
    functions and no re-import of the entry script; the dashboard binds to a free loopback port.
    Dask's memory management is off (``memory_limit=0``): it measures the whole process, the
    orchestrator included, and a worker of this process paused for memory would never resume.
    """
    return {
        "n_workers": spec.n_workers,
        "threads_per_worker": spec.threads_per_worker,
        "processes": False,
        "memory_limit": 0,
        "dashboard_address": "127.0.0.1:0",
    }


def coiled_cluster_kwargs(spec: ClusterSpec) -> dict[str, Any]:
    """Keyword arguments of ``coiled.Cluster`` for a Coiled spec.

    Without a software environment Coiled synchronises the local packages (its default without
    ``software``/``container``); whoever makes the cluster warns with
    :data:`PACKAGE_SYNC_WARNING`.
    """
    kwargs: dict[str, Any] = {
        "n_workers": spec.n_workers,
        "worker_vm_types": [spec.vm_type],
        "spot_policy": spec.spot_policy,
        "region": spec.region,
        "tags": spec.tags,
        "idle_timeout": IDLE_TIMEOUT,
    }
    if spec.scheduler_vm_type:
        kwargs["scheduler_vm_types"] = [spec.scheduler_vm_type]
    if spec.disk_size_gb:
        kwargs["worker_disk_size"] = spec.disk_size_gb
    if spec.name:
        kwargs["name"] = spec.name
    if spec.software:
        kwargs["software"] = spec.software
    return kwargs
