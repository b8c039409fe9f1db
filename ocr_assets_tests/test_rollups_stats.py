"""Summary statistics on the hand-built case (ocr_assets_tests/rollups_cases.py): known answers,
the boundary rule, empty polygons and regions, exact merging of partials, checks, bad input."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from ocr_assets.rollups import (
    LEVELS,
    assign_to_polygons,
    census_polygons,
    check_county_membership,
    check_histograms,
    check_means_in_range,
    summary_statistics,
    write_region_partial,
    write_summary_statistics,
)
from ocr_assets.rollups.schema import histogram_column, mean_column, median_column
from ocr_assets.science import BUILDING_VARIABLES
from ocr_assets_tests import rollups_cases as cases


@pytest.fixture(scope="module")
def census():
    return cases.census()


@pytest.fixture(scope="module")
def partials(tmp_path_factory: pytest.TempPathFactory, census) -> list[str]:
    """Partials of regions A and B."""
    folder = tmp_path_factory.mktemp("partials")
    files = cases.region_files(folder)
    return [
        write_region_partial(files[r], census, str(folder / f"partial-{r}")).location
        for r in ("A", "B")
    ]


@pytest.fixture(scope="module")
def stats(partials, census) -> dict[str, gpd.GeoDataFrame]:
    return {level: summary_statistics(partials, census[level]) for level in LEVELS}


def test_centroids_of_hand_built_buildings_are_exact() -> None:
    frame = cases.building_frame(list(cases.BUILDINGS))
    centroids = shapely.get_coordinates(shapely.centroid(frame.geometry.array))
    expected = [(x, y) for _, x, y, _, _ in cases.BUILDINGS.values()]
    assert centroids.tolist() == [list(p) for p in expected]


def test_assignment_rule_boundary_corner_and_outside() -> None:
    squares = np.array([shapely.box(i % 2, i // 2, i % 2 + 1, i // 2 + 1) for i in range(4)])
    points = shapely.points([(0.5, 0.5), (1.0, 0.5), (1.0, 1.0), (1.5, 1.5), (5.0, 5.0)])
    assert assign_to_polygons(points, squares).tolist() == [0, 0, 0, 3, -1]
    # Reversed polygons: the lowest index still wins (it is the order that decides).
    assert assign_to_polygons(points[::-1], squares[::-1]).tolist() == [-1, 0, 0, 2, 3]


def _expected(level: str, geoid: str, variable: str) -> tuple[float, float]:
    members = cases.MEMBERS[level][geoid]
    values = np.array([cases.variables_of(b)[variable] for b in members], dtype=np.float64)
    if not len(values):
        return np.nan, np.nan
    return values.mean(), float(np.median(values))


@pytest.mark.parametrize("level", LEVELS)
def test_statistics_match_hand_computed_answers(stats, level: str) -> None:
    frame = stats[level].set_index("GEOID")
    assert sorted(frame.index) == sorted(cases.MEMBERS[level])
    for geoid, members in cases.MEMBERS[level].items():
        row = frame.loc[geoid]
        assert row["building_count"] == len(members)
        for variable in BUILDING_VARIABLES:
            mean, median = _expected(level, geoid, variable)
            np.testing.assert_allclose(row[mean_column(variable)], mean, rtol=1e-12)
            assert row[median_column(variable)] == median or (np.isnan(median) and members == [])
    assert stats[level].crs.to_epsg() == 4326


def test_known_histograms_medians_and_boundary_building(stats) -> None:
    counties = stats["counties"].set_index("GEOID")
    # a3 lies exactly on x = 1 and counts for 06001 (the smaller GEOID), not 06003.
    assert counties.loc["06001", "building_count"] == 3
    assert counties.loc["06003", "building_count"] == 2
    assert list(counties.loc["06001", histogram_column("2011")]) == [1, 0, 0, 0, 0, 1] + [0] * 4 + [
        1
    ]
    assert list(counties.loc["06001", histogram_column("2047")]) == [0, 1] + [0] * 7 + [1, 1]
    assert list(counties.loc["06003", histogram_column("2011")]) == [0] * 8 + [1, 0, 1]
    assert counties.loc["06001", median_column("rps_2011")] == 0.0625
    assert counties.loc["06003", median_column("rps_2011")] == 1.75
    blocks = stats["blocks"].set_index("GEOID")
    assert blocks.loc["060010001001001", "building_count"] == 2
    assert blocks.loc["060030001001000", "building_count"] == 2
    # The state spans both regions: its median comes from the assignments, exactly.
    states = stats["states"].set_index("GEOID")
    assert states.loc["06", median_column("rps_2011")] == 0.5
    assert states.loc["06", median_column("rps_2047")] == 2.0
    assert list(states.columns[:3]) == ["NAME", "STUSPS", "building_count"]
    assert states.loc["06", "STUSPS"] == "CA"


def test_empty_county_has_zero_count_nan_statistics_and_zero_histograms(stats) -> None:
    row = stats["counties"].set_index("GEOID").loc["41001"]
    assert row["building_count"] == 0
    assert all(np.isnan(row[mean_column(v)]) for v in BUILDING_VARIABLES)
    assert all(np.isnan(row[median_column(v)]) for v in BUILDING_VARIABLES)
    assert list(row[histogram_column("2011")]) == [0] * 11
    assert list(row[histogram_column("2047")]) == [0] * 11
    assert row["NAME"] == "Gamma"


def test_merging_partials_equals_computing_from_scratch(tmp_path: Path, census, stats) -> None:
    everything = cases.write_region(
        cases.building_frame(list(cases.BUILDINGS)), tmp_path / "all.parquet"
    )
    single = write_region_partial(everything, census, str(tmp_path / "partial")).location
    for level in LEVELS:
        pd.testing.assert_frame_equal(
            summary_statistics([single], census[level]).drop(columns="geometry"),
            stats[level].drop(columns="geometry"),
            rtol=1e-12,
        )


def test_empty_region_contributes_nothing(tmp_path: Path, census, partials, stats) -> None:
    empty = cases.write_region(cases.building_frame([]), tmp_path / "empty.parquet")
    partial = write_region_partial(empty, census, str(tmp_path / "partial"))
    assert partial.buildings == 0
    assert partial.unassigned == dict.fromkeys(LEVELS, 0)
    for level in ("counties", "nation"):
        with_empty = summary_statistics([*partials, partial.location], census[level])
        pd.testing.assert_frame_equal(with_empty, stats[level])
    no_regions = summary_statistics([], census["counties"])
    assert no_regions["building_count"].tolist() == [0, 0, 0]


def test_write_summary_statistics_round_trips(tmp_path: Path, partials, census) -> None:
    out = tmp_path / "stats" / "counties.parquet"
    written = write_summary_statistics(partials, census["counties"], str(out))
    assert (written.rows, written.populated, written.buildings) == (3, 2, 5)
    back = gpd.read_parquet(out)
    assert back["GEOID"].tolist() == ["06001", "06003", "41001"]
    assert list(back[histogram_column("2011")].iloc[0]) == [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]
    assert "bbox" in back.columns or len(gpd.read_parquet(out, bbox=(2.1, 0, 3, 1))) == 1


def test_checks_pass_on_good_statistics(stats, partials) -> None:
    for level in LEVELS:
        assert check_histograms(stats[level]).passed
        assert check_means_in_range(stats[level]).passed
    membership = check_county_membership(partials)
    assert membership.passed
    assert membership.counts == {"buildings": 5, "outside_counties": 0, "repeated_ids": 0}


def test_checks_catch_bad_statistics(stats) -> None:
    broken = stats["counties"].copy()
    broken.loc[0, "building_count"] = 7
    histograms = check_histograms(broken)
    assert not histograms.passed and histograms.examples == ("06001",)
    broken = stats["counties"].copy()
    broken.loc[1, mean_column("bp_2011")] = 1.5
    broken.loc[2, mean_column("rps_2011")] = 3.0  # a mean where there are no buildings
    means = check_means_in_range(broken)
    assert not means.passed and means.failures == 2


def test_membership_check_fails_outside_and_reports_repeated_buildings(
    tmp_path: Path, census, partials, stats
) -> None:
    frame = cases.building_frame(["a1"])
    frame["id"] = ["outside"]
    frame["geometry"] = [shapely.box(5, 5, 5.1, 5.1)]
    outside = cases.write_region(frame, tmp_path / "outside.parquet")
    again = cases.write_region(cases.building_frame(["b1"]), tmp_path / "again.parquet")
    extra = [
        write_region_partial(path, census, str(tmp_path / f"p-{n}")).location
        for n, path in enumerate([outside, again])
    ]
    result = check_county_membership([*partials, *extra])
    assert not result.passed and result.failures == 1
    assert result.counts == {"buildings": 7, "outside_counties": 1, "repeated_ids": 1}
    assert result.examples == ("outside",)

    # b1 listed by two regions (a building on a region border, as published) is reported only.
    repeated = check_county_membership([*partials, extra[1]])
    assert repeated.passed and repeated.counts["repeated_ids"] == 1

    # With the county statistics: each assigned row must be counted once there.
    counted = check_county_membership(partials, counties=stats["counties"])
    assert counted.passed and counted.counts["counted_in_counties"] == 5
    broken = stats["counties"].copy()
    broken.loc[0, "building_count"] += 1
    miscounted = check_county_membership(partials, counties=broken)
    assert not miscounted.passed and miscounted.failures == 1


def test_census_without_geoid_is_rejected() -> None:
    frame = cases.census_frames()["counties"].rename(columns={"GEOID": "FIPS"})
    with pytest.raises(ValueError, match=r"counties\.parquet.*'GEOID'"):
        census_polygons(frame, "counties", "census/counties.parquet")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop(columns="STUSPS"), "'STUSPS'"),
        (lambda f: f.assign(GEOID=["06", "06"]), "duplicate.*'06'"),
        (lambda f: f.assign(GEOID=[41, 6]), "must hold strings"),
        (lambda f: f.set_crs(None, allow_override=True), "no CRS"),
    ],
)
def test_bad_census_polygons_are_rejected(change, message: str) -> None:
    frame = change(cases.census_frames()["states"])
    with pytest.raises(ValueError, match=rf"states\.parquet.*{message}"):
        census_polygons(frame, "states", "census/states.parquet")


def test_census_in_another_crs_is_reprojected() -> None:
    frame = cases.census_frames()["counties"].to_crs("EPSG:3857")
    polygons = census_polygons(frame, "counties", "c")
    assert polygons.frame.crs.to_epsg() == 4326
    assert polygons.frame["GEOID"].tolist() == ["06001", "06003", "41001"]
    np.testing.assert_allclose(polygons.frame.total_bounds, [0, 0, 3, 1], atol=1e-9)


def test_partial_rejects_missing_column_wrong_crs_and_nan(tmp_path: Path, census) -> None:
    frame = cases.building_frame(["a1", "b1"])
    missing = cases.write_region(frame.drop(columns="rps_2047"), tmp_path / "missing.parquet")
    with pytest.raises(ValueError, match=r"missing\.parquet: missing column 'rps_2047'"):
        write_region_partial(missing, census, str(tmp_path / "p1"))
    mercator = cases.write_region(frame.to_crs("EPSG:3857"), tmp_path / "mercator.parquet")
    with pytest.raises(ValueError, match=r"mercator\.parquet: column 'geometry' has CRS EPSG:3857"):
        write_region_partial(mercator, census, str(tmp_path / "p2"))
    frame.loc[1, "crps_scott"] = np.nan
    nan = cases.write_region(frame, tmp_path / "nan.parquet")
    with pytest.raises(ValueError, match=r"nan\.parquet: column 'crps_scott' has NaN or null"):
        write_region_partial(nan, census, str(tmp_path / "p3"))
    assert not any(p.name.startswith(("p1", "p2", "p3", ".p")) for p in tmp_path.iterdir())


def test_merge_rejects_partials_from_other_census(tmp_path: Path, partials, census) -> None:
    fewer = cases.census_frames()["counties"].iloc[:2]
    with pytest.raises(ValueError, match=r"1 counties GEOID\(s\).*'06001'"):
        summary_statistics(partials, census_polygons(fewer, "counties", "fewer.parquet"))
