"""Settings: the deployment layer's rules, applied before any compute, naming the variable."""

import re

import pytest

from ocr_assets.deploy.naming import DeploymentError
from ocr_assets.settings import Settings, SettingsError

S3 = {"OCR_STORAGE_ROOT": "s3://carbonplan-ocr/output"}


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"OCR_ENVIRONMENT": "dev"}, "OCR_ENVIRONMENT='dev' is not a known environment"),
        (
            {"OCR_ENVIRONMENT": "production", **S3, "AWS_PROFILE": "ocr"},
            "OCR_VERSION is required in production",
        ),
        (
            {"OCR_ENVIRONMENT": "production", "OCR_VERSION": "v1", **S3, "AWS_PROFILE": "ocr"},
            "OCR_VERSION='v1' is not a semantic version",
        ),
        ({"OCR_ENVIRONMENT": "qa"}, "OCR_STORAGE_ROOT is required in qa"),
        ({"OCR_STORAGE_ROOT": "s3://Bad_Bucket/x"}, "OCR_STORAGE_ROOT='s3://Bad_Bucket/x'"),
        ({"OCR_ENVIRONMENT": "qa", **S3}, "OCR_STORAGE_ROOT='s3://carbonplan-ocr/output' is on S3"),
        (
            {**S3, "AWS_ACCESS_KEY_ID": "key"},  # a key without its secret is not enough
            "no AWS credentials are set",
        ),
    ],
)
def test_bad_settings_fail_naming_the_setting(environ: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=re.escape(message)):
        Settings.from_env(environ)


@pytest.mark.parametrize(
    "credentials",
    [
        {"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"},
        {"AWS_PROFILE": "ocr"},
        {"AWS_ROLE_ARN": "arn:aws:iam::1:role/x", "AWS_WEB_IDENTITY_TOKEN_FILE": "/t"},
        {"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials"},
    ],
)
def test_s3_root_with_credentials(credentials: dict[str, str]) -> None:
    settings = Settings.from_env(
        {"OCR_ENVIRONMENT": "production", "OCR_VERSION": "1.2.3", **S3, **credentials}
    )
    assert (settings.environment, settings.version) == ("production", "1.2.3")
    assert settings.storage_root == "s3://carbonplan-ocr/output"


def test_settings_errors_are_deployment_errors() -> None:
    with pytest.raises(DeploymentError):
        Settings(environment="production", storage_root="/tmp/x")
