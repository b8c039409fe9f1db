"""Versions and names of deployments: semantic versions, release tags, Coiled environment names.

Standard library only, so CI can run it (``python -m ocr_assets.deploy.ci``) from a checkout
before the package and its dependencies are installed. For the same reason
:class:`DeploymentError`, the error of every ``ocr_assets.deploy`` module, is defined here.
"""

from __future__ import annotations

import re

# Semantic Versioning 2.0.0: MAJOR.MINOR.PATCH, optional -prerelease and +build, no leading zeros.
_NUMBER = r"(?:0|[1-9]\d*)"
_PRERELEASE_ID = r"(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)"
_SEMVER = re.compile(
    rf"{_NUMBER}\.{_NUMBER}\.{_NUMBER}"
    rf"(?:-{_PRERELEASE_ID}(?:\.{_PRERELEASE_ID})*)?"
    r"(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?"
)

#: Prefix of every Coiled software environment name of this project.
SOFTWARE_ENV_PREFIX = "ocr"
#: Longest software environment name produced (a DNS label's length, safe for Coiled and tags).
SOFTWARE_ENV_MAX_LENGTH = 63


class DeploymentError(ValueError):
    """A deployment setting is missing, malformed or not allowed; the message names it."""


def validate_version(value: str, variable: str = "OCR_VERSION") -> str:
    """Return ``value`` when it is a semantic version without a leading ``v`` (``1.2.3``).

    Raises:
        DeploymentError: naming ``variable`` and the value otherwise.
    """
    if not isinstance(value, str) or not _SEMVER.fullmatch(value):
        raise DeploymentError(
            f"{variable}={value!r} is not a semantic version: use MAJOR.MINOR.PATCH such as "
            "1.2.3 (optionally -rc.1 / +build), without a leading 'v'"
        )
    return value


def version_from_tag(tag: str, variable: str = "production_tag") -> str:
    """The semantic version of a release tag: ``v1.2.3`` and ``1.2.3`` both give ``1.2.3``.

    Raises:
        DeploymentError: naming ``variable`` when the tag is not a semantic version.
    """
    text = tag.strip() if isinstance(tag, str) else tag
    version = text[1:] if isinstance(text, str) and text.startswith("v") else text
    if not isinstance(version, str) or not _SEMVER.fullmatch(version):
        raise DeploymentError(
            f"{variable}={tag!r} is not a semantic version tag: use v1.2.3 or 1.2.3"
        )
    return version


def software_env_name(ref: str, prefix: str = SOFTWARE_ENV_PREFIX) -> str:
    """A Coiled software environment name for a branch, tag or PR: ``ocr-main``, ``ocr-v1-2-3``.

    The reference is lower-cased; every run of characters outside ``[a-z0-9]`` becomes one
    ``-``; the result is ``{prefix}-{ref}`` cut to :data:`SOFTWARE_ENV_MAX_LENGTH` without a
    trailing ``-``. Give ``pr-42`` for pull request 42.

    Raises:
        DeploymentError: when nothing usable is left of ``ref``.
    """
    slug = re.sub(r"[^a-z0-9]+", "-", ref.lower()).strip("-")
    if not slug:
        raise DeploymentError(
            f"cannot name a Coiled software environment after {ref!r}: it holds no letters or digits"
        )
    return f"{prefix}-{slug}"[:SOFTWARE_ENV_MAX_LENGTH].rstrip("-")
