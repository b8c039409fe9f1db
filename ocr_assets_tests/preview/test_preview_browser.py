"""The map preview in headless Chromium, on the demo's outputs and on an empty environment.

Uses ``scripts/preview_smoke.py`` (the script the README names): the demo driver materializes the
whole graph on the tiny synthetic inputs, ``ocr-assets preview`` serves the outputs, and
Playwright drives the system Chromium. Skipped without Chromium or Playwright, like the UI test.
"""

import functools
import http.server
import importlib.util
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import geopandas as gpd
import numpy as np
import pytest
from PIL import Image

from ocr_assets.code_location import build_definitions
from ocr_assets.config.settings import Settings
from ocr_assets.demo import run_demo
from ocr_assets.preview import DEFAULT_PREVIEW_URL, preview_url
from ocr_assets.preview.outputs import LEVEL_ZOOMS
from ocr_assets.regions import RegionGrid
from ocr_assets.rollups.schema import histogram_column, mean_column, median_column
from ocr_assets.storage.layout import ASSET_KEYS, PARTITIONED_ASSETS, Layout
from ocr_assets_tests.conftest import TINY_VALID_REGION_IDS
from ocr_assets_tests.helpers import REPO_ROOT, load_script

pytestmark = pytest.mark.ui

SCRIPT = REPO_ROOT / "scripts" / "preview_smoke.py"


preview_smoke = load_script("preview_smoke")


@pytest.fixture(scope="module")
def chromium() -> str:
    path = preview_smoke.find_chromium()
    if path is None:
        pytest.skip("headless Chromium is not installed (apt-get install chromium)")
    if importlib.util.find_spec("playwright") is None:
        pytest.skip("the playwright package is not installed (pip install -e '.[dev]')")
    return path


@dataclass(frozen=True)
class Demo:
    """The demo's outputs and the preview links of every materialization (asset -> partition
    (``None`` for roll-ups) -> URL)."""

    layout: Layout
    links: dict[str, dict[str | None, str]]
    inputs: Path

    @property
    def env(self) -> dict[str, str]:
        """The preview's environment: the demo's inputs (for the state outlines)."""
        return {"OCR_INPUT_ROOT": str(self.inputs)}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, synthetic_root: Path) -> Demo:
    """Every output of the graph on the tiny synthetic inputs, as ``make demo`` writes them."""
    root = tmp_path_factory.mktemp("preview-outputs")
    settings = Settings(
        storage_root=str(root),
        input_root=str(synthetic_root),
        create_pyramid=True,
        write_regional_stats=True,
    )
    defs = build_definitions(settings)
    links: dict[str, dict[str | None, str]] = {}
    with dg.DagsterInstance.local_temp(str(tmp_path_factory.mktemp("home"))) as instance:
        report = run_demo(defs, instance, settings.layout)
        for key in ASSET_KEYS:
            records = instance.fetch_materializations(dg.AssetKey(key), limit=100).records
            for record in records:
                materialization = record.asset_materialization
                if "preview" in materialization.metadata:
                    link = materialization.metadata["preview"].value
                    links.setdefault(key, {})[materialization.partition] = link
    assert report.failed == {}
    return Demo(settings.layout, links, synthetic_root)


def test_materializations_link_to_the_preview_at_their_extent(
    demo: Demo, tiny_grid: RegionGrid
) -> None:
    rollups = [key for key in ASSET_KEYS if key not in PARTITIONED_ASSETS]
    rollups.remove("wind_direction_distribution")  # not on the map
    for key in rollups:
        assert demo.links[key] == {None: preview_url()}, key
    for key in ("region_risk_rasters", "region_buildings", "region_statistics_partials"):
        assert demo.links[key] == {
            region: preview_url(tiny_grid.bounds(region)) for region in TINY_VALID_REGION_IDS
        }, key
    # Tile features link to their buildings' extent (the whole outputs for a region without any).
    features = demo.links["region_tile_features"]
    assert set(features) == set(TINY_VALID_REGION_IDS)
    assert all(link.startswith(DEFAULT_PREVIEW_URL) for link in features.values())
    assert any("#bounds=" in link for link in features.values())


def test_a_region_link_opens_the_page_at_the_region(
    chromium: str, demo: Demo, tiny_grid: RegionGrid
) -> None:
    region = TINY_VALID_REGION_IDS[-1]
    link = demo.links["region_buildings"][region]
    west, south, east, north = tiny_grid.bounds(region)
    with preview_smoke.running_preview("local", demo.layout.root, demo.env) as url:
        shown = preview_smoke.map_bounds(link.replace(DEFAULT_PREVIEW_URL, url), chromium)
    assert shown[0] <= west < east <= shown[2] and shown[1] <= south < north <= shown[3]
    # fitted to the region (tight in one direction), not to the whole outputs
    assert min((shown[2] - shown[0]) / (east - west), (shown[3] - shown[1]) / (north - south)) < 1.5


