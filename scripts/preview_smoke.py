"""Smoke-test the map preview in headless Chromium: layers, click panel, raster, screenshot.

Starts ``ocr-assets preview`` for an environment's outputs on 127.0.0.1 (a free port), opens the
page with Playwright driving the system Chromium (no browser download; WebGL through
SwiftShader), and checks that the page logs no errors, that every layer renders features at a
zoom where it is drawn, that clicking a county shows its values in the panel, and that the
raster layer draws coloured pixels. Prints one JSON report; run it after ``make demo``::

    .venv/bin/python scripts/preview_smoke.py --screenshot preview.png

Exit code 0 when every check passed; 1 otherwise (the report says which failed).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ui_smoke import find_chromium, free_port  # the UI smoke test's helpers

REPO = Path(__file__).resolve().parent.parent
#: Chromium flags for WebGL without a GPU (MapLibre needs WebGL).
CHROMIUM_ARGS = ["--use-gl=angle", "--use-angle=swiftshader", "--enable-unsafe-swiftshader"]
VIEWPORT = {"width": 1280, "height": 800}

# Moves the map, waits until it has rendered everything, then runs a query.
WAIT_IDLE_JS = """
async ({center, zoom}) => {
  const map = window.map;
  map.jumpTo({center, zoom});
  await new Promise((resolve) => { map.once('idle', resolve); map.triggerRepaint(); });
}
"""
COUNT_FEATURES_JS = "(layer) => window.map.queryRenderedFeatures({layers: [layer]}).length"
HIDE_ALL_BUT_JS = """
(keep) => {
  for (const layer of window.map.getStyle().layers) {
    window.map.setLayoutProperty(layer.id, 'visibility', keep.includes(layer.id) ? 'visible' : 'none');
  }
  for (const id of ['controls', 'panel']) document.getElementById(id).style.display = 'none';
}
"""


@contextmanager
def running_preview(
    environment: str,
    storage_root: str | None = None,
    env: Mapping[str, str] | None = None,
    options: Sequence[str] = (),
) -> Iterator[str]:
    """Run ``ocr-assets preview`` (with ``options``) while the block runs; yield its URL.

    Raises:
        RuntimeError: when it does not come up, with the end of its log.
    """
    port = free_port()
    command = [sys.executable, "-m", "ocr_assets.cli", "preview", "-e", environment]
    command += ["--port", str(port)]
    if storage_root:
        command += ["--storage-root", storage_root]
    command += list(options)
    base_url = f"http://127.0.0.1:{port}/"
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            command,
            cwd=REPO,
            env={**os.environ, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                if process.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    tail = log.read().decode(errors="replace")[-3000:]
                    raise RuntimeError(f"the preview did not come up at {base_url}:\n{tail}")
                try:
                    with urllib.request.urlopen(f"{base_url}config.json", timeout=5):
                        break
                except (urllib.error.URLError, ConnectionError):
                    time.sleep(0.3)
            yield base_url
        finally:
            process.terminate()
            process.wait(timeout=30)


def class_colours(base_url: str) -> list[tuple[int, int, int]]:
    """The risk-class colours the page uses, as RGB."""
    with urllib.request.urlopen(f"{base_url}config.json", timeout=10) as response:
        colours = json.load(response)["classes"]["colours"]
    return [tuple(int(c[i : i + 2], 16) for i in (1, 3, 5)) for c in colours]


def coloured_pixels(png: bytes, colours: Sequence[tuple[int, int, int]], tolerance: int = 3) -> int:
    """Pixels of the PNG within ``tolerance`` of one of ``colours``."""
    import io

    import numpy as np
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        rgb = np.asarray(image.convert("RGB"), dtype=np.int16)
    hits = np.zeros(rgb.shape[:2], dtype=bool)
    for colour in colours:
        hits |= (np.abs(rgb - np.asarray(colour, dtype=np.int16)) <= tolerance).all(axis=-1)
    return int(hits.sum())


def inspect_preview(
    base_url: str,
    chromium: str,
    click_at: tuple[float, float] | None = None,
    screenshot: Path | None = None,
) -> dict[str, Any]:
    """Load the page and report what it shows.

    Args:
        base_url: The preview's URL.
        chromium: The Chromium executable.
        click_at: ``(lon, lat)`` inside a county to click (buildings hidden first); the panel's
            values are reported under ``panel``.
        screenshot: Where to save a PNG of the page as first shown.

    Returns:
        ``{console_errors, missing_page, layers: {id: features rendered}, style_layers (ids,
        bottom first), notice, panel, raster_pixels}``.
    """
    from playwright.sync_api import sync_playwright

    report: dict[str, Any] = {"console_errors": [], "layers": {}, "panel": None}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            errors = report["console_errors"]
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on(
                "response",
                lambda r: errors.append(f"HTTP {r.status} {r.url}") if r.status >= 400 else None,
            )
            page.goto(base_url)
            page.wait_for_function("window.previewReady === true", timeout=60_000)
            report["missing_page"] = page.locator("#missing").is_visible()
            if report["missing_page"]:
                report["missing_text"] = page.locator("#missing").inner_text()
                if screenshot:
                    page.screenshot(path=str(screenshot))
                return report
            page.evaluate(
                "new Promise((r) => { window.map.once('idle', r); window.map.triggerRepaint(); })"
            )
            if screenshot:
                screenshot.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(screenshot))
            config = page.evaluate("window.previewConfig")
            report["style_layers"] = page.evaluate("window.map.getStyle().layers.map(l => l.id)")
            report["notice"] = page.locator("#notice").inner_text()
            centre = page.evaluate("window.map.getCenter().toArray()")
            fitted_zoom = page.evaluate("window.map.getZoom()")  # the outputs fill the view
            report["layers"] = _layer_counts(page, config, centre)
            if click_at is not None:
                report["panel"] = _click_county(page, click_at)
            if config["raster"]:
                page.evaluate(HIDE_ALL_BUT_JS, ["background", "risk-raster"])
                page.evaluate("window.map.setPaintProperty('risk-raster', 'raster-opacity', 1)")
                page.evaluate(WAIT_IDLE_JS, {"center": centre, "zoom": fitted_zoom})
                report["raster_pixels"] = coloured_pixels(
                    page.screenshot(), class_colours(base_url)
                )
        finally:
            browser.close()
    return report


def map_bounds(url: str, chromium: str) -> list[float]:
    """``[west, south, east, north]`` the page shows once loaded from ``url`` (a preview link)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.goto(url)
            page.wait_for_function("window.previewReady === true", timeout=60_000)
            return page.evaluate("window.map.getBounds().toArray().flat()")
        finally:
            browser.close()


