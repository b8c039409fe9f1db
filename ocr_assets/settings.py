"""Process-wide settings read from the environment, validated once.

Four variables configure a deployment; everything else is derived from them:

- ``OCR_ENVIRONMENT``: ``local`` (default), ``qa``, ``staging`` or ``production``.
- ``OCR_STORAGE_ROOT``: where outputs go, a local folder (default ``./data``) or ``s3://bucket/prefix``.
- ``OCR_INPUT_ROOT``: where the input data sets live (default ``./data/input``).
- ``OCR_VERSION``: optional semantic version; when set, outputs live under ``v{version}``.

A malformed value raises :class:`SettingsError` naming the variable, before any compute starts.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ENVIRONMENTS: tuple[str, ...] = ("local", "qa", "staging", "production")

DEFAULT_STORAGE_ROOT = "./data"
DEFAULT_INPUT_ROOT = "./data/input"

# Semantic versioning 2.0.0 (https://semver.org), without a leading "v".
_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)
_S3_URI = re.compile(r"^s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9](/[^\s]*)?$")


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


def validate_environment(value: str, variable: str = "OCR_ENVIRONMENT") -> str:
    """Return ``value`` if it names a known environment, else raise :class:`SettingsError`."""
    if value not in ENVIRONMENTS:
        raise SettingsError(
            f"{variable}={value!r} is not a known environment; use one of {', '.join(ENVIRONMENTS)}"
        )
    return value


def validate_version(value: str | None, variable: str = "OCR_VERSION") -> str | None:
    """Return a semantic version (``1.2.3``, ``1.2.3-rc.1``) or ``None`` for unset/empty."""
    if value is None or value == "":
        return None
    if not _SEMVER.match(value):
        raise SettingsError(
            f"{variable}={value!r} is not a semantic version (MAJOR.MINOR.PATCH, e.g. 1.2.3, "
            "without a leading 'v')"
        )
    return value


def validate_root(value: str, variable: str) -> str:
    """Normalise a storage root: local paths become absolute, ``s3://`` URIs lose trailing slashes.

    Local paths are resolved against the current directory once, so that every run started from
    the same settings (demo, webserver, tests) agrees on where data lives.
    """
    if not value.strip():
        raise SettingsError(
            f"{variable} is empty; give a local folder or an s3://bucket/prefix URI"
        )
    if "://" in value:
        if not _S3_URI.match(value):
            raise SettingsError(
                f"{variable}={value!r} is not a supported location; use a local folder or "
                "s3://bucket/prefix (bucket names: lower case letters, digits, dots, hyphens)"
            )
        return value.rstrip("/")
    return str(Path(value).expanduser().resolve())


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
        object.__setattr__(self, "version", validate_version(self.version))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read the ``OCR_*`` variables from ``environ`` (default: ``os.environ``)."""
        env = os.environ if environ is None else environ
        return cls(
            environment=env.get("OCR_ENVIRONMENT", "local") or "local",
            storage_root=env.get("OCR_STORAGE_ROOT", DEFAULT_STORAGE_ROOT) or DEFAULT_STORAGE_ROOT,
            input_root=env.get("OCR_INPUT_ROOT", DEFAULT_INPUT_ROOT) or DEFAULT_INPUT_ROOT,
            version=env.get("OCR_VERSION") or None,
        )
