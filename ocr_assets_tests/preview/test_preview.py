"""The map preview's server side: risk classes, links, range requests, raster tiles, config,
S3 through moto, and the errors (port in use, missing outputs, a malformed pyramid).

The page itself is tested in a browser by ``test_preview_browser.py``.
"""

import io
import json
import socket
import warnings
from pathlib import Path

import numpy as np
import pytest
import s3fs
import zarr
from PIL import Image

with warnings.catch_warnings():  # starlette 1.x prefers httpx2; httpx works the same here
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from ocr_assets.cli import main
from ocr_assets.config.terminal import EXIT_CONFIG_ERROR
from ocr_assets.preview import preview_url
from ocr_assets.preview.classes import CLASS_COLOURS, class_labels, class_rgba, risk_class
from ocr_assets.preview.raster import TILE_SIZE, PyramidTiles
from ocr_assets.preview.server import (
    PreviewError,
    RangeNotSatisfiable,
    bind,
    byte_range,
    create_app,
)
from ocr_assets.rollups.tiles import BUILDING_LAYER, REGION_LAYERS
from ocr_assets.science.scores import N_SCORES
from ocr_assets.storage.layout import Layout

FILL = 9.969209968386869e36
ARCHIVE_BYTES = bytes(range(256)) * 40  # 10240 bytes, each position recognisable


def rgb(colour: str) -> tuple[int, int, int]:
    return tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))


# ---------------------------------------------------------------------------- classes and links
def test_risk_classes_are_the_published_upper_inclusive_bins() -> None:
    values = np.array(
        [0, 0.005, 0.01, 0.0100001, 0.02, 0.035, 0.5, 1, 3, 3.01, 100, 100.5, -0.1, np.nan]
    )
    assert risk_class(values).tolist() == [0, 1, 1, 2, 2, 3, 7, 8, 9, 10, 10, -1, -1, -1]
    # compared at the data's precision: a float32 0.01 is on the edge, so class 1
    assert risk_class(np.array([0.01, 0.06], dtype=np.float32)).tolist() == [1, 4]


def test_class_table_colours_every_class_and_leaves_no_data_transparent() -> None:
    assert len(CLASS_COLOURS) == len(class_labels()) == N_SCORES
    assert class_labels()[0] == "0" and class_labels()[1:3] == ["(0, 0.01]", "(0.01, 0.02]"]
    table = class_rgba()
    assert [tuple(row[:3]) for row in table[:N_SCORES]] == [rgb(c) for c in CLASS_COLOURS]
    assert (table[:N_SCORES, 3] == 255).all()
    assert table[risk_class(np.array([np.nan]))[0], 3] == 0


def test_preview_url_opens_the_extent_or_the_outputs() -> None:
    url = preview_url((-121.0, 39.5, -120.5, 40.0))
    assert url == "http://127.0.0.1:8050/#bounds=-121.000000,39.500000,-120.500000,40.000000"
    assert preview_url() == "http://127.0.0.1:8050/"
    assert preview_url([0, 0, 1, 1], base_url="http://h:1/").startswith("http://h:1/#bounds=")
    with pytest.raises(ValueError, match="west < east"):
        preview_url((-120.5, 39.5, -121.0, 40.0))
    with pytest.raises(ValueError, match="four finite"):
        preview_url((0, 0, float("nan"), 1))


# ---------------------------------------------------------------------------- range requests
@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-99", (0, 99)),
        ("bytes=100-", (100, 999)),
        ("bytes=-10", (990, 999)),
        ("bytes=900-5000", (900, 999)),
    ],
)
def test_byte_range(header: str, expected: tuple[int, int]) -> None:
    assert byte_range(header, 1000) == expected


@pytest.mark.parametrize(
    "header", ["bytes=1000-", "bytes=5-2", "bytes=0-1,5-6", "items=0-1", "bytes=-"]
)
def test_byte_range_refuses_what_selects_nothing(header: str) -> None:
    with pytest.raises(RangeNotSatisfiable, match="Range"):
        byte_range(header, 1000)


