"""The preview web server: one page, its static files, the archives and the raster tiles.

Routes (all read-only, relative to the page, so nothing about storage reaches the browser but
these URLs; credentials for ``s3://`` stay in this process):

- ``/``: the map page (``static/index.html``); it reads ``/config.json``.
- ``/config.json``: environment, which outputs exist (and how to make the missing ones), the
  risk classes, the archives' property keys and the census levels' zoom ranges.
- ``/static/...``: the page's script and styles and the vendored MapLibre GL JS and PMTiles.
- ``/pmtiles/{regions,buildings,building_centroids}.pmtiles``: the archives with HTTP range
  requests (``206 Partial Content``), read through fsspec from a local folder or ``s3://``.
- ``/raster/{variable}/{z}/{x}/{y}.png``: tiles of the risk pyramid (:mod:`.raster`).
- ``/states.geojson``: the census state outlines of the inputs (simplified), the page's
  reference layer, there whether or not any output exists.

A base map is optional: ``base_map`` is a MapLibre style URL the page draws under the outputs
(none by default, so the page works offline).

:func:`serve` binds the port first and fails naming it when it is taken.
"""

from __future__ import annotations

import errno
import json
import re
import socket
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ocr_assets.catalog import InputCatalog
from ocr_assets.preview.classes import CLASS_COLOURS, class_labels
from ocr_assets.preview.outputs import (
    ARCHIVES,
    BUILDING_KEYS,
    CENTROID_KEYS,
    LEVEL_ZOOMS,
    RASTER_VARIABLES,
    REGION_KEYS,
    find_outputs,
    output_locations,
)
from ocr_assets.preview.raster import PyramidError, PyramidTiles
from ocr_assets.rollups.tiles import BUILDING_LAYER
from ocr_assets.science.scores import SCORE_EDGES
from ocr_assets.storage import objects
from ocr_assets.storage.layout import Layout

STATIC = Path(str(files("ocr_assets.preview") / "static"))
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8050

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
#: Bytes read at a time when a whole archive is asked for.
_STREAM_CHUNK = 1 << 20


class PreviewError(RuntimeError):
    """The preview cannot start; the message names the reason (a port in use, ...)."""


class RangeNotSatisfiable(ValueError):
    """A ``Range`` header that does not select bytes of the file."""


def byte_range(header: str, size: int) -> tuple[int, int]:
    """The inclusive ``(first, last)`` bytes a single-range ``Range`` header selects.

    Supports ``bytes=a-b``, ``bytes=a-`` and ``bytes=-n`` (the last ``n`` bytes); ``b`` is
    clipped to the file.

    Raises:
        RangeNotSatisfiable: a malformed header, several ranges, or a range past the end.
    """
    match = _RANGE.match(header.strip())
    if not match or match.groups() == ("", ""):
        raise RangeNotSatisfiable(f"unsupported Range header {header!r}")
    start, end = match.groups()
    if not start:
        first, last = max(0, size - int(end)), size - 1
    else:
        first = int(start)
        last = min(int(end), size - 1) if end else size - 1
    if first > last or first >= size:
        raise RangeNotSatisfiable(f"Range {header!r} is outside the {size} bytes of the file")
    return first, last


def read_range(location: str, request: Request) -> Response:
    """The file at ``location``, whole or the part the request's ``Range`` asks for."""
    fs, path = objects.filesystem(location)
    try:
        size = int(fs.size(path))
    except FileNotFoundError:
        return Response(f"{location} does not exist", status_code=404)
    headers = {"Accept-Ranges": "bytes", "Cache-Control": "no-cache"}
    header = request.headers.get("range")
    if header is None:  # a whole archive can be gigabytes: streamed, never held in memory

        def chunks() -> Iterator[bytes]:
            with fs.open(path, "rb") as handle:
                while chunk := handle.read(_STREAM_CHUNK):
                    yield chunk

        headers["Content-Length"] = str(size)
        return StreamingResponse(chunks(), headers=headers, media_type="application/octet-stream")
    try:
        first, last = byte_range(header, size)
    except RangeNotSatisfiable as error:
        headers["Content-Range"] = f"bytes */{size}"
        return Response(str(error), status_code=416, headers=headers)
    body = fs.cat_file(path, start=first, end=last + 1)
    headers["Content-Range"] = f"bytes {first}-{last}/{size}"
    return Response(body, status_code=206, headers=headers, media_type="application/octet-stream")


#: Simplification of the state outlines, in degrees (about 500 m: a light reference layer).
STATE_TOLERANCE = 0.005


