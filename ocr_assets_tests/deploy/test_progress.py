"""Progress lines: counts, and an estimate of the time left from what is known."""

from ocr_assets.deploy.progress import Progress, duration


def test_durations_read_like_a_person_writes_them() -> None:
    assert duration(4.23) == "4.2 s"
    assert duration(38.4) == "38 s"
    assert duration(200) == "3 min 20 s"
    assert duration(3900) == "1 h 05 min"


def test_the_estimate_uses_the_mean_so_far_divided_by_the_units_at_a_time() -> None:
    progress = Progress(("a", "b", "c", "d", "e"), at_a_time=2)
    assert progress.estimate() is None  # nothing finished, nothing known
    progress.finish("b", 10.0)
    progress.finish("a", 20.0)
    # 3 left x 15 s mean, 2 at a time.
    assert progress.estimate() == 22.5
    assert progress.line("a", "ok in 20 s") == "[2/5] a ok in 20 s; 3 left, about 22 s"
    for unit in ("c", "d", "e"):
        progress.finish(unit, 1.0)
    assert progress.line("e", "ok") == "[5/5] e ok"


def test_known_durations_of_the_last_run_beat_the_mean() -> None:
    progress = Progress(("fast", "slow", "tiles"), previous={"slow": 100.0, "tiles": 300.0})
    progress.finish("fast", 1.0)
    assert progress.estimate() == 400.0
    progress.finish("slow", 90.0)
    assert progress.line("slow", "ok") == "[2/3] slow ok; 1 left, about 5 min 00 s"