def _layer_counts(page: Any, config: dict[str, Any], centre: list[float]) -> dict[str, int]:
    """Features rendered by each layer at a zoom inside its range, at ``centre``."""
    zooms = {f"regions-{level}": hi - 0.5 for level, (lo, hi) in config["levelZooms"].items()}
    zooms["regions-blocks"] = config["levelZooms"]["blocks"][0] + 0.5
    buildings_min = page.evaluate("window.map.getLayer('buildings')?.minzoom ?? 6")
    zooms["building-centroids"] = buildings_min - 0.5
    zooms["buildings"] = buildings_min + 4
    zooms["states"] = config["levelZooms"]["counties"][0] + 0.5
    counts = {}
    for layer, zoom in zooms.items():
        if not page.evaluate("(id) => Boolean(window.map.getLayer(id))", layer):
            continue
        page.evaluate(WAIT_IDLE_JS, {"center": centre, "zoom": zoom})
        counts[layer] = page.evaluate(COUNT_FEATURES_JS, layer)
    return counts


def _click_county(page: Any, lon_lat: tuple[float, float]) -> dict[str, Any]:
    """Click the counties layer at ``lon_lat`` with buildings hidden; the panel's values."""
    if page.is_checked("#show-buildings"):
        page.click("#show-buildings")
    counties = page.evaluate("window.previewConfig.levelZooms.counties")
    page.evaluate(WAIT_IDLE_JS, {"center": list(lon_lat), "zoom": counties[1] - 0.5})
    x, y = page.evaluate(
        "(p) => { const q = window.map.project(p); return [q.x, q.y]; }", list(lon_lat)
    )
    page.mouse.click(x, y)
    page.wait_for_selector("#panel [data-kind]", timeout=10_000)
    panel = {
        "kind": page.get_attribute("#panel [data-kind]", "data-kind"),
        "level": page.get_attribute("#panel [data-kind]", "data-level"),
    }
    for node in page.query_selector_all("#panel [data-field][data-value]"):
        field, value = node.get_attribute("data-field"), node.get_attribute("data-value")
        panel[field] = json.loads(value) if value.startswith("[") else value
    page.click("#show-buildings")
    return panel


def check(report: dict[str, Any]) -> list[str]:
    """What failed in a report, one line each (empty when everything passed)."""
    failures = [f"console error: {e}" for e in report["console_errors"]]
    if report.get("missing_page"):
        failures.append(f"the page shows missing outputs: {report.get('missing_text', '')}")
        return failures
    failures += [f"layer {k} rendered no features" for k, n in report["layers"].items() if not n]
    if not report["layers"]:
        failures.append("no layer on the map")
    if report.get("raster_pixels") == 0:
        failures.append("the raster layer drew no coloured pixels")
    return failures


def main(argv: Sequence[str] | None = None) -> int:
    """Run the smoke test; returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--environment", "-e", default="local")
    parser.add_argument("--storage-root", help="outputs root (default: the environment's)")
    parser.add_argument("--screenshot", type=Path, help="save the page as PNG here")
    args = parser.parse_args(argv)
    chromium = find_chromium()
    if chromium is None:
        print("no chromium installed (apt-get install chromium)", file=sys.stderr)
        return 1
    with running_preview(args.environment, args.storage_root) as base_url:
        report = inspect_preview(base_url, chromium, screenshot=args.screenshot)
    print(json.dumps(report, indent=2))
    failures = check(report)
    for failure in failures:
        print(failure, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
