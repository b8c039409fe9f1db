"""Summary statistics on the hand-built case (ocr_assets_tests/rollups/rollups_cases.py): known answers,
the boundary rule, the published columns, histogram bins and types, empty polygons and regions,
exact merging of partials, checks, bad input."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
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
from ocr_assets.rollups.schema import (
    DROPPED,
    STATISTICS_VARIABLES,
    histogram_column,
    histogram_index,
    mean_column,
    median_column,
    statistics_schema,
)
from ocr_assets.rollups.stats import AGGREGATES, ASSIGNMENTS, region_partial
from ocr_assets.storage.tables import read_tables, table_file
from ocr_assets_tests.rollups import rollups_cases as cases


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


def _expected(level: str, geoid: str, variable: str) -> tuple[float, np.float32]:
    members = cases.MEMBERS[level][geoid]
    values = np.array([cases.variables_of(b)[variable] for b in members], dtype=np.float64)
    return values.mean(), np.float32(np.median(values))


@pytest.mark.parametrize("level", LEVELS)
def test_statistics_match_hand_computed_answers(stats, level: str) -> None:
    frame = stats[level].set_index("GEOID")
    populated = {g: m for g, m in cases.MEMBERS[level].items() if m}
    assert list(frame.index) == sorted(populated)
    for geoid, members in populated.items():
        row = frame.loc[geoid]
        assert row["building_count"] == len(members)
        for variable in STATISTICS_VARIABLES:
            mean, median = _expected(level, geoid, variable)
            np.testing.assert_allclose(row[mean_column(variable)], mean, rtol=1e-12)
            assert row[median_column(variable)] == median
    assert stats[level].crs.to_epsg() == 4326


def test_histogram_bins_are_upper_inclusive_with_exact_zeros_first() -> None:
    values = np.array(
        [0.0, 1e-6, 0.01, 0.0100001, 0.02, 0.035, 0.06, 0.1, 0.2, 0.5, 1.0, 3.0, 3.5, 100.0],
        dtype=np.float32,
    )
    assert histogram_index(values).tolist() == [0, 1, 1, 2, 2, 3, 4, 5, 6, 7, 8, 9, 10, 10]
    # Above the last boundary and NaN: in no bin (the published list_resize drops them).
    assert histogram_index(np.array([100.5, np.nan], dtype=np.float32)).tolist() == [DROPPED] * 2
    # Boundaries are compared at the values' precision, as DuckDB casts them to FLOAT.
    assert histogram_index(np.array([0.06], dtype=np.float32)).tolist() == [4]
    assert histogram_index(np.array([0.06], dtype=np.float64)).tolist() == [4]


@pytest.mark.parametrize("level", LEVELS)
def test_statistics_have_the_published_columns_order_and_types(
    tmp_path: Path, partials, census, level: str
) -> None:
    out = tmp_path / f"{level}.parquet"
    write_summary_statistics(partials, census[level], str(out))
    schema = pq.read_schema(out)
    assert schema.names == statistics_schema(level).names
    for field in statistics_schema(level):
        assert schema.field(field.name).type == field.type, field.name
    assert schema.field("risk_score_2011_hist").type == pa.list_(pa.float64())
    assert schema.field("rps_2011_median").type == pa.float32()
    names = {"nation": ["NAME"], "states": ["STUSPS", "NAME"], "counties": ["NAME"]}
    assert schema.names[1 : 1 + len(names.get(level, []))] == names.get(level, [])
    assert schema.names[len(names.get(level, [])) + 1] == "building_count"
    assert "bbox" not in schema.names
    # GEOID comes back as strings (leading zeros kept) to pandas and DuckDB.
    back = pd.read_parquet(out)
    assert pd.api.types.is_string_dtype(back["GEOID"])
    assert all(isinstance(g, str) for g in back["GEOID"])
    import duckdb

    assert duckdb.sql(f"SELECT GEOID FROM read_parquet('{out}')").types == ["VARCHAR"]


def test_known_histograms_medians_and_boundary_building(stats) -> None:
    counties = stats["counties"].set_index("GEOID")
    # a3 lies exactly on x = 1 and counts for 06001 (the smaller GEOID), not 06003.
    assert counties.loc["06001", "building_count"] == 3
    assert counties.loc["06003", "building_count"] == 2
    # rps_2011 of a1..a3: 0, 0.0625 (in (0.06, 0.1]), 50 (in (3, 100]).
    assert list(counties.loc["06001", histogram_column("2011")]) == [1, 0, 0, 0, 0, 1] + [0] * 4 + [
        1
    ]
    # rps_2047 of a1..a3: 0.005 (in (-inf, 0.01]), 2 (in (1, 3]), 50.
    assert list(counties.loc["06001", histogram_column("2047")]) == [0, 1] + [0] * 7 + [1, 1]
    # rps_2011 of b1, b2: 0.5 is in (0.2, 0.5] and 3 in (1, 3]: the bins are upper-inclusive.
    assert list(counties.loc["06003", histogram_column("2011")]) == [0] * 7 + [1, 0, 1, 0]
    assert list(counties.loc["06003", histogram_column("2047")]) == [0] * 7 + [1, 0, 0, 1]
    assert counties.loc["06001", median_column("rps_2011")] == 0.0625
    assert counties.loc["06003", median_column("rps_2011")] == 1.75
    blocks = stats["blocks"].set_index("GEOID")
    assert blocks.loc["060010001001001", "building_count"] == 2
    assert blocks.loc["060030001001000", "building_count"] == 2
    # The state spans both regions: its median comes from the assignments, exactly.
    states = stats["states"].set_index("GEOID")
    assert states.loc["06", median_column("rps_2011")] == 0.5
    assert states.loc["06", median_column("rps_2047")] == 2.0
    assert list(states.columns[:3]) == ["STUSPS", "NAME", "building_count"]
    assert (states.loc["06", "STUSPS"], states.loc["06", "NAME"]) == ("CA", "California")


def test_polygons_without_buildings_are_absent(stats) -> None:
    assert "41001" not in set(stats["counties"]["GEOID"])
    assert stats["states"]["GEOID"].tolist() == ["06"]
    assert stats["counties"]["NAME"].tolist() == ["Alpha", "Beta"]
    assert "NAME" not in stats["tracts"].columns and "NAME" not in stats["blocks"].columns


def test_merging_partials_equals_computing_from_scratch(tmp_path: Path, census, stats) -> None:
    everything = cases.write_region(
        cases.building_frame(list(cases.BUILDINGS)), tmp_path / "all.parquet"
    )
    single = cases.write_partial(everything, census, tmp_path / "partial")
    for level in LEVELS:
        pd.testing.assert_frame_equal(
            summary_statistics([single], census[level]).drop(columns="geometry"),
            stats[level].drop(columns="geometry"),
            rtol=1e-12,
        )


def test_empty_region_contributes_nothing(tmp_path: Path, census, partials, stats) -> None:
    empty = cases.write_region(cases.building_frame([]), tmp_path / "empty.parquet")
    location = str(tmp_path / "partial")
    partial = write_region_partial(empty, census, location)
    assert partial.buildings == 0
    assert partial.unassigned == dict.fromkeys(LEVELS, 0)
    for level in ("counties", "nation"):
        with_empty = summary_statistics([*partials, location], census[level])
        pd.testing.assert_frame_equal(with_empty, stats[level])
    no_regions = summary_statistics([], census["counties"])
    assert len(no_regions) == 0
    assert list(no_regions.columns) == statistics_schema("counties").names


def test_partial_is_two_tables_stored_as_a_folder(tmp_path: Path, census, partials) -> None:
    files = cases.region_files(tmp_path)
    partial = region_partial(files["A"], census)  # computed in memory: nothing written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["A.parquet", "B.parquet"]
    assert partial.source == files["A"]
    assert partial.buildings == partial.assignments.num_rows == 3
    assert partial.tables == {ASSIGNMENTS: partial.assignments, AGGREGATES: partial.aggregates}
    assert cases.names_of(partial.assignments["crps_scott"].to_pandas()) == ["a1", "a2", "a3"]
    # One row per (level, GEOID) the region touches: a1..a3 lie in 1 polygon per level but
    # blocks (2).
    assert partial.aggregates.num_rows == len(LEVELS) + 1
    location = tmp_path / "partial-A"
    written = write_region_partial(files["A"], census, str(location))
    assert sorted(p.name for p in location.iterdir()) == [
        "aggregates.parquet",
        "assignments.parquet",
    ]
    assert table_file(str(location), AGGREGATES) == str(location / "aggregates.parquet")
    stored = read_tables(str(location))
    assert stored.keys() == partial.tables.keys()
    for name, table in written.tables.items():
        assert stored[name].equals(table), name
    # The stored folder is what the merge reads (here with region B's partial).
    pd.testing.assert_frame_equal(
        summary_statistics([str(location), partials[1]], census["counties"]),
        summary_statistics(partials, census["counties"]),
    )


def test_write_summary_statistics_round_trips(tmp_path: Path, partials, census) -> None:
    out = tmp_path / "stats" / "counties.parquet"
    written = write_summary_statistics(partials, census["counties"], str(out))
    assert (written.rows, written.buildings) == (2, 5)
    back = gpd.read_parquet(out)
    assert back["GEOID"].tolist() == ["06001", "06003"]
    assert back.crs.to_epsg() == 4326
    assert list(back[histogram_column("2011")].iloc[0]) == [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]
    empty = tmp_path / "stats" / "none.parquet"
    write_summary_statistics([], census["states"], str(empty))
    assert pq.read_schema(empty).field("risk_score_2047_hist").type == pa.list_(pa.float64())


def test_checks_pass_on_good_statistics(stats, partials) -> None:
    for level in LEVELS:
        assert check_histograms(stats[level]).passed
        assert check_means_in_range(stats[level]).passed
    membership = check_county_membership(partials)
    assert membership.passed
    assert membership.counts == {"buildings": 5, "outside_counties": 0}


def test_checks_catch_bad_statistics(stats) -> None:
    broken = stats["counties"].copy()
    broken.loc[0, "building_count"] = 7
    histograms = check_histograms(broken)
    assert not histograms.passed and histograms.examples == ("06001",)
    broken = stats["counties"].copy()
    broken.loc[0, mean_column("bp_2011")] = 1.5
    broken.loc[1, mean_column("rps_2011")] = np.nan  # a polygon with buildings has means
    means = check_means_in_range(broken)
    assert not means.passed and means.failures == 2
    broken = stats["counties"].copy()
    broken.loc[1, "building_count"] = 0  # polygons without buildings are not written
    assert not check_means_in_range(broken).passed


def test_membership_check_fails_outside_naming_the_building(
    tmp_path: Path, census, partials, stats
) -> None:
    frame = cases.building_frame(["a1"])
    frame["GEOID"] = ["069990001001000"]
    frame["geometry"] = [shapely.box(5, 5, 5.1, 5.1)]
    outside = cases.write_region(frame, tmp_path / "outside.parquet")
    extra = cases.write_partial(outside, census, tmp_path / "p-outside")
    result = check_county_membership([*partials, extra])
    assert not result.passed and result.failures == 1
    assert result.counts == {"buildings": 6, "outside_counties": 1}
    assert result.examples == ("block 069990001001000, row 0",)

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


def test_partial_ignores_extra_columns(tmp_path: Path, census, stats) -> None:
    frame = cases.building_frame(list(cases.BUILDINGS)).assign(id="x", region_id="y0_x0")
    extra = cases.write_region(frame, tmp_path / "extra.parquet")
    partial = cases.write_partial(extra, census, tmp_path / "partial")
    pd.testing.assert_frame_equal(
        summary_statistics([partial], census["states"]).drop(columns="geometry"),
        stats["states"].drop(columns="geometry"),
        rtol=1e-12,
    )


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
    frame.loc[1, "crps_scott"] = 101.0
    high = cases.write_region(frame, tmp_path / "high.parquet")
    with pytest.raises(ValueError, match=r"high\.parquet: column 'crps_scott'.*outside.*101"):
        write_region_partial(high, census, str(tmp_path / "p4"))
    assert not any(p.name.startswith(("p1", "p2", "p3", "p4", ".p")) for p in tmp_path.iterdir())


def test_merge_rejects_partials_from_other_census(tmp_path: Path, partials, census) -> None:
    fewer = cases.census_frames()["counties"].iloc[:2]
    with pytest.raises(ValueError, match=r"1 counties GEOID\(s\).*'06001'"):
        summary_statistics(partials, census_polygons(fewer, "counties", "fewer.parquet"))