# ---------------------------------------------------------------------------- a small output tree
def level_values(zoom: int, pixels_per_tile: int) -> np.ndarray:
    """Level ``zoom``'s full-world values: column index * 0.01 (+ NaN/fill in the top row)."""
    side = pixels_per_tile * 2**zoom
    values = np.tile(np.arange(side, dtype=np.float32) * 0.01, (side, 1))
    values[0, :] = FILL  # never written: the store's fill value
    return values


def write_pyramid(store: object, levels: int = 2, pixels_per_tile: int = 4) -> None:
    """A pyramid in the ndpyramid layout: groups "0".."levels-1", full-world (y, x) arrays."""
    root = zarr.open_group(store, mode="w", zarr_format=2)
    root.attrs["multiscales"] = [
        {"datasets": [{"path": str(z), "pixels_per_tile": pixels_per_tile} for z in range(levels)]}
    ]
    for zoom in range(levels):
        group = root.create_group(str(zoom))
        for name in ("rps_2011", "rps_2047"):
            side = pixels_per_tile * 2**zoom
            array = group.create_array(
                name,
                shape=(side, side),
                chunks=(pixels_per_tile, pixels_per_tile),
                dtype="float32",
                fill_value=FILL,
            )
            array[:] = level_values(zoom, pixels_per_tile) * (2 if name == "rps_2047" else 1)


def write_outputs(layout: Layout, fs: object) -> None:
    """The three archives (recognisable bytes) and a pyramid at ``layout``'s locations."""
    for location in (
        layout.regional_pmtiles,
        layout.building_pmtiles,
        layout.building_centroid_pmtiles,
    ):
        fs.pipe_file(location, ARCHIVE_BYTES)
    write_pyramid(fs.get_mapper(layout.risk_pyramid))


@pytest.fixture
def local_layout(tmp_path: Path) -> Layout:
    import fsspec

    layout = Layout(str(tmp_path / "data"), "qa", "1.2.3")
    fs = fsspec.filesystem("file", auto_mkdir=True)
    write_outputs(layout, fs)
    return layout


def decode(png: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(png)) as image:
        assert image.size == (TILE_SIZE, TILE_SIZE)
        return np.asarray(image.convert("RGBA"))


def expected_tile(
    zoom: int, x: int, y: int, pixels_per_tile: int = 4, levels: int = 2
) -> np.ndarray:
    """The tile's values by hand: each output pixel's centre as a fraction of the world, looked
    up in the finest level not finer than ``zoom`` (NaN where the store holds its fill value)."""
    values = level_values(min(zoom, levels - 1), pixels_per_tile)
    values[values == np.float32(FILL)] = np.nan
    side = values.shape[0]
    fraction = (np.arange(TILE_SIZE) + 0.5) / TILE_SIZE
    cols = np.floor((x + fraction) / 2**zoom * side).astype(int)
    rows = np.floor((y + fraction) / 2**zoom * side).astype(int)
    return values[np.ix_(rows, cols)]


# ---------------------------------------------------------------------------- raster tiles
@pytest.mark.parametrize(("zoom", "x", "y"), [(0, 0, 0), (1, 1, 0), (1, 0, 1), (3, 5, 2)])
def test_raster_tiles_sample_the_level_of_their_zoom(
    local_layout: Layout, zoom: int, x: int, y: int
) -> None:
    tiles = PyramidTiles(local_layout.risk_pyramid)
    assert tiles.max_zoom == 1
    values = tiles.values("rps_2011", zoom, x, y)
    np.testing.assert_array_equal(values, expected_tile(zoom, x, y))
    image = decode(tiles.png("rps_2011", zoom, x, y))
    classes = risk_class(values)
    np.testing.assert_array_equal(image, class_rgba()[classes])
    # the top row of the world is the store's fill value: transparent, not a colour
    if y == 0:
        assert (image[0, :, 3] == 0).all()
    assert (image[-1, :, 3] == 255).all()


def test_raster_tiles_refuse_unknown_variables_and_tiles(local_layout: Layout) -> None:
    tiles = PyramidTiles(local_layout.risk_pyramid)
    with pytest.raises(KeyError, match="wind"):
        tiles.values("wind", 0, 0, 0)
    with pytest.raises(ValueError, match="outside"):
        tiles.values("rps_2011", 1, 2, 0)


