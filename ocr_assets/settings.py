"""Process-wide settings read from the environment, validated once, before any compute.

Four variables configure a deployment; everything else is derived from them:

- ``OCR_ENVIRONMENT``: ``local`` (default), ``qa``, ``staging`` or ``production``.
- ``OCR_STORAGE_ROOT``: where outputs go, a local folder or ``s3://bucket/prefix``; required
  outside ``local`` (default there ``./data``).
- ``OCR_INPUT_ROOT``: where the input data sets live (default ``./data/input``).
- ``OCR_VERSION``: semantic version; required in production, optional elsewhere. When set,
  outputs live under ``v{version}``.

Storage faults are bounded by :class:`StorageLimits` (``OCR_STORAGE_*``), roll-ups that would
lose most of a published output are refused per :class:`OutputGuard` (``OCR_MAX_OUTPUT_LOSS``,
``OCR_FORCE``); :func:`validate_process_variables` checks every other variable a run reads
(``OCR_WIPE``, ``OCR_COMPUTE``, ``OCR_COMPUTE_OVERRIDES``, the branch flags) with the functions
``ocr-assets plan`` uses, so every entry point refuses a bad value with the same message.

The rules are the deployment layer's (:mod:`ocr_assets.deploy.environments` and
:mod:`ocr_assets.deploy.naming`), so ``ocr-assets plan`` and the code location accept and refuse
the same settings. :meth:`Settings.from_env` also refuses an ``s3://`` storage root when the
environment offers no AWS credentials (:func:`check_s3_credentials`). Every failure is a
:class:`SettingsError` naming the variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from ocr_assets.deploy.compute import parse_backend, parse_overrides
from ocr_assets.deploy.environments import (
    ENVIRONMENTS,
    check_wipe,
    get_policy,
    parse_bool,
    read_flag,
    resolve_version,
    validate_storage_root,
)
from ocr_assets.deploy.naming import DeploymentError
from ocr_assets.deploy.naming import validate_version as validate_semver

__all__ = [
    "DEFAULT_INPUT_ROOT",
    "DEFAULT_STORAGE_ROOT",
    "ENVIRONMENTS",
    "OutputGuard",
    "Settings",
    "SettingsError",
    "StorageLimits",
    "check_range",
    "check_s3_credentials",
    "validate_environment",
    "validate_process_variables",
    "validate_root",
    "validate_version",
]

DEFAULT_STORAGE_ROOT = "./data"
DEFAULT_INPUT_ROOT = "./data/input"

#: Environment variables any one of which (or pair) gives the AWS SDKs credentials.
CREDENTIAL_SOURCES: tuple[tuple[str, ...], ...] = (
    ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"),
    ("AWS_PROFILE",),
    ("AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"),
    ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",),
    ("AWS_CONTAINER_CREDENTIALS_FULL_URI",),
)


class SettingsError(DeploymentError):
    """A setting is missing or malformed; the message names the variable."""


def validate_environment(value: str, variable: str = "OCR_ENVIRONMENT") -> str:
    """Return ``value`` if it names a known environment, else raise :class:`SettingsError`."""
    try:
        get_policy(value, variable)
    except DeploymentError as error:
        raise SettingsError(str(error)) from error
    return value


def validate_version(value: str | None, variable: str = "OCR_VERSION") -> str | None:
    """Return a semantic version (``1.2.3``, ``1.2.3-rc.1``) or ``None`` for unset/empty."""
    if not value:
        return None
    try:
        return validate_semver(value, variable)
    except DeploymentError as error:
        raise SettingsError(str(error)) from error


def validate_root(value: str, variable: str) -> str:
    """Normalise a root: local paths become absolute, ``s3://`` URIs lose trailing slashes.

    Local paths are resolved against the current directory once, so that every run started from
    the same settings (demo, webserver, tests) agrees on where data lives.
    """
    try:
        return validate_storage_root(value, variable)
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


def _number(
    environ: Mapping[str, str],
    variable: str,
    default: float,
    low: float,
    high: float,
    integer: bool = False,
) -> float:
    """The number ``environ[variable]`` (``default`` when unset or empty), within [low, high]."""
    text = environ.get(variable, "").strip()
    if not text:
        return default
    kind = "an integer" if integer else "a number"
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        raise SettingsError(
            f"{variable}={text!r} is not {kind}; use {kind} from {low:g} to {high:g}"
        ) from None
    return check_range(value, variable, low, high)


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


@dataclass(frozen=True)
class StorageLimits:
    """Bounds on every object-store call, so that a hanging or failing endpoint fails the step.

    Attributes:
        connect_timeout: Seconds to open a connection (``OCR_STORAGE_CONNECT_TIMEOUT``, 10).
        read_timeout: Seconds to wait for any answer on an open connection
            (``OCR_STORAGE_READ_TIMEOUT``, 60).
        operation_timeout: Seconds one attempt of one operation (a listing, an upload of a
            folder, a commit) may take in all (``OCR_STORAGE_OPERATION_TIMEOUT``, 600).
        attempts: Tries of an operation that failed transiently (network error, time-out,
            throttling), the first included (``OCR_STORAGE_ATTEMPTS``, 3).
    """

    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    operation_timeout: float = 600.0
    attempts: int = 3

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> StorageLimits:
        """Read the ``OCR_STORAGE_*`` limits (default: ``os.environ``)."""
        env = os.environ if environ is None else environ
        return cls(
            connect_timeout=_number(env, "OCR_STORAGE_CONNECT_TIMEOUT", 10.0, 0.1, 600),
            read_timeout=_number(env, "OCR_STORAGE_READ_TIMEOUT", 60.0, 0.1, 3600),
            operation_timeout=_number(env, "OCR_STORAGE_OPERATION_TIMEOUT", 600.0, 0.5, 86400),
            attempts=int(_number(env, "OCR_STORAGE_ATTEMPTS", 3, 1, 20, integer=True)),
        )


@dataclass(frozen=True)
class OutputGuard:
    """When a roll-up may replace a published output with a much smaller one.

    Attributes:
        max_loss_share: Largest share of the published content (e.g. buildings) a new output
            may lose (``OCR_MAX_OUTPUT_LOSS``, 0.5; 1 switches the guard off).
        force: Replace anyway (``OCR_FORCE``, the deployment's force flag).
    """

    max_loss_share: float = 0.5
    force: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> OutputGuard:
        """Read ``OCR_MAX_OUTPUT_LOSS`` and ``OCR_FORCE`` (default: ``os.environ``)."""
        env = os.environ if environ is None else environ
        try:
            force = parse_bool(env.get("OCR_FORCE", ""), "OCR_FORCE")
        except DeploymentError as error:
            raise SettingsError(str(error)) from error
        return cls(max_loss_share=_number(env, "OCR_MAX_OUTPUT_LOSS", 0.5, 0.0, 1.0), force=force)


def validate_process_variables(environment: str, environ: Mapping[str, str]) -> None:
    """Check every run-time variable a run of ``environment`` reads, as ``ocr-assets plan`` does.

    ``OCR_WIPE`` (a boolean, never true where the environment forbids wiping), ``OCR_COMPUTE``,
    ``OCR_COMPUTE_OVERRIDES``, the optional-branch flags, the storage limits and the output
    guard. Used when the code location loads, so ``dagster asset materialize``, ``dagster job
    execute`` and the UI refuse what ``plan`` refuses, before any compute.

    Raises:
        SettingsError: naming the variable and the bad value.
    """
    try:
        check_wipe(environment, parse_bool(environ.get("OCR_WIPE", ""), "OCR_WIPE"))
        if environ.get("OCR_COMPUTE"):
            parse_backend(environ["OCR_COMPUTE"])
        parse_overrides(environ.get("OCR_COMPUTE_OVERRIDES", ""))
        policy = get_policy(environment)
        read_flag(environ, "OCR_CREATE_PYRAMID", policy.create_pyramid)
        read_flag(environ, "OCR_WRITE_REGIONAL_STATS", policy.write_regional_stats)
    except SettingsError:
        raise
    except DeploymentError as error:
        raise SettingsError(str(error)) from error
    StorageLimits.from_env(environ)
    OutputGuard.from_env(environ)


@dataclass(frozen=True)
class Settings:
    """Validated deployment settings. Build with :meth:`from_env` or directly (tests)."""

    environment: str = "local"
    storage_root: str = DEFAULT_STORAGE_ROOT
    input_root: str = DEFAULT_INPUT_ROOT
    version: str | None = None
    guard: OutputGuard = OutputGuard()

    def __post_init__(self) -> None:
        validate_environment(self.environment)
        object.__setattr__(
            self, "storage_root", validate_root(self.storage_root, "OCR_STORAGE_ROOT")
        )
        object.__setattr__(self, "input_root", validate_root(self.input_root, "OCR_INPUT_ROOT"))
        try:
            version = resolve_version(self.environment, self.version or None)
        except DeploymentError as error:
            raise SettingsError(str(error)) from error
        object.__setattr__(self, "version", version)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read the ``OCR_*`` variables from ``environ`` (default: ``os.environ``).

        Outside ``local`` the storage root must be given; an ``s3://`` storage root needs AWS
        credentials in the same ``environ``; every other run-time variable is checked by
        :func:`validate_process_variables`.
        """
        env = os.environ if environ is None else environ
        environment = validate_environment(env.get("OCR_ENVIRONMENT") or "local")
        default_root = get_policy(environment).default_storage_root
        storage_root = env.get("OCR_STORAGE_ROOT") or default_root
        if storage_root is None:
            raise SettingsError(
                f"OCR_STORAGE_ROOT is required in {environment}: set it to a local folder or "
                "s3://bucket/prefix"
            )
        settings = cls(
            environment=environment,
            storage_root=storage_root,
            input_root=env.get("OCR_INPUT_ROOT") or DEFAULT_INPUT_ROOT,
            version=env.get("OCR_VERSION") or None,
            guard=OutputGuard.from_env(env),
        )
        check_s3_credentials(settings.storage_root, env)
        validate_process_variables(environment, env)
        return settings
