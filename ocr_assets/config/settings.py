"""The settings: every variable a run reads, parsed once, at the entry point, into one object.

:class:`Settings` is built by the entry points (the code location :mod:`ocr_assets.definitions`,
``make demo``, the ``ocr-assets`` command line) and handed down as values; no other module
reads the process environment (a test enforces it). Every failure is a :class:`SettingsError`
naming the setting as the user gave it (``OCR_REGIONS``, or ``--regions`` for a command-line
option) and the bad value.

==============================  ===================================================================
variable                        meaning (default)
==============================  ===================================================================
``OCR_ENVIRONMENT``             ``local``, ``qa``, ``staging`` or ``production`` (``local``)
``OCR_STORAGE_ROOT``            folder or ``s3://bucket/prefix`` of every output (``./data`` locally;
                                required elsewhere)
``OCR_INPUT_ROOT``              folder or ``s3://`` prefix of the inputs (``./data/input``)
``OCR_VERSION``                 semantic version; outputs under ``v{version}`` (required in production)
``OCR_REGIONS``                 region IDs, ``qa``, ``staging`` or ``all`` (the environment's set)
``OCR_FORCE``                   reprocess regions already in the raster store; replace a much
                                smaller roll-up (false)
``OCR_WIPE``                    delete the environment's outputs first; refused in production (false)
``OCR_CREATE_PYRAMID``          build ``risk_pyramid`` (on in local only)
``OCR_WRITE_REGIONAL_STATS``    build ``region_analysis_files`` (on in local only)
``OCR_COMPUTE``                 ``local`` or ``coiled`` (the environment's)
``OCR_COMPUTE_OVERRIDES``       JSON sizes per asset (none)
``COILED_SOFTWARE_ENV_NAME``    the Coiled software environment (package sync)
``OCR_MAX_OUTPUT_LOSS``         largest share of a published roll-up a new one may lose (0.5)
``OCR_STORAGE_CONNECT_TIMEOUT`` seconds to connect to the object store (10)
``OCR_STORAGE_READ_TIMEOUT``    seconds to wait for an answer (60)
``OCR_STORAGE_PROBE_TIMEOUT``   seconds a probe, listing or lookup may take (20)
``OCR_STORAGE_STALL_TIMEOUT``   seconds a transfer may make no progress (60)
``OCR_STORAGE_OPERATION_TIMEOUT``  seconds one attempt of any storage operation may take in all
                                (no limit)
``OCR_STORAGE_ATTEMPTS``        tries of a transiently failing storage operation (3)
``AWS_ENDPOINT_URL``            an S3-compatible endpoint (MinIO, Ceph, a local test server)
``AWS_REGION``                  the buckets' region (also ``AWS_DEFAULT_REGION``)
``ICECHUNK_LOG``                Icechunk's own log filter (quiet by default)
``OCR_UI_URL``                  the Dagster UI that run links point at (``http://127.0.0.1:3000``)
``OCR_LEASE_WAIT``              a deployment waits for another one of its environment to end,
                                instead of refusing (false)
``OCR_LEASE_SECONDS``           seconds a deployment's lease lives after its last heartbeat (1800)
``DAGSTER_HOME``                the Dagster instance of ``make demo`` and ``make ui`` (``./.dagster``)
==============================  ===================================================================

An ``s3://`` storage root also needs AWS credentials in the environment (keys, a profile, a
web-identity role or container credentials): :meth:`Settings.from_env` refuses it without.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ocr_assets.config.compute import ClusterSpec, cluster_spec, parse_backend, parse_overrides
from ocr_assets.config.envfile import layered_variables
from ocr_assets.config.environments import (
    ENVIRONMENTS,
    EnvironmentPolicy,
    check_wipe,
    get_policy,
    parse_bool,
    resolve_version,
    validate_storage_root,
)
from ocr_assets.config.naming import DeploymentError
from ocr_assets.storage.config import QUIET_ICECHUNK_LOG, StorageConfig
from ocr_assets.storage.layout import Layout
from ocr_assets.storage.lease import DEFAULT_LEASE_SECONDS

__all__ = [
    "DEFAULT_INPUT_ROOT",
    "DEFAULT_STORAGE_ROOT",
    "ENVIRONMENTS",
    "Settings",
    "SettingsError",
    "check_range",
]

DEFAULT_STORAGE_ROOT = "./data"
DEFAULT_INPUT_ROOT = "./data/input"
#: Where ``make ui`` serves the Dagster UI.
DEFAULT_UI_URL = "http://127.0.0.1:3000"
#: Bounds of ``OCR_LEASE_SECONDS``: a heartbeat every sixth of it, at least every 10 s.
MIN_LEASE_SECONDS, MAX_LEASE_SECONDS = 60.0, 86400.0
#: The shard zooms ``OCR_TILE_SHARD_ZOOM`` may name: from the building archive's first zoom.
MIN_SHARD_ZOOM, MAX_SHARD_ZOOM = 6, 14

#: Environment variables any one of which (or pair) gives the AWS SDKs credentials.
CREDENTIAL_SOURCES: tuple[tuple[str, ...], ...] = (
    ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"),
    ("AWS_PROFILE",),
    ("AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"),
    ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",),
    ("AWS_CONTAINER_CREDENTIALS_FULL_URI",),
)

#: The optional branches: their flag and the asset each switches.
BRANCH_FLAGS: dict[str, str] = {
    "risk_pyramid": "OCR_CREATE_PYRAMID",
    "region_analysis_files": "OCR_WRITE_REGIONAL_STATS",
}


class SettingsError(DeploymentError):
    """A setting is missing or malformed; the message names the setting."""


def check_range(value: float, variable: str, low: float, high: float) -> float:
    """Return ``value`` when ``low <= value <= high``.

    Raises:
        SettingsError: naming ``variable``, the value and the range.
    """
    if not low <= value <= high:
        kind = "an integer" if isinstance(value, int) else "a number"
        raise SettingsError(
            f"{variable}={str(value)!r} is out of range; use {kind} from {low:g} to {high:g}"
        )
    return value


def _number(text: str, variable: str, low: float, high: float, integer: bool = False) -> float:
    """The number ``text`` (a variable's value), within [low, high]."""
    kind = "an integer" if integer else "a number"
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        raise SettingsError(
            f"{variable}={text!r} is not {kind}; use {kind} from {low:g} to {high:g}"
        ) from None
    return check_range(value, variable, low, high)


@dataclass(frozen=True)
class Settings:
    """Every setting of a run, validated. Build with :meth:`from_env` (or directly, in tests).

    Attributes:
        environment: ``local``, ``qa``, ``staging`` or ``production``.
        storage_root: Absolute local folder or ``s3://bucket/prefix`` of the outputs.
        input_root: Absolute local folder or ``s3://`` prefix of the inputs.
        version: Semantic version (``None``: unversioned).
        regions: The region selection text (``OCR_REGIONS`` syntax; empty: the environment's).
        force: Reprocess committed regions; replace a published roll-up whatever it loses.
        wipe: Delete the environment's outputs before deploying.
        create_pyramid: Build ``risk_pyramid`` (``None``: the environment's default).
        write_regional_stats: Build ``region_analysis_files`` (``None``: the default).
        compute_backend: ``local`` or ``coiled`` (``None``: the environment's).
        compute_overrides: Sizes per asset, in the ``OCR_COMPUTE_OVERRIDES`` format.
        software_env: The Coiled software environment (``None``: package sync).
        max_output_loss: Largest share of a published roll-up's content a new one may lose.
        tile_shard_zoom: Zoom of the building tiles' shards (``None``: the environment's).
        storage: Time-outs, attempts and endpoint of the object-store calls.
        ui_url: The Dagster UI's address, for links to runs (``OCR_UI_URL``).
        lease_wait: Wait for another deployment's lease instead of refusing (``OCR_LEASE_WAIT``).
        lease_seconds: Life of a deployment's lease after its last heartbeat
            (``OCR_LEASE_SECONDS``).
        dagster_home: The Dagster instance's folder (``DAGSTER_HOME``; ``None``: unset).
        names: How the user named each setting, when not by its variable (``--regions``).
        from_environment: The variables whose values were taken from the process environment
            verbatim (the code location configures those as ``dg.EnvVar``).
    """

    environment: str = "local"
    storage_root: str = DEFAULT_STORAGE_ROOT
    input_root: str = DEFAULT_INPUT_ROOT
    version: str | None = None
    regions: str = ""
    force: bool = False
    wipe: bool = False
    create_pyramid: bool | None = None
    write_regional_stats: bool | None = None
    compute_backend: str | None = None
    compute_overrides: Mapping[str, Any] = field(default_factory=dict)
    software_env: str | None = None
    max_output_loss: float = 0.5
    tile_shard_zoom: int | None = None
    storage: StorageConfig = field(default_factory=StorageConfig)
    ui_url: str = DEFAULT_UI_URL
    lease_wait: bool = False
    lease_seconds: float = DEFAULT_LEASE_SECONDS
    dagster_home: str | None = None
    names: Mapping[str, str] = field(default_factory=dict, compare=False)
    from_environment: frozenset[str] = field(default_factory=frozenset, compare=False)

    def __post_init__(self) -> None:
        try:
            policy = get_policy(self.environment, self.name("OCR_ENVIRONMENT"))
            storage_root = validate_storage_root(self.storage_root, self.name("OCR_STORAGE_ROOT"))
            input_root = validate_storage_root(self.input_root, self.name("OCR_INPUT_ROOT"))
            version = resolve_version(self.environment, self.version or None)
            if self.wipe:
                check_wipe(self.environment, self.wipe)
            if self.compute_backend:
                parse_backend(self.compute_backend, self.name("OCR_COMPUTE"))
            overrides = parse_overrides(self.compute_overrides, self.name("OCR_COMPUTE_OVERRIDES"))
        except SettingsError:
            raise
        except DeploymentError as error:
            raise SettingsError(str(error)) from error
        check_range(self.max_output_loss, self.name("OCR_MAX_OUTPUT_LOSS"), 0.0, 1.0)
        if self.tile_shard_zoom is None:
            object.__setattr__(self, "tile_shard_zoom", policy.tile_shard_zoom)
        check_range(
            self.tile_shard_zoom, self.name("OCR_TILE_SHARD_ZOOM"), MIN_SHARD_ZOOM, MAX_SHARD_ZOOM
        )
        check_range(
            self.lease_seconds, self.name("OCR_LEASE_SECONDS"), MIN_LEASE_SECONDS, MAX_LEASE_SECONDS
        )
        if not self.ui_url.startswith(("http://", "https://")):
            raise SettingsError(
                f"{self.name('OCR_UI_URL')}={self.ui_url!r} is not a web address; give the "
                f"Dagster UI's http(s) URL (default {DEFAULT_UI_URL})"
            )
        object.__setattr__(self, "ui_url", self.ui_url.rstrip("/"))
        object.__setattr__(self, "storage_root", storage_root)
        object.__setattr__(self, "input_root", input_root)
        object.__setattr__(self, "version", version)
        object.__setattr__(self, "regions", self.regions.strip() or policy.default_regions)
        object.__setattr__(self, "compute_overrides", overrides)
        if self.create_pyramid is None:
            object.__setattr__(self, "create_pyramid", policy.create_pyramid)
        if self.write_regional_stats is None:
            object.__setattr__(self, "write_regional_stats", policy.write_regional_stats)

    def name(self, variable: str) -> str:
        """How messages name ``variable``: the option it came from, or the variable itself."""
        return self.names.get(variable, variable)

    @property
    def policy(self) -> EnvironmentPolicy:
        """The environment's policy (defaults, wipes, retries, URL)."""
        return get_policy(self.environment)

    @property
    def retries(self) -> int:
        """Retries of a failed region or roll-up step (5 s x attempt between tries)."""
        return self.policy.retries

    @property
    def layout(self) -> Layout:
        """Where the outputs of this environment (and version) live."""
        return Layout(self.storage_root, self.environment, self.version)

    @property
    def branches(self) -> dict[str, bool]:
        """Optional asset -> whether the jobs build it."""
        return {
            "risk_pyramid": bool(self.create_pyramid),
            "region_analysis_files": bool(self.write_regional_stats),
        }

    def cluster_spec(self, asset_key: str) -> ClusterSpec:
        """The cluster ``asset_key`` gets with these settings."""
        return cluster_spec(
            self.environment,
            asset_key,
            backend=self.compute_backend,
            overrides=self.compute_overrides,
            software=self.software_env,
        )

    def with_changes(self, **changes: Any) -> Settings:
        """These settings with some fields replaced (validated again)."""
        return replace(self, **changes)

    # ------------------------------------------------------------------ reading
    @classmethod
    def from_variables(
        cls, variables: Mapping[str, str], names: Mapping[str, str] | None = None
    ) -> Settings:
        """Parse ``variables`` (a mapping of the variables above; others are ignored).

        ``names`` says how to name a variable in messages when the user gave it otherwise
        (``{"OCR_REGIONS": "--regions"}``).
        """
        names = dict(names or {})

        def text(variable: str) -> str:
            return (variables.get(variable) or "").strip()

        def flag(variable: str) -> bool | None:
            value = text(variable)
            if not value:
                return None
            try:
                return parse_bool(value, names.get(variable, variable))
            except DeploymentError as error:
                raise SettingsError(str(error)) from error

        def number(variable: str, default: float, low: float, high: float) -> float:
            value = text(variable)
            return _number(value, names.get(variable, variable), low, high) if value else default

        for root in ("OCR_STORAGE_ROOT", "OCR_INPUT_ROOT"):
            if root in variables and not text(root):
                raise SettingsError(
                    f"{names.get(root, root)} is set but empty; give a local folder or an "
                    "s3://bucket/prefix URI (or unset it for the default)"
                )
        environment = text("OCR_ENVIRONMENT") or "local"
        try:
            policy = get_policy(environment, names.get("OCR_ENVIRONMENT", "OCR_ENVIRONMENT"))
        except DeploymentError as error:
            raise SettingsError(str(error)) from error
        storage_root = text("OCR_STORAGE_ROOT") or policy.default_storage_root
        if storage_root is None:
            raise SettingsError(
                f"{names.get('OCR_STORAGE_ROOT', 'OCR_STORAGE_ROOT')} is required in "
                f"{environment}: set it (its env file {policy.env_file} does) to a local folder "
                "or s3://bucket/prefix"
            )
        attempts = text("OCR_STORAGE_ATTEMPTS")
        storage = StorageConfig(
            connect_timeout=number("OCR_STORAGE_CONNECT_TIMEOUT", 10.0, 0.1, 600),
            read_timeout=number("OCR_STORAGE_READ_TIMEOUT", 60.0, 0.1, 3600),
            probe_timeout=number("OCR_STORAGE_PROBE_TIMEOUT", 20.0, 0.5, 3600),
            stall_timeout=number("OCR_STORAGE_STALL_TIMEOUT", 60.0, 0.5, 3600),
            operation_timeout=number("OCR_STORAGE_OPERATION_TIMEOUT", 0.0, 0.5, 604800) or None,
            attempts=int(_number(attempts, "OCR_STORAGE_ATTEMPTS", 1, 20, integer=True))
            if attempts
            else 3,
            endpoint_url=text("AWS_ENDPOINT_URL") or None,
            region=text("AWS_REGION") or text("AWS_DEFAULT_REGION") or None,
            icechunk_log=text("ICECHUNK_LOG") or QUIET_ICECHUNK_LOG,
        )
        return cls(
            environment=environment,
            storage_root=storage_root,
            input_root=text("OCR_INPUT_ROOT") or DEFAULT_INPUT_ROOT,
            version=text("OCR_VERSION") or None,
            regions=text("OCR_REGIONS"),
            force=bool(flag("OCR_FORCE")),
            wipe=bool(flag("OCR_WIPE")),
            create_pyramid=flag("OCR_CREATE_PYRAMID"),
            write_regional_stats=flag("OCR_WRITE_REGIONAL_STATS"),
            compute_backend=text("OCR_COMPUTE") or None,
            compute_overrides=_overrides(text("OCR_COMPUTE_OVERRIDES"), names),
            software_env=text("COILED_SOFTWARE_ENV_NAME") or None,
            max_output_loss=number("OCR_MAX_OUTPUT_LOSS", 0.5, 0.0, 1.0),
            tile_shard_zoom=(
                int(_number(shard_zoom, "OCR_TILE_SHARD_ZOOM", 0, 30, integer=True))
                if (shard_zoom := text("OCR_TILE_SHARD_ZOOM"))
                else None
            ),
            storage=storage,
            ui_url=text("OCR_UI_URL") or DEFAULT_UI_URL,
            lease_wait=bool(flag("OCR_LEASE_WAIT")),
            lease_seconds=number(
                "OCR_LEASE_SECONDS", DEFAULT_LEASE_SECONDS, MIN_LEASE_SECONDS, MAX_LEASE_SECONDS
            ),
            dagster_home=text("DAGSTER_HOME") or None,
            names=names,
        )

    @staticmethod
    def environment_from_env(environ: Mapping[str, str] | None = None) -> str:
        """The environment the process asks for (``OCR_ENVIRONMENT``, default ``local``),
        unvalidated: for entry points that serve one environment only."""
        env = os.environ if environ is None else environ
        return (env.get("OCR_ENVIRONMENT") or "").strip() or "local"

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, credentials: bool = True
    ) -> Settings:
        """The settings of the process environment (``environ``, default ``os.environ``).

        With ``credentials``, an ``s3://`` storage root needs AWS credentials in the same
        environment (:func:`check_s3_credentials`). Read from the process environment, the
        settings note which values came from it verbatim (:attr:`from_environment`).
        """
        env = os.environ if environ is None else environ
        settings = cls.from_variables(env)
        if credentials:
            check_s3_credentials(settings.storage_root, env)
        if environ is not None:
            return settings
        verbatim = {
            "OCR_INPUT_ROOT": settings.input_root,
            "OCR_STORAGE_ROOT": settings.storage_root,
            "OCR_ENVIRONMENT": settings.environment,
            "OCR_VERSION": settings.version,
        }
        same = frozenset(
            name for name, value in verbatim.items() if value and env.get(name) == value
        )
        return replace(settings, from_environment=same)

    @classmethod
    def for_environment(
        cls,
        environment: str,
        options: Mapping[str, tuple[str, str | None]] | None = None,
        env_file: str | Path | None = None,
        *,
        credentials: bool = False,
    ) -> Settings:
        """The settings of ``environment`` as the command line sees them.

        From weakest to strongest: the environment's env file in the current folder (or
        ``env_file``), the process's variables, then ``options`` (variable -> (option name,
        value); a ``None`` value is not given). Messages name an option as the user typed it.
        """
        given = {variable: value for variable, (_, value) in (options or {}).items() if value}
        names = {variable: option for variable, (option, value) in (options or {}).items() if value}
        try:
            variables = layered_variables(environment, given, os.environ, env_file)
        except SettingsError:
            raise
        except DeploymentError as error:
            raise SettingsError(str(error)) from error
        variables.update(
            {name: os.environ[name] for name in _STORAGE_VARIABLES if name in os.environ}
        )
        settings = cls.from_variables(variables, names)
        if credentials:
            check_s3_credentials(settings.storage_root, os.environ)
        return settings


#: Variables of the storage configuration that are not deployment variables of an env file.
_STORAGE_VARIABLES = ("AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION", "ICECHUNK_LOG")


def _overrides(text: str, names: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    try:
        return parse_overrides(text, names.get("OCR_COMPUTE_OVERRIDES", "OCR_COMPUTE_OVERRIDES"))
    except DeploymentError as error:
        raise SettingsError(str(error)) from error


def check_s3_credentials(
    root: str, environ: Mapping[str, str], variable: str = "OCR_STORAGE_ROOT"
) -> None:
    """Refuse an ``s3://`` root when ``environ`` offers the AWS SDKs no credentials.

    Accepted: access keys, a profile, a web-identity role (GitHub OIDC, Kubernetes) or container
    credentials (ECS, Fargate).

    Raises:
        SettingsError: naming ``variable`` and the credential variables looked for.
    """
    if not root.startswith("s3://"):
        return
    if any(all(environ.get(name) for name in source) for source in CREDENTIAL_SOURCES):
        return
    options = ", ".join(" + ".join(source) for source in CREDENTIAL_SOURCES)
    raise SettingsError(
        f"{variable}={root!r} is on S3 but no AWS credentials are set; set one of: {options}"
    )
