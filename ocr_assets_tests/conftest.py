"""Fixtures shared by every layer's tests (each folder's ``conftest.py`` adds its own).

The folders mirror the layers of ``ocr_assets`` (``docs/architecture.md``): ``science``,
``regions``, ``storage``, ``catalog``, ``rollups``, ``synthetic``, ``config``, ``preview``,
``orchestration``, ``deploy`` and ``entry`` (the entry points and the code location). Shared
Dagster helpers live in :mod:`ocr_assets_tests.helpers`.

- ``tiny_grid`` (session): a demo-style ``RegionGrid`` of 2 x 3 whole regions of 120 x 90 px
  on the published pixel lattice (the demo's origin), buffer 0.15 degree (larger than the grid,
  so every buffered window is the whole grid). On it, ``y0_x0`` (south-west) is all ocean and
  the valid regions are ``TINY_VALID_REGION_IDS`` (``y0_x1, y0_x2, y1_x0, y1_x1, y1_x2``).
- ``synthetic_root`` (session): a folder holding the complete synthetic inputs
  (``ocr_assets.synthetic.generate_inputs``) on ``tiny_grid`` with ``TINY_BUILDINGS``
  buildings and ``TINY_HOURS`` hourly weather steps; generated once per session in about 2 s.
  Treat it as read-only: copy it (``shutil.copytree``) before changing anything.
- ``synthetic_catalog`` (session): an ``InputCatalog`` on ``synthetic_root``.
- ``moto_endpoint`` (session): URL of a local moto S3 server, started on first use.
- ``s3_bucket`` (function): a fresh, empty bucket on that server; the storage layer is
  configured with its endpoint and the process has dummy credentials, so s3fs, Icechunk and
  ``UPath('s3://...')`` reach it.
- ``clean_env`` (function): no ``OCR_*`` deployment variable (nor GitHub's output files) in the
  process environment; returns the ``MonkeyPatch``.
- every test starts and ends with the storage layer's default configuration (autouse).
"""

from __future__ import annotations

import itertools
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from ocr_assets.catalog import InputCatalog
from ocr_assets.config.environments import DEPLOYMENT_VARIABLES
from ocr_assets.regions import RegionGrid, demo_grid
from ocr_assets.storage.config import StorageConfig, configure
from ocr_assets.synthetic import generate_inputs

TINY_BUILDINGS = 2000
TINY_HOURS = 240
#: The regions of ``tiny_grid`` holding data in ``synthetic_root`` (all but the ocean y0_x0).
TINY_VALID_REGION_IDS = ["y0_x1", "y0_x2", "y1_x0", "y1_x1", "y1_x2"]

_bucket_numbers = itertools.count()
#: Marks of the test files that start servers, clusters or browsers: the long ones.
_LONG = ("integration", "ui")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files with tests marked integration or ui first, in collection order otherwise.

    ``make test`` hands whole files to its workers (``--dist loadfile``) in this order, so the
    long files start first and the short ones fill in around them: a long file handed out last
    would run alone at the end.
    """
    long_files = {item.path for item in items if any(item.get_closest_marker(m) for m in _LONG)}
    items.sort(key=lambda item: item.path not in long_files)


@pytest.fixture(autouse=True)
def _default_storage_config() -> Iterator[None]:
    """Each test starts with the default storage configuration and leaves it so."""
    configure(StorageConfig())
    yield
    configure(StorageConfig())


@pytest.fixture(scope="session")
def tiny_grid() -> RegionGrid:
    """2 x 3 regions of 120 x 90 px (see the module docstring)."""
    return demo_grid(
        region_rows=120, region_cols=90, n_region_rows=2, n_region_cols=3, partial=False
    )


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory: pytest.TempPathFactory, tiny_grid: RegionGrid) -> Path:
    """Complete synthetic inputs on ``tiny_grid`` (read-only; copy before modifying)."""
    root = tmp_path_factory.mktemp("synthetic-inputs")
    generate_inputs(root, grid=tiny_grid, n_buildings=TINY_BUILDINGS, hours=TINY_HOURS)
    return root


@pytest.fixture(scope="session")
def synthetic_catalog(synthetic_root: Path) -> InputCatalog:
    """An ``InputCatalog`` on ``synthetic_root``."""
    return InputCatalog(str(synthetic_root))


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A local moto S3 server for the session, in its own process (as a real endpoint is: a
    server thread in the test process competes with the test for the interpreter lock, and
    stalled under load); yields its endpoint URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    endpoint = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto_server did not start on {endpoint}") from None
                time.sleep(0.2)
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture
def s3_bucket(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A new empty bucket on the moto server; the storage layer configured to reach it."""
    import s3fs

    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    configure(StorageConfig(endpoint_url=moto_endpoint, region="us-east-1"))
    s3fs.S3FileSystem.clear_instance_cache()
    bucket = f"test-bucket-{next(_bucket_numbers)}"
    s3fs.S3FileSystem(endpoint_url=moto_endpoint).mkdir(bucket)
    return bucket


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No deployment variable or GitHub Actions file variable in the process environment."""
    for name in (*DEPLOYMENT_VARIABLES, "GITHUB_OUTPUT", "GITHUB_ENV", "DAGSTER_HOME"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch
