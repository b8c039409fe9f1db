"""Fixtures of the roll-ups' tests (``ocr_assets.rollups``), on the hand-built case of
:mod:`ocr_assets_tests.rollups.rollups_cases` (module-scoped: built once per test module).

- ``census``: the validated census polygons of every level.
- ``partials``: the folders of the region partials of regions ``A`` and ``B``.
- ``stats``: the summary statistics of every level merged from ``partials``, in memory.
- ``inputs``: the region files (``A``, ``B``) and the statistics GeoParquet file of every level,
  as ``(regions, stats)`` (name -> location each), the inputs of the tiles and analysis files.
"""

from __future__ import annotations

import geopandas as gpd
import pytest

from ocr_assets.rollups import LEVELS, CensusPolygons, summary_statistics, write_summary_statistics
from ocr_assets_tests.rollups import rollups_cases as cases


@pytest.fixture(scope="module")
def census() -> dict[str, CensusPolygons]:
    """The hand-built census polygons."""
    return cases.census()


@pytest.fixture(scope="module")
def partials(tmp_path_factory: pytest.TempPathFactory, census) -> list[str]:
    """Partials of regions A and B."""
    folder = tmp_path_factory.mktemp("partials")
    files = cases.region_files(folder)
    return [cases.write_partial(files[r], census, folder / f"partial-{r}") for r in ("A", "B")]


@pytest.fixture(scope="module")
def stats(partials, census) -> dict[str, gpd.GeoDataFrame]:
    """The statistics of every level, from ``partials``."""
    return {level: summary_statistics(partials, census[level]) for level in LEVELS}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], dict[str, str]]:
    """Region files (A, B) and the statistics GeoParquet of every level."""
    folder = tmp_path_factory.mktemp("outputs")
    census = cases.census()
    regions = cases.region_files(folder)
    partials = [
        cases.write_partial(path, census, folder / f"partial-{name}")
        for name, path in regions.items()
    ]
    stats = {}
    for level in LEVELS:
        stats[level] = str(folder / "stats" / f"{level}.parquet")
        write_summary_statistics(partials, census[level], stats[level])
    return regions, stats