def test_malformed_pyramid_is_reported_by_name(tmp_path: Path) -> None:
    store = tmp_path / "pyramid.zarr"
    write_pyramid(str(store), levels=1)
    level = zarr.open_group(str(store), mode="a").create_group("1")
    for name in ("rps_2011", "rps_2047"):
        level.create_array(name, shape=(8, 6), chunks=(4, 4), dtype="f4")
    with pytest.raises(ValueError, match=r"1/rps_2011 has shape \(8, 6\); expected \(8, 8\)"):
        PyramidTiles(str(store)).png("rps_2011", 0, 0, 0)
    with pytest.raises(ValueError, match=r"no Zarr group at .*absent\.zarr"):
        PyramidTiles(str(tmp_path / "absent.zarr")).png("rps_2011", 0, 0, 0)


# ---------------------------------------------------------------------------- the server
def test_archives_are_served_with_range_requests(local_layout: Layout) -> None:
    client = TestClient(create_app(local_layout))
    for name in ("regions", "buildings", "building_centroids"):
        part = client.get(f"/pmtiles/{name}.pmtiles", headers={"Range": "bytes=300-1299"})
        assert part.status_code == 206
        assert part.content == ARCHIVE_BYTES[300:1300]
        assert part.headers["content-range"] == f"bytes 300-1299/{len(ARCHIVE_BYTES)}"
    whole = client.get("/pmtiles/regions.pmtiles")
    assert whole.status_code == 200 and whole.content == ARCHIVE_BYTES
    assert whole.headers["content-length"] == str(len(ARCHIVE_BYTES))
    past = client.get("/pmtiles/regions.pmtiles", headers={"Range": "bytes=999999-"})
    assert past.status_code == 416 and past.headers["content-range"] == "bytes */10240"
    assert client.get("/pmtiles/secrets.pmtiles").status_code == 404


def test_config_names_the_outputs_and_the_page_contract(local_layout: Layout) -> None:
    client = TestClient(create_app(local_layout))
    config = client.get("/config.json").json()
    assert config["scope"] == "qa/v1.2.3"
    assert {n: o["exists"] for n, o in config["outputs"].items()} == {
        "regions": True,
        "buildings": True,
        "building_centroids": True,
        "pyramid": True,
    }
    assert config["raster"] == {"variables": ["rps_2011", "rps_2047"], "maxZoom": 1}
    assert config["problems"] == []
    assert config["classes"]["colours"] == list(CLASS_COLOURS)
    # the names the page looks values up by, and the published keys they map to
    assert config["regionKeys"] == {
        "building_count": "0",
        "rps_2011_mean": "1",
        "rps_2047_mean": "2",
        "rps_2011_median": "3",
        "rps_2047_median": "4",
        "risk_score_2011_hist": "5",
        "risk_score_2047_hist": "6",
        "GEOID": "7",
        "bbox": "8",
        "NAME": "9",
        "STUSPS": "10",
    }
    assert config["buildingKeys"]["rps_2011"] == "0"
    assert config["buildingKeys"]["bp_2047_riley"] == "6"
    assert config["centroidKeys"] == {"rps_2011": "0", "rps_2047": "1"}
    assert set(config["levelZooms"]) == set(REGION_LAYERS)
    assert config["buildingLayer"] == BUILDING_LAYER
    page = client.get("/")
    assert page.status_code == 200 and "static/preview.js" in page.text
    for asset in ("preview.js", "preview.css", "vendor/maplibre-gl.js", "vendor/pmtiles.js"):
        assert client.get(f"/static/{asset}").status_code == 200, asset
    tile = client.get("/raster/rps_2047/1/1/1.png")
    assert tile.status_code == 200 and tile.headers["content-type"] == "image/png"
    assert client.get("/raster/rps_2047/1/2/1.png").status_code == 404


def test_a_rewritten_pyramid_is_read_again_at_the_next_page_load(local_layout: Layout) -> None:
    client = TestClient(create_app(local_layout))
    assert client.get("/config.json").json()["raster"]["maxZoom"] == 1
    write_pyramid(local_layout.risk_pyramid, levels=3)
    assert client.get("/config.json").json()["raster"]["maxZoom"] == 2
    assert client.get("/raster/rps_2011/2/3/3.png").status_code == 200


