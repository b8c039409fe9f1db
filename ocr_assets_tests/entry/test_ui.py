"""The Dagster UI: webserver on 127.0.0.1, asset graph and partitions over GraphQL, lineage page.

Uses ``scripts/ui_smoke.py`` (the script the README names) against a Dagster home holding one
materialized region. The screenshot needs headless Chromium and is skipped without it.
"""

import re
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from PIL import Image

from ocr_assets.code_location import build_definitions
from ocr_assets.config.settings import Settings
from ocr_assets.orchestration.assets.inputs import REGION_INPUT_ASSETS, ROW_INPUT_ASSETS
from ocr_assets.orchestration.jobs import PHASE01_JOB, WIND_JOB
from ocr_assets.orchestration.partitions import add_region_partitions
from ocr_assets.storage.layout import ASSET_KEYS
from ocr_assets_tests.conftest import TINY_VALID_REGION_IDS
from ocr_assets_tests.helpers import load_script

pytestmark = pytest.mark.ui

ui_smoke = load_script("ui_smoke")


@pytest.fixture(scope="module")
def webserver(tmp_path_factory: pytest.TempPathFactory, synthetic_root: Path) -> Iterator[str]:
    """A webserver over a Dagster home where wind and region y0_x1 are materialized."""
    home = tmp_path_factory.mktemp("dagster-home")
    storage_root = tmp_path_factory.mktemp("outputs")
    settings = Settings(storage_root=str(storage_root), input_root=str(synthetic_root))
    defs = build_definitions(settings)
    with dg.DagsterInstance.local_temp(str(home)) as instance:
        # What a deployment of every region does first: the regions become the partitions.
        add_region_partitions(instance, TINY_VALID_REGION_IDS)
        assert defs.resolve_job_def(WIND_JOB).execute_in_process(instance=instance).success
        job = defs.resolve_job_def(PHASE01_JOB)
        assert job.execute_in_process(instance=instance, partition_key="y0_x1").success
    env = {
        "DAGSTER_HOME": str(home),
        "OCR_INPUT_ROOT": str(synthetic_root),
        "OCR_STORAGE_ROOT": str(storage_root),
    }
    with ui_smoke.running_webserver(env) as base_url:
        yield base_url


def test_graphql_shows_the_graph_and_materialized_partitions(webserver: str) -> None:
    graph = ui_smoke.asset_graph(webserver)
    inputs = {asset.key.to_user_string() for asset in REGION_INPUT_ASSETS}
    rows = {asset.key.to_user_string() for asset in ROW_INPUT_ASSETS.values()}
    assert set(graph) == set(ASSET_KEYS) | inputs | rows
    assert set(ui_smoke.PHASE01_ASSETS) <= set(graph)
    assert "region_buildings" in graph["buildings_geoparquet"]["depends_on"]
    assert (
        set(graph["region_risk_rasters"]["depends_on"]) == {"wind_direction_distribution"} | inputs
    )
    assert sorted(graph["region_buildings"]["depends_on"]) == [
        "buildings_rows",
        "region_risk_rasters",
    ]
    assert graph["wind_direction_distribution"]["materialized"]
    for key in ("region_risk_rasters", "region_buildings"):
        node = graph[key]
        assert node["partitioned"]
        assert node["partitions"] == TINY_VALID_REGION_IDS
        assert node["materialized_partitions"] == ["y0_x1"]


def test_lineage_page_renders(webserver: str, tmp_path: Path) -> None:
    chromium = ui_smoke.find_chromium()
    if chromium is None:
        pytest.skip("headless Chromium is not installed (apt-get install chromium)")
    out = tmp_path / "lineage.png"
    ui_smoke.render_lineage(chromium, webserver, out)
    with Image.open(out) as image:
        assert image.size == (1400, 900)
        colours = image.convert("RGB").getcolors(maxcolors=1 << 16)
    assert colours is None or len(colours) > 20, "the page rendered blank"


def test_a_region_partition_shows_its_place_thumbnail_and_readable_numbers(webserver: str) -> None:
    chromium = ui_smoke.find_chromium()
    if chromium is None:
        pytest.skip("headless Chromium is not installed (apt-get install chromium)")
    seen = ui_smoke.partition_page(chromium, webserver, "region_risk_rasters", "y0_x1")
    rows = seen["rows"]
    assert rows["states"] == "California, Nevada"
    # The thumbnail is on the page without a click.
    assert len(seen["images"]) == 1 and min(seen["images"][0]) >= 20, seen["images"]
    # Numbers to a few significant digits: none with more than 6 anywhere in the metadata.
    shown = [text for text in rows.values() if not text.startswith("http")]  # links aside
    numbers = re.findall(r"\d+\.\d+", "\n".join(shown))
    digits = {n: len(n.replace(".", "").lstrip("0")) for n in numbers}
    assert numbers and max(digits.values()) <= 6, digits
