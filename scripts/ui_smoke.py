"""Smoke-test the Dagster UI: webserver up, asset graph over GraphQL, lineage page rendered.

Starts ``dagster-webserver`` on 127.0.0.1 (a free port) for ``workspace.yaml`` with the current
environment (``OCR_*`` settings, ``DAGSTER_HOME``: run it after ``make demo`` to see the demo's
materializations), prints every asset with its partitions and how many are materialized, and,
when headless Chromium is installed, saves a screenshot of the asset lineage page::

    .venv/bin/python scripts/ui_smoke.py --screenshot lineage.png

Exit code 0 when the graph has the phase 01 assets; 1 otherwise.
"""

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

REPO = Path(__file__).resolve().parent.parent
PHASE01_ASSETS = ("wind_direction_distribution", "region_risk_rasters", "region_buildings")

ASSET_GRAPH_QUERY = """
{
  assetNodes {
    assetKey { path }
    isPartitioned
    partitionKeys
    dependencyKeys { path }
    assetMaterializations(limit: 1) { runId }
    assetPartitionStatuses {
      ... on DefaultPartitionStatuses { materializedPartitions failedPartitions }
    }
  }
}
"""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_webserver(
    port: int, log: IO[bytes], env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start ``dagster-webserver`` for the repository's workspace on 127.0.0.1:``port``.

    Its output goes to ``log`` (a file: a pipe nobody reads would fill up and stall it).
    """
    webserver = Path(sys.executable).with_name("dagster-webserver")
    return subprocess.Popen(
        [str(webserver), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        stdout=log,
        stderr=subprocess.STDOUT,
    )


@contextmanager
def running_webserver(env: Mapping[str, str] | None = None, port: int = 0) -> Iterator[str]:
    """Run the webserver (``env`` added to the environment) while the block runs; yield its URL.

    Raises:
        RuntimeError: when it does not come up, with the end of its log.
    """
    port = port or free_port()
    base_url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile() as log:
        process = start_webserver(port, log, env)
        try:
            try:
                wait_until_ready(base_url, process)
            except (RuntimeError, TimeoutError) as error:
                log.seek(0)
                tail = log.read().decode(errors="replace")[-3000:]
                raise RuntimeError(f"{error}; webserver log:\n{tail}") from error
            yield base_url
        finally:
            process.terminate()
            process.wait(timeout=30)


def graphql(base_url: str, query: str) -> dict[str, Any]:
    """POST a GraphQL query; return its ``data`` (raise on errors)."""
    request = urllib.request.Request(
        f"{base_url}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        answer = json.load(response)
    if answer.get("errors"):
        raise RuntimeError(f"GraphQL errors: {answer['errors']}")
    return answer["data"]


def wait_until_ready(base_url: str, process: subprocess.Popen[bytes], timeout: float = 90) -> None:
    """Wait until the webserver answers with the code location loaded."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"dagster-webserver exited with code {process.returncode}")
        try:
            if graphql(base_url, "{ assetNodes { id } }")["assetNodes"]:
                return
        except (urllib.error.URLError, ConnectionError, RuntimeError):
            pass
        time.sleep(0.5)
    raise TimeoutError(f"dagster-webserver did not answer at {base_url} within {timeout:.0f} s")


def asset_graph(base_url: str) -> dict[str, dict[str, Any]]:
    """Asset key -> partitions, materialized partitions, dependencies, materialized flag."""
    nodes = graphql(base_url, ASSET_GRAPH_QUERY)["assetNodes"]
    graph = {}
    for node in nodes:
        statuses = node.get("assetPartitionStatuses") or {}
        graph["/".join(node["assetKey"]["path"])] = {
            "partitioned": node["isPartitioned"],
            "partitions": node["partitionKeys"],
            "materialized_partitions": statuses.get("materializedPartitions", []),
            "depends_on": ["/".join(d["path"]) for d in node["dependencyKeys"]],
            "materialized": bool(node["assetMaterializations"]),
        }
    return graph


def find_chromium() -> str | None:
    """Path of a headless-capable Chromium, if one is installed."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def render_lineage(chromium: str, base_url: str, out: Path, timeout: float = 120) -> None:
    """Save the asset lineage page as a PNG (headless Chromium) to ``out``."""
    graphql(base_url, "mutation { setNuxSeen }")  # the welcome popup would hide the graph
    out.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=15000",
            "--window-size=1400,900",
            f"--screenshot={out}",
            f"{base_url}/asset-groups",
        ],
        check=True,
        capture_output=True,
        timeout=timeout,
    )


def partition_page(
    chromium: str, base_url: str, asset: str, partition: str, timeout_ms: float = 60_000
) -> dict[str, Any]:
    """What a person sees on ``asset``'s page for ``partition`` (headless Chromium through
    Playwright): the metadata rows' labels and text, and the inline images (width, height)."""
    from playwright.sync_api import sync_playwright

    graphql(base_url, "mutation { setNuxSeen }")  # the welcome popup would hide the page
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{base_url}/assets/{asset}?view=partitions&partition={partition}")
            page.wait_for_selector("td", timeout=timeout_ms)
            page.wait_for_timeout(1000)
            rows = page.evaluate(
                """() => Object.fromEntries([...document.querySelectorAll('tr')]
                     .filter(tr => tr.children.length === 3 && tr.children[0].tagName === 'TD')
                     .map(tr => [tr.children[0].innerText.trim(), tr.children[1].innerText]))"""
            )
            images = [
                (box["width"], box["height"])
                for image in page.locator('img[src^="data:image/png"]').all()
                if image.is_visible() and (box := image.bounding_box()) is not None
            ]
        finally:
            browser.close()
    return {"rows": rows, "images": images}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the smoke test; returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    parser.add_argument("--screenshot", type=Path, help="save the lineage page as PNG here")
    args = parser.parse_args(argv)

    with running_webserver(port=args.port) as base_url:
        graph = asset_graph(base_url)
        for key, node in sorted(graph.items()):
            done = (
                f"{len(node['materialized_partitions'])}/{len(node['partitions'])} partitions"
                if node["partitioned"]
                else ("materialized" if node["materialized"] else "not materialized")
            )
            print(f"{key}: {done}; depends on {', '.join(node['depends_on']) or 'nothing'}")
        if args.screenshot:
            chromium = find_chromium()
            if chromium is None:
                print("no chromium installed: screenshot skipped")
            else:
                render_lineage(chromium, base_url, args.screenshot)
                print(f"lineage screenshot: {args.screenshot}")
    missing = [key for key in PHASE01_ASSETS if key not in graph]
    if missing:
        print(f"missing assets: {', '.join(missing)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
