"""Fixtures of the storage layer's tests (``ocr_assets.storage``).

- ``silent_endpoint`` (function): the storage layer configured, with test-sized limits, to reach
  an S3 endpoint that accepts connections and never answers
  (:class:`~ocr_assets_tests.storage.storage_fakes.SilentEndpoint`); yields its URL.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import s3fs

from ocr_assets_tests.storage.storage_fakes import SilentEndpoint, point_at


@pytest.fixture
def silent_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The URL of a silent endpoint the storage layer is configured to reach."""
    endpoint = SilentEndpoint()
    point_at(monkeypatch, endpoint.url)
    yield endpoint.url
    endpoint.close()
    s3fs.S3FileSystem.clear_instance_cache()
