"""Semantic versions, release tags and Coiled software environment names."""

from __future__ import annotations

import pytest

from ocr_assets.config.naming import (
    SOFTWARE_ENV_MAX_LENGTH,
    DeploymentError,
    software_env_name,
    validate_version,
    version_from_tag,
)


@pytest.mark.parametrize(
    "version", ["0.0.0", "1.2.3", "10.20.30", "1.2.3-rc.1", "1.0.0-alpha-a.b-c", "1.2.3+build.5"]
)
def test_valid_versions(version: str) -> None:
    assert validate_version(version) == version


@pytest.mark.parametrize(
    "version", ["v1.2.3", "1.2", "1.2.3.4", "01.2.3", "1.02.3", "1.2.3-", "1.2.3-01", "", " 1.2.3"]
)
def test_invalid_versions_name_the_setting(version: str) -> None:
    with pytest.raises(DeploymentError, match=r"OCR_VERSION=.*not a semantic version"):
        validate_version(version)


@pytest.mark.parametrize(
    ("tag", "version"), [("v1.2.3", "1.2.3"), ("1.2.3", "1.2.3"), (" v2.0.0-rc.1 ", "2.0.0-rc.1")]
)
def test_version_from_tag(tag: str, version: str) -> None:
    assert version_from_tag(tag) == version


@pytest.mark.parametrize("tag", ["vv1.2.3", "V1.2.3", "release-1", "v1.2", "latest", ""])
def test_bad_tags_name_the_input(tag: str) -> None:
    with pytest.raises(DeploymentError, match=r"production_tag=.*semantic version tag"):
        version_from_tag(tag)


@pytest.mark.parametrize(
    ("ref", "name"),
    [
        ("main", "ocr-main"),
        ("v1.2.3", "ocr-v1-2-3"),
        ("pr-42", "ocr-pr-42"),
        ("Feature/Fire_Spread--v2", "ocr-feature-fire-spread-v2"),
        ("__weird__", "ocr-weird"),
    ],
)
def test_software_env_names(ref: str, name: str) -> None:
    assert software_env_name(ref) == name


def test_software_env_names_are_cut_without_trailing_hyphen() -> None:
    name = software_env_name("a" * 58 + "-" + "b" * 20)
    assert len(name) <= SOFTWARE_ENV_MAX_LENGTH
    assert name == "ocr-" + "a" * 58
    assert set(software_env_name("x" * 200)) <= set("ocrx-")


def test_software_env_name_needs_letters_or_digits() -> None:
    with pytest.raises(DeploymentError, match="no letters or digits"):
        software_env_name("/--/")
