"""Process-wide settings read from the environment, validated once, before any compute.

Four variables configure a deployment; everything else is derived from them:

- ``OCR_ENVIRONMENT``: ``local`` (default), ``qa``, ``staging`` or ``production``.
- ``OCR_STORAGE_ROOT``: where outputs go, a local folder or ``s3://bucket/prefix``; required
  outside ``local`` (default there ``./data``).
- ``OCR_INPUT_ROOT``: where the input data sets live (default ``./data/input``).
- ``OCR_VERSION``: semantic version; required in production, optional elsewhere. When set,
  outputs live under ``v{version}``.

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

from ocr_assets.deploy.environments import (
    ENVIRONMENTS,
    get_policy,
    resolve_version,
    validate_storage_root,
)
from ocr_assets.deploy.naming import DeploymentError
from ocr_assets.deploy.naming import validate_version as validate_semver

__all__ = [
    "DEFAULT_INPUT_ROOT",
    "DEFAULT_STORAGE_ROOT",
    "ENVIRONMENTS",
    "Settings",
    "SettingsError",
    "check_s3_credentials",
    "validate_environment",
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


@dataclass(frozen=True)
class Settings:
    """Validated deployment settings. Build with :meth:`from_env` or directly (tests)."""

    environment: str = "local"
    storage_root: str = DEFAULT_STORAGE_ROOT
    input_root: str = DEFAULT_INPUT_ROOT
    version: str | None = None

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
        credentials in the same ``environ``.
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
        )
        check_s3_credentials(settings.storage_root, env)
        return settings