def test_missing_outputs_are_listed_with_how_to_make_them(tmp_path: Path) -> None:
    layout = Layout(str(tmp_path / "empty"), "local")
    config = TestClient(create_app(layout)).get("/config.json").json()
    assert not any(o["exists"] for o in config["outputs"].values())
    assert config["raster"] is None
    pyramid = config["outputs"]["pyramid"]
    assert pyramid["asset"] == "risk_pyramid" and pyramid["location"] == layout.risk_pyramid
    assert "make demo" in pyramid["how"] and "OCR_CREATE_PYRAMID" in pyramid["how"]
    staging = TestClient(create_app(Layout(str(tmp_path), "staging"))).get("/config.json").json()
    assert "ocr-assets plan -e staging" in staging["outputs"]["regions"]["how"]


def test_a_malformed_pyramid_is_a_problem_on_the_page_not_a_crash(local_layout: Layout) -> None:
    zarr.open_group(local_layout.risk_pyramid, mode="w", zarr_format=2)  # no levels
    config = TestClient(create_app(local_layout)).get("/config.json").json()
    assert config["raster"] is None
    assert any("expected 0..N" in problem for problem in config["problems"])


def test_s3_outputs_are_served_and_credentials_stay_server_side(s3_bucket: str) -> None:
    layout = Layout(f"s3://{s3_bucket}/ocr", "staging")
    write_outputs(layout, s3fs.S3FileSystem())
    client = TestClient(create_app(layout))
    part = client.get("/pmtiles/buildings.pmtiles", headers={"Range": "bytes=0-15"})
    assert part.status_code == 206 and part.content == ARCHIVE_BYTES[:16]
    local = PyramidTiles(layout.risk_pyramid).values("rps_2011", 1, 0, 1)
    np.testing.assert_array_equal(local, expected_tile(1, 0, 1))
    config = client.get("/config.json")
    assert config.json()["outputs"]["pyramid"]["exists"]
    assert "testing" not in config.text  # the moto credentials


# ---------------------------------------------------------------------------- starting
def test_a_port_in_use_fails_naming_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(PreviewError, match=f"port {port} on 127.0.0.1 is already in use"):
            bind("127.0.0.1", port)
        status = main(
            ["preview", "-e", "local", "--port", str(port), "--storage-root", str(tmp_path)]
        )
    assert status == EXIT_CONFIG_ERROR
    assert f"port {port}" in capsys.readouterr().err


def test_bind_listens_on_a_free_port() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sock = bind("127.0.0.1", port)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
    finally:
        sock.close()


def test_config_is_json_serialisable_for_a_versionless_layout(tmp_path: Path) -> None:
    body = TestClient(create_app(Layout(str(tmp_path), "local"))).get("/config.json").text
    assert json.loads(body)["version"] is None


def test_state_outlines_come_from_the_inputs_and_their_absence_is_a_problem(
    synthetic_root: Path, tmp_path: Path
) -> None:
    client = TestClient(create_app(Layout(str(tmp_path), "local"), str(synthetic_root)))
    config = client.get("/config.json").json()
    assert config["states"] is True and config["baseMap"] is None
    states = client.get("/states.geojson").json()
    assert {f["properties"]["NAME"] for f in states["features"]} == {"California", "Nevada"}
    assert all(f["geometry"]["type"] in {"Polygon", "MultiPolygon"} for f in states["features"])

    elsewhere = TestClient(
        create_app(Layout(str(tmp_path), "local"), str(tmp_path / "no-inputs"), "https://x/s.json")
    )
    config = elsewhere.get("/config.json").json()
    assert config["states"] is False and config["baseMap"] == "https://x/s.json"
    assert any("state outlines not shown" in problem for problem in config["problems"])
    assert elsewhere.get("/states.geojson").status_code == 404


def test_a_base_map_must_be_a_web_address(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["preview", "-e", "local", "--base-map", "style.json"]) == EXIT_CONFIG_ERROR
    assert "--base-map='style.json': give the http(s) URL" in capsys.readouterr().err