def test_the_map_draws_every_layer_and_a_clicked_county_shows_its_statistics(
    chromium: str, demo: Demo, tmp_path: Path
) -> None:
    counties = gpd.read_parquet(demo.layout.region_summary_stats("counties"))
    county = counties.sort_values("building_count").iloc[-1]
    inside = county.geometry.representative_point()
    screenshot = tmp_path / "preview.png"
    with preview_smoke.running_preview("local", demo.layout.root, demo.env) as url:
        report = preview_smoke.inspect_preview(
            url, chromium, click_at=(inside.x, inside.y), screenshot=screenshot
        )

    assert report["console_errors"] == []
    assert not report["missing_page"]
    expected_layers = {f"regions-{level}" for level in LEVEL_ZOOMS} | {
        "buildings",
        "building-centroids",
        "states",
    }
    assert set(report["layers"]) == expected_layers
    assert all(count > 0 for count in report["layers"].values()), report["layers"]
    assert preview_smoke.check(report) == []

    panel = report["panel"]
    assert (panel["kind"], panel["level"], panel["GEOID"]) == ("region", "counties", county.GEOID)
    assert int(panel["building_count"]) == county.building_count
    for year in ("2011", "2047"):
        for column, field in (
            (mean_column(f"rps_{year}"), f"rps_{year}_mean"),
            (median_column(f"rps_{year}"), f"rps_{year}_median"),
        ):
            assert float(panel[field]) == pytest.approx(float(county[column]), rel=1e-6), field
        histogram = histogram_column(year)
        assert panel[histogram] == [float(v) for v in county[histogram]]

    # at the page's first view, fitted to the outputs, the raster covers much of the 1280 x 800
    assert report["raster_pixels"] > 0.2 * 1280 * 800
    with Image.open(screenshot) as image:
        assert image.size == (1280, 800)
        colours = np.unique(np.asarray(image.convert("RGB")).reshape(-1, 3), axis=0)
    assert len(colours) > 20, "the page rendered blank"


def test_an_environment_without_outputs_says_what_is_missing(chromium: str, tmp_path: Path) -> None:
    with preview_smoke.running_preview("local", str(tmp_path / "nothing")) as url:
        report = preview_smoke.inspect_preview(url, chromium)
    assert report["console_errors"] == []
    assert report["missing_page"]
    text = report["missing_text"]
    for asset in (
        "regional_pmtiles",
        "building_pmtiles",
        "building_centroid_pmtiles",
        "risk_pyramid",
    ):
        assert asset in text
    assert "make demo" in text and str(tmp_path / "nothing") in text


class StyleServer(http.server.SimpleHTTPRequestHandler):
    """Files, with the CORS header a style server sends (the page is on another origin)."""

    def end_headers(self) -> None:
        self.send_header("Access-Control-Allow-Origin", "*")
        super().end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def base_style(tmp_path: Path) -> Iterator[str]:
    """A MapLibre style with one background layer, served on 127.0.0.1."""
    (tmp_path / "style.json").write_text(
        json.dumps(
            {
                "version": 8,
                "sources": {},
                "layers": [
                    {
                        "id": "base-land",
                        "type": "background",
                        "paint": {"background-color": "#cfe3c0"},
                    }
                ],
            }
        )
    )
    handler = functools.partial(StyleServer, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/style.json"
    finally:
        server.shutdown()


def test_a_base_map_draws_under_the_outputs_and_its_absence_is_said(
    chromium: str, demo: Demo, base_style: str
) -> None:
    with preview_smoke.running_preview(
        "local", demo.layout.root, demo.env, ["--base-map", base_style]
    ) as url:
        report = preview_smoke.inspect_preview(url, chromium)
    assert report["console_errors"] == []
    layers = report["style_layers"]
    assert layers[0] == "base-land" and "background" not in layers
    assert layers.index("states") < layers.index("buildings")

    # An unreachable style: the map is drawn without it, and the page says so.
    gone = base_style.replace("style.json", "missing.json")
    with preview_smoke.running_preview(
        "local", demo.layout.root, demo.env, ["--base-map", gone]
    ) as url:
        report = preview_smoke.inspect_preview(url, chromium)
    assert f"base map {gone} not shown: HTTP 404" in report["notice"]
    assert report["style_layers"][0] == "background" and report["layers"]["states"] > 0