def state_outlines(input_root: str) -> dict[str, Any]:
    """The census states of the inputs under ``input_root`` as a GeoJSON FeatureCollection
    (outlines simplified by :data:`STATE_TOLERANCE`; properties ``GEOID``, ``NAME``,
    ``STUSPS`` where present).

    Raises:
        ValueError, OSError: naming the census file when it cannot be read.
    """
    states = InputCatalog(input_root).census("states")
    keep = [column for column in ("GEOID", "NAME", "STUSPS") if column in states.columns]
    simplified = states[keep].set_geometry(
        states.geometry.simplify(STATE_TOLERANCE, preserve_topology=True)
    )
    return json.loads(simplified.to_json(drop_id=True))


def create_app(
    layout: Layout, input_root: str | None = None, base_map: str | None = None
) -> Starlette:
    """The preview application for the outputs of ``layout``, with the state outlines of the
    inputs under ``input_root`` and the base map style ``base_map`` (both optional)."""
    locations = output_locations(layout)
    states: dict[str, Any] = {}

    def load_states() -> str | None:
        """Read the state outlines once; the reason they are missing, if they are."""
        if input_root is None:
            return "no input root given: no state outlines"
        if "collection" not in states and "problem" not in states:
            try:
                states["collection"] = state_outlines(input_root)
            except (OSError, ValueError) as error:
                states["problem"] = (
                    f"state outlines not shown: cannot read the census states: {error}"
                )
        return states.get("problem")

    # Replaced at every page load (config.json): a re-materialized pyramid may have other levels.
    opened = {"pyramid": PyramidTiles(locations["pyramid"][1], RASTER_VARIABLES)}

    def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    def config(request: Request) -> Response:
        outputs = find_outputs(layout)
        opened["pyramid"] = PyramidTiles(locations["pyramid"][1], RASTER_VARIABLES)
        problems = []
        states_problem = load_states()
        if states_problem and input_root is not None:
            problems.append(states_problem)
        raster = None
        if outputs["pyramid"].exists:
            try:
                maximum = opened["pyramid"].max_zoom
                raster = {"variables": list(RASTER_VARIABLES), "maxZoom": maximum}
            except PyramidError as error:
                problems.append(str(error))
        return JSONResponse(
            {
                "environment": layout.environment,
                "version": layout.version,
                "scope": layout.scope,
                "outputs": {
                    name: output.to_dict(layout.environment) for name, output in outputs.items()
                },
                "problems": problems,
                "classes": {
                    "colours": list(CLASS_COLOURS),
                    "labels": class_labels(),
                    "edges": list(SCORE_EDGES),
                },
                "regionKeys": REGION_KEYS,
                "buildingKeys": BUILDING_KEYS,
                "centroidKeys": CENTROID_KEYS,
                "buildingLayer": BUILDING_LAYER,
                "levelZooms": LEVEL_ZOOMS,
                "raster": raster,
                "states": states_problem is None,
                "baseMap": base_map,
            },
            headers={"Cache-Control": "no-cache"},
        )

    def archive(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in ARCHIVES:
            return Response(f"unknown archive {name!r}; expected one of {ARCHIVES}", 404)
        return read_range(locations[name][1], request)

    def state_layer(request: Request) -> Response:
        problem = load_states()
        if problem:
            return Response(problem, status_code=404)
        return JSONResponse(states["collection"])

    def raster_tile(request: Request) -> Response:
        params = request.path_params
        try:
            png = opened["pyramid"].png(params["variable"], params["z"], params["x"], params["y"])
        except (KeyError, ValueError) as error:  # unknown variable, tile outside the world
            return Response(str(error), status_code=404)
        return Response(png, media_type="image/png", headers={"Cache-Control": "no-cache"})

    return Starlette(
        routes=[
            Route("/", index),
            Route("/config.json", config),
            Route("/pmtiles/{name}.pmtiles", archive),
            Route("/raster/{variable}/{z:int}/{x:int}/{y:int}.png", raster_tile),
            Route("/states.geojson", state_layer),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ]
    )


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``.

    Raises:
        PreviewError: naming the port when it is in use (or cannot be bound).
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # Lets a restart reuse a port whose old connections linger; a listening socket still wins.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            raise PreviewError(
                f"port {port} on {host} is already in use; stop what uses it or choose "
                "another with --port"
            ) from error
        raise PreviewError(f"cannot listen on {host}:{port}: {error}") from error
    sock.listen(128)
    return sock


def serve(
    layout: Layout,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    input_root: str | None = None,
    base_map: str | None = None,
) -> None:
    """Serve the preview of ``layout`` on ``http://host:port/`` until interrupted (see
    :func:`create_app`)."""
    sock = bind(host, port)
    print(f"preview of {layout.scope} ({layout.root}) on http://{host}:{sock.getsockname()[1]}/")
    app = create_app(layout, input_root, base_map)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    server.run(sockets=[sock])
