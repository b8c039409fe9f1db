"""The four deployment environments, their policies, and the validated deployment inputs.

| environment | env file                         | compute | regions | wipe    | version  | retries |
| ----------- | -------------------------------- | ------- | ------- | ------- | -------- | ------- |
| local       | ``ocr-local.env``                | local   | all     | allowed | optional | 2       |
| qa          | ``ocr-coiled-s3.env``            | coiled  | qa      | allowed | optional | 2       |
| staging     | ``ocr-coiled-s3-staging.env``    | coiled  | staging | allowed | optional | 2       |
| production  | ``ocr-coiled-s3-production.env`` | coiled  | all     | never   | required | 3       |

The optional branches (``risk_pyramid``, ``region_analysis_files``; the seed's
``--create-pyramid`` / ``--write-regional-stats``) run by default only in ``local``, where the demo
builds everything; ``OCR_CREATE_PYRAMID`` / ``OCR_WRITE_REGIONAL_STATS`` switch them anywhere.
Wiping is never a default: QA and staging deployments ask for it (``OCR_WIPE=true``), production
refuses it.

The variables a deployment reads (all optional except where the table says otherwise):

- ``OCR_ENVIRONMENT``: the environment (default ``local``);
- ``OCR_STORAGE_ROOT``: where outputs go; a local folder or ``s3://bucket/prefix``;
- ``OCR_VERSION``: semantic version, required in production; outputs then live under
  ``v{version}``;
- ``OCR_REGIONS``: the region selection (see :func:`select_regions`), default as in the table;
- ``OCR_WIPE``: ``true``/``false`` (default false);
- ``OCR_FORCE``: ``true`` reprocesses regions already in the raster store (default false: the
  store is the source of truth and committed regions are skipped);
- ``OCR_CREATE_PYRAMID`` / ``OCR_WRITE_REGIONAL_STATS``: ``true``/``false``, empty for the
  environment's default;
- ``OCR_COMPUTE`` / ``OCR_COMPUTE_OVERRIDES``: see :mod:`ocr_assets.config.compute`;
- ``COILED_SOFTWARE_ENV_NAME``: the Coiled software environment (set by CI);
- ``OCR_INPUT_ROOT``: where the input data sets live (read by the catalog, not by the plan).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ocr_assets.config.naming import DeploymentError, validate_version
from ocr_assets.regions import CONUS_GRID, RegionGrid, demo_grid

ENVIRONMENTS: tuple[str, ...] = ("local", "qa", "staging", "production")

#: Every variable a deployment reads; env files may set only these.
DEPLOYMENT_VARIABLES: tuple[str, ...] = (
    "OCR_ENVIRONMENT",
    "OCR_STORAGE_ROOT",
    "OCR_INPUT_ROOT",
    "OCR_VERSION",
    "OCR_REGIONS",
    "OCR_WIPE",
    "OCR_FORCE",
    "OCR_CREATE_PYRAMID",
    "OCR_WRITE_REGIONAL_STATS",
    "OCR_COMPUTE",
    "OCR_COMPUTE_OVERRIDES",
    "COILED_SOFTWARE_ENV_NAME",
    "OCR_MAX_OUTPUT_LOSS",
    "OCR_TILE_SHARD_ZOOM",
    "OCR_STORAGE_CONNECT_TIMEOUT",
    "OCR_STORAGE_READ_TIMEOUT",
    "OCR_STORAGE_PROBE_TIMEOUT",
    "OCR_STORAGE_STALL_TIMEOUT",
    "OCR_STORAGE_OPERATION_TIMEOUT",
    "OCR_STORAGE_ATTEMPTS",
    "OCR_UI_URL",
    "OCR_LEASE_WAIT",
    "OCR_LEASE_SECONDS",
)

#: Name of the Dagster job a deployment runs (``dagster job execute -j deploy``).
DEPLOYMENT_JOB = "deploy"
#: Run tag naming the environment of a deployment run; ``docker/dagster.yaml`` allows one
#: running deployment per value of this tag.
DEPLOYMENT_RUN_TAG = "ocr/deployment"

#: The seed's three QA places (Washington, 121.5-117.3 W, 48.3-50.1 N) in the published
#: numbering (``y0`` the southernmost band of the published grid, ``CONUS_GRID``). The seed's
#: diagram calls them ``y2_x5``-``y2_x7``, counted from the north on an older grid; on the
#: published grid those IDs are ocean.
QA_REGIONS: tuple[str, ...] = ("y14_x5", "y14_x6", "y14_x7")


def _row(row: int, first_col: int, last_col: int) -> tuple[str, ...]:
    return tuple(f"y{row}_x{col}" for col in range(first_col, last_col + 1))


#: The published staging set (47 regions of the published grid), as the published staging
#: workflow deploys them: Washington and Oregon (rows 12-14), California (rows 5-8), the
#: Colorado Rockies (rows 8-9, cols 14-17), the southern Appalachians (y7_x31, y7_x32) and the
#: upper Midwest (rows 12-13, cols 24-26).
STAGING_REGIONS: tuple[str, ...] = (
    *_row(14, 3, 7),
    *_row(13, 3, 7),
    *_row(12, 3, 7),
    *_row(8, 3, 6),
    *_row(7, 4, 8),
    *_row(6, 5, 9),
    *_row(5, 7, 9),
    *_row(9, 14, 17),
    *_row(8, 14, 17),
    *_row(7, 31, 32),
    *_row(13, 24, 26),
    *_row(12, 24, 25),
)

#: Keywords of a region selection; anything else must be a region ID.
REGION_SETS: dict[str, tuple[str, ...] | None] = {
    "qa": QA_REGIONS,
    "staging": STAGING_REGIONS,
    "all": None,  # every region of the grid (or every region holding data, when known)
}

_S3_URI = re.compile(r"s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9](?:/\S*)?")
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off", ""})


class WipeRefusedError(DeploymentError):
    """A wipe was requested where the environment never wipes (production)."""


@dataclass(frozen=True)
class EnvironmentPolicy:
    """What an environment allows and does by default.

    Attributes:
        name: The environment.
        env_file: Its configuration file at the repository root.
        compute: Default compute backend, ``local`` or ``coiled``.
        default_regions: Region selection used when ``OCR_REGIONS`` is unset.
        wipe_allowed: Whether a wipe may be requested.
        versioned: Whether a semantic version is required (outputs under ``v{version}``).
        create_pyramid: Whether the optional ``risk_pyramid`` branch runs by default.
        write_regional_stats: Whether the optional ``region_analysis_files`` branch runs by
            default.
        retries: Per-region retries of region processing (5 s x attempt between tries).
        url: Where the deployment is published, if anywhere.
        default_storage_root: Storage root when neither the env file nor the process sets one.
        grid: The region grid selections are checked against when the inputs are not at hand.
        tile_shard_zoom: Zoom of the shards the building tiles are built in
            (``OCR_TILE_SHARD_ZOOM``): 6, the archive's first zoom, for CONUS; 10 for the
            demo's small area, so that its buildings span several shards.
    """

    name: str
    env_file: str
    compute: str
    default_regions: str
    wipe_allowed: bool
    versioned: bool
    create_pyramid: bool
    write_regional_stats: bool
    retries: int
    url: str | None
    default_storage_root: str | None
    grid: RegionGrid
    tile_shard_zoom: int = 6


POLICIES: dict[str, EnvironmentPolicy] = {
    "local": EnvironmentPolicy(
        name="local",
        env_file="ocr-local.env",
        compute="local",
        default_regions="all",
        wipe_allowed=True,
        versioned=False,
        create_pyramid=True,
        write_regional_stats=True,
        retries=2,
        url=None,
        default_storage_root="./data",
        grid=demo_grid(),
        tile_shard_zoom=10,
    ),
    "qa": EnvironmentPolicy(
        name="qa",
        env_file="ocr-coiled-s3.env",
        compute="coiled",
        default_regions="qa",
        wipe_allowed=True,
        versioned=False,
        create_pyramid=False,
        write_regional_stats=False,
        retries=2,
        url="https://ocr.qa.carbonplan.org",
        default_storage_root=None,
        grid=CONUS_GRID,
    ),
    "staging": EnvironmentPolicy(
        name="staging",
        env_file="ocr-coiled-s3-staging.env",
        compute="coiled",
        default_regions="staging",
        wipe_allowed=True,
        versioned=False,
        create_pyramid=False,
        write_regional_stats=False,
        retries=2,
        url="https://ocr.staging.carbonplan.org",
        default_storage_root=None,
        grid=CONUS_GRID,
    ),
    "production": EnvironmentPolicy(
        name="production",
        env_file="ocr-coiled-s3-production.env",
        compute="coiled",
        default_regions="all",
        wipe_allowed=False,
        versioned=True,
        create_pyramid=False,
        write_regional_stats=False,
        retries=3,
        url="https://carbonplan.org/research/climate-risk",
        default_storage_root=None,
        grid=CONUS_GRID,
    ),
}


def get_policy(environment: str, variable: str = "OCR_ENVIRONMENT") -> EnvironmentPolicy:
    """The policy of ``environment``.

    Raises:
        DeploymentError: naming ``variable`` when the environment is unknown.
    """
    if environment not in POLICIES:
        raise DeploymentError(
            f"{variable}={environment!r} is not a known environment; use one of "
            f"{', '.join(ENVIRONMENTS)}"
        )
    return POLICIES[environment]


def check_wipe(environment: str, wipe: bool) -> bool:
    """Return ``wipe`` when the environment allows it.

    Raises:
        WipeRefusedError: when a wipe is requested in an environment that never wipes.
    """
    policy = get_policy(environment)
    if wipe and not policy.wipe_allowed:
        raise WipeRefusedError(
            f"OCR_WIPE=true refused: the {environment} environment never wipes its outputs "
            "(earlier versions stay readable for rollback); deploy a new version instead"
        )
    return wipe


def resolve_version(environment: str, version: str | None) -> str | None:
    """The validated version of a deployment (``None`` when unversioned).

    Raises:
        DeploymentError: naming ``OCR_VERSION`` when it is malformed, or missing where the
            environment is versioned.
    """
    if version:
        return validate_version(version)
    if get_policy(environment).versioned:
        raise DeploymentError(
            f"OCR_VERSION is required in {environment}: outputs are versioned "
            "(set it to the release's semantic version, e.g. 1.2.3)"
        )
    return None


def validate_storage_root(value: str, variable: str = "OCR_STORAGE_ROOT") -> str:
    """Normalise a storage root: local paths become absolute, ``s3://`` URIs lose trailing ``/``.

    Raises:
        DeploymentError: naming ``variable`` when the value is empty or an unsupported URI.
    """
    if not value or not value.strip():
        raise DeploymentError(
            f"{variable} is empty; give a local folder or an s3://bucket/prefix URI"
        )
    if "://" in value:
        if not _S3_URI.fullmatch(value):
            raise DeploymentError(
                f"{variable}={value!r} is not a supported location; use a local folder or "
                "s3://bucket/prefix (bucket names: lower-case letters, digits, dots, hyphens)"
            )
        return value.rstrip("/")
    return str(Path(value).expanduser().resolve())


def parse_bool(value: str, variable: str) -> bool:
    """Read a boolean variable: ``true/false``, ``1/0``, ``yes/no``, ``on/off`` (empty is false).

    Raises:
        DeploymentError: naming ``variable`` for anything else.
    """
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise DeploymentError(f"{variable}={value!r} is not a boolean; use true or false")


def read_flag(variables: Mapping[str, str], variable: str, default: bool) -> bool:
    """A boolean variable of ``variables``; ``default`` when it is unset or empty.

    Raises:
        DeploymentError: naming ``variable`` when the value is not a boolean.
    """
    value = variables.get(variable, "")
    return parse_bool(value, variable) if value.strip() else default


def select_regions(
    selection: str,
    grid: RegionGrid,
    available: Iterable[str] | None = None,
    variable: str = "OCR_REGIONS",
) -> list[str]:
    """Resolve a region selection to a sorted list of region IDs (south-west first).

    ``selection`` is a comma and/or space separated list whose items are region IDs
    (``y14_x5``) or the keywords ``qa`` (the seed's QA set), ``staging`` (the staging set) and
    ``all`` (every region of ``grid``, or of ``available`` when given); the result is their union.

    Args:
        selection: The selection text.
        grid: Grid the IDs must lie in.
        available: Region IDs known to hold input data (from the inputs); when given, every
            selected region must be one of them.
        variable: Setting named in errors.

    Raises:
        DeploymentError: naming ``variable`` and listing every offending item, when the
            selection is empty, names IDs outside the grid (or without data), or is malformed.
    """
    items = [item for item in re.split(r"[\s,]+", selection.strip()) if item]
    if not items:
        raise DeploymentError(
            f"{variable} is empty; give region IDs (y{{row}}_x{{col}}), 'qa', 'staging' or 'all'"
        )
    known = None if available is None else set(available)
    chosen: set[str] = set()
    for item in items:
        if item in REGION_SETS:
            members = REGION_SETS[item]
            if members is None:
                members = tuple(grid.all_region_ids() if known is None else known)
                # Regions with data that are not on the grid are the inputs' problem.
                members = tuple(rid for rid in members if _on_grid(grid, rid))
            chosen.update(members)
        else:
            chosen.add(item)
    offenders = [rid for rid in sorted(chosen) if not _on_grid(grid, rid)]
    if offenders:
        raise DeploymentError(
            f"{variable}: {len(offenders)} region ID(s) outside the {grid.n_region_rows} x "
            f"{grid.n_region_cols} region grid (format y{{row}}_x{{col}}, rows 0.."
            f"{grid.n_region_rows - 1}, cols 0..{grid.n_region_cols - 1}): {', '.join(offenders)}"
        )
    if known is not None:
        missing = sorted((rid for rid in chosen if rid not in known), key=grid.parse)
        if missing:
            raise DeploymentError(
                f"{variable}: {len(missing)} region(s) hold no input data: {', '.join(missing)}"
            )
    return sorted(chosen, key=grid.parse)


def _on_grid(grid: RegionGrid, region_id: str) -> bool:
    try:
        grid.parse(region_id)
    except ValueError:
        return False
    return True


def deployment_variables(environ: Mapping[str, str]) -> dict[str, str]:
    """The deployment variables (:data:`DEPLOYMENT_VARIABLES`) present in ``environ``."""
    return {name: environ[name] for name in DEPLOYMENT_VARIABLES if name in environ}
