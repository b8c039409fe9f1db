"""Environment policies, region selections, wipe refusal and variable parsing."""

from __future__ import annotations

from pathlib import Path

import pytest

from ocr_assets.config.environments import (
    ENVIRONMENTS,
    POLICIES,
    QA_REGIONS,
    STAGING_REGIONS,
    WipeRefusedError,
    check_wipe,
    get_policy,
    parse_bool,
    resolve_version,
    select_regions,
    validate_storage_root,
)
from ocr_assets.config.naming import DeploymentError
from ocr_assets.data import published_valid_region_ids
from ocr_assets.regions import CONUS_GRID, demo_grid


def test_policies_cover_the_four_environments() -> None:
    assert tuple(POLICIES) == ENVIRONMENTS == ("local", "qa", "staging", "production")
    assert [p.compute for p in POLICIES.values()] == ["local", "coiled", "coiled", "coiled"]
    assert [p.wipe_allowed for p in POLICIES.values()] == [True, True, True, False]
    assert [p.versioned for p in POLICIES.values()] == [False, False, False, True]
    assert POLICIES["qa"].url == "https://ocr.qa.carbonplan.org"
    assert POLICIES["staging"].url == "https://ocr.staging.carbonplan.org"
    assert POLICIES["production"].url == "https://carbonplan.org/research/climate-risk"
    assert POLICIES["qa"].env_file == "ocr-coiled-s3.env"


def test_unknown_environment_names_the_variable() -> None:
    with pytest.raises(DeploymentError, match="OCR_ENVIRONMENT='prod' is not a known"):
        get_policy("prod")


def test_qa_selection_is_the_seed_places_in_the_published_numbering() -> None:
    assert select_regions("qa", CONUS_GRID) == ["y14_x5", "y14_x6", "y14_x7"]
    assert QA_REGIONS == ("y14_x5", "y14_x6", "y14_x7")
    # Central and north-eastern Washington: 48.3 to 50.15 N, 121.5 to 117.3 W.
    west, south, _, north = CONUS_GRID.bounds("y14_x5")
    _, _, east, _ = CONUS_GRID.bounds("y14_x7")
    assert 48 < south < 49 < north < 50.5 and -122 < west < east < -117
    # The seed's IDs (counted from the north on an older grid) are ocean on the published grid.
    assert not {"y2_x5", "y2_x6", "y2_x7"} & set(published_valid_region_ids())


def test_staging_set_is_the_published_47_regions() -> None:
    regions = select_regions("staging", CONUS_GRID)
    assert len(set(STAGING_REGIONS)) == len(STAGING_REGIONS) == len(regions) == 47
    by_row: dict[int, list[int]] = {}
    for rid in STAGING_REGIONS:
        row, col = CONUS_GRID.parse(rid)
        by_row.setdefault(row, []).append(col)
    assert {row: sorted(cols) for row, cols in by_row.items()} == {
        14: [3, 4, 5, 6, 7],
        13: [3, 4, 5, 6, 7, 24, 25, 26],
        12: [3, 4, 5, 6, 7, 24, 25],
        9: [14, 15, 16, 17],
        8: [3, 4, 5, 6, 14, 15, 16, 17],
        7: [4, 5, 6, 7, 8, 31, 32],
        6: [5, 6, 7, 8, 9],
        5: [7, 8, 9],
    }
    # Every deployed region holds data; the QA places are among them.
    assert set(regions) <= set(published_valid_region_ids())
    assert set(QA_REGIONS) <= set(regions)
    assert select_regions("staging", CONUS_GRID, available=published_valid_region_ids()) == regions


def test_all_is_the_grid_or_the_regions_with_data() -> None:
    assert len(select_regions("all", CONUS_GRID)) == 17 * 47
    assert select_regions("all", CONUS_GRID, available=published_valid_region_ids()) == (
        published_valid_region_ids()
    )
    grid = demo_grid()
    assert select_regions("all", grid) == grid.all_region_ids()
    assert select_regions("all", grid, available=["y1_x1", "y0_x2"]) == ["y0_x2", "y1_x1"]


def test_explicit_ids_commas_spaces_union_and_order() -> None:
    selected = select_regions(" y3_x4,y0_x1  y3_x4 , qa ", CONUS_GRID)
    assert selected == ["y0_x1", "y3_x4", "y14_x5", "y14_x6", "y14_x7"]


def test_ids_outside_the_grid_or_not_canonical_are_listed() -> None:
    with pytest.raises(DeploymentError) as info:
        select_regions("y14_x5, y17_x0, y0_x47, bogus, y01_x1, y1_x1", CONUS_GRID)
    message = str(info.value)
    assert message.startswith("OCR_REGIONS: 4 region ID(s) outside the 17 x 47 region grid")
    assert message.endswith("bogus, y01_x1, y0_x47, y17_x0")
    assert "y14_x5" not in message.split(":")[-1]


def test_qa_set_is_outside_the_demo_grid() -> None:
    with pytest.raises(DeploymentError, match="y14_x5, y14_x6, y14_x7"):
        select_regions("qa", demo_grid())


def test_regions_without_data_are_listed() -> None:
    with pytest.raises(DeploymentError, match=r"1 region.*no input data: y14_x7"):
        select_regions("qa", CONUS_GRID, available=["y14_x5", "y14_x6"])


def test_published_environments_use_the_published_grid() -> None:
    assert all(POLICIES[name].grid is CONUS_GRID for name in ("qa", "staging", "production"))
    assert POLICIES["local"].grid == demo_grid()


@pytest.mark.parametrize("selection", ["", " ", " , "])
def test_empty_selection_is_an_error(selection: str) -> None:
    with pytest.raises(DeploymentError, match="OCR_REGIONS is empty"):
        select_regions(selection, CONUS_GRID)


def test_production_wipe_is_refused() -> None:
    assert check_wipe("production", False) is False
    with pytest.raises(WipeRefusedError, match="production environment never wipes"):
        check_wipe("production", True)
    for environment in ("local", "qa", "staging"):
        assert check_wipe(environment, True) is True


def test_versions_by_environment() -> None:
    assert resolve_version("production", "1.2.3") == "1.2.3"
    assert resolve_version("qa", None) is None
    assert resolve_version("staging", "0.4.0") == "0.4.0"
    with pytest.raises(DeploymentError, match="OCR_VERSION is required in production"):
        resolve_version("production", None)
    with pytest.raises(DeploymentError, match=r"OCR_VERSION='v1.2.3'"):
        resolve_version("production", "v1.2.3")


def test_storage_roots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert validate_storage_root("s3://carbonplan-ocr/") == "s3://carbonplan-ocr"
    assert validate_storage_root("s3://my.bucket/a/b") == "s3://my.bucket/a/b"
    assert validate_storage_root("data") == str(tmp_path / "data")
    for bad in ("", "  ", "gs://bucket", "s3://Bad_Bucket", "s3://b"):
        with pytest.raises(DeploymentError, match="OCR_STORAGE_ROOT"):
            validate_storage_root(bad)


def test_parse_bool() -> None:
    assert [parse_bool(v, "OCR_WIPE") for v in ("true", "TRUE", "1", "yes", "on")] == [True] * 5
    assert [parse_bool(v, "OCR_WIPE") for v in ("false", "0", "no", "off", "")] == [False] * 5
    with pytest.raises(DeploymentError, match="OCR_WIPE='maybe' is not a boolean"):
        parse_bool("maybe", "OCR_WIPE")
