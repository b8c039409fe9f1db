"""Building feature IDs: one per building, from its region and row, whatever tippecanoe's threads.

tippecanoe's ``--generate-ids`` numbers features in the order its threads read them, so the
same buildings tiled with 1 and 4 threads got different IDs, different zoom-level dropping and
different archives. The features now carry their own IDs (``feature_id_base(region) + row``).
"""

from __future__ import annotations

import gzip
from pathlib import Path

import mapbox_vector_tile
import numpy as np
import pytest
import shapely
from pmtiles.reader import MmapSource, Reader, all_tiles

from ocr_assets.regions import FEATURE_ROW_BITS, feature_id_base
from ocr_assets.rollups import building_pmtiles
from ocr_assets.rollups.schema import DatasetMetadata
from ocr_assets.synthetic.region_tables import region_buildings_table


def test_feature_id_base_is_the_region_above_32_bits() -> None:
    assert feature_id_base("y0_x0") == 0
    assert feature_id_base("y0_x1") == 1 << FEATURE_ROW_BITS
    assert feature_id_base("y16_x46") == ((16 << 10) | 46) << 32
    assert feature_id_base("y1023_x1023") + (1 << 32) - 1 < 2**53  # exact in JavaScript
    for bad in ("A", "y01_x2", "y1024_x0", "y0_x1024"):
        with pytest.raises(ValueError, match=repr(bad)):
            feature_id_base(bad)


def write_buildings(path: Path, count: int, seed: int) -> None:
    """``count`` random 12 m footprints with the region building columns."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-121.2, -121.0, count)
    y = rng.uniform(38.0, 38.15, count)
    half = 0.00006
    frame = region_buildings_table(
        shapely.box(x - half, y - half, x + half, y + half), seed, county="Alameda"
    )
    frame.to_parquet(path, write_covering_bbox=True, schema_version="1.1.0", index=False)


def feature_ids(archive: Path) -> dict[int, set[int]]:
    """The feature IDs of each zoom."""
    ids: dict[int, set[int]] = {}
    with archive.open("rb") as handle:
        for (zoom, _, _), data in all_tiles(Reader(MmapSource(handle)).get_bytes):
            layer = mapbox_vector_tile.decode(gzip.decompress(data))["risk"]
            ids.setdefault(zoom, set()).update(f["id"] for f in layer["features"])
    return ids


@pytest.mark.integration
def test_ids_come_from_region_and_row_and_do_not_depend_on_threads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    regions = {"y3_x7": 5000, "y3_x8": 3000}
    files = []
    for seed, (region_id, count) in enumerate(regions.items()):
        files.append(str(tmp_path / f"{region_id}.parquet"))
        write_buildings(Path(files[-1]), count, seed)
    archives = []
    for threads in ("1", "4"):
        monkeypatch.setenv("TIPPECANOE_MAX_THREADS", threads)
        archives.append(tmp_path / f"threads-{threads}.pmtiles")
        building_pmtiles(files, str(archives[-1]), DatasetMetadata())
    assert archives[0].read_bytes() == archives[1].read_bytes()

    ids = feature_ids(archives[0])
    expected = {
        feature_id_base(region_id) + row
        for region_id, count in regions.items()
        for row in range(count)
    }
    assert ids[max(ids)] == expected  # every building once at the finest zoom
    assert all(zoom_ids <= expected for zoom_ids in ids.values())
