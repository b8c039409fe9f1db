"""Command line: ``python -m ocr_assets.synthetic --root PATH``."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from ocr_assets.regions import demo_grid
from ocr_assets.synthetic.generate import SYNTHETIC_DEFAULTS, generate_inputs


def main(argv: Sequence[str] | None = None) -> int:
    """Generate the demo inputs under ``--root``; returns the process exit code."""
    defaults = SYNTHETIC_DEFAULTS
    parser = argparse.ArgumentParser(
        prog="python -m ocr_assets.synthetic",
        description="Write the synthetic mini-CONUS inputs (only those that are missing).",
    )
    parser.add_argument("--root", required=True, help="folder to write the inputs into")
    parser.add_argument(
        "--region-rows",
        type=int,
        default=defaults["region_rows"],
        help="pixel rows per region (default %(default)s)",
    )
    parser.add_argument(
        "--region-cols",
        type=int,
        default=defaults["region_cols"],
        help="pixel columns per region (default %(default)s)",
    )
    parser.add_argument(
        "--seed", type=int, default=defaults["seed"], help="random seed (default %(default)s)"
    )
    parser.add_argument(
        "--n-buildings",
        type=int,
        default=defaults["n_buildings"],
        help="number of buildings (default %(default)s)",
    )
    parser.add_argument(
        "--hours",
        type=int,
        default=defaults["hours"],
        help="hourly weather time steps (default %(default)s)",
    )
    parser.add_argument(
        "--force", action="store_true", help="delete and regenerate inputs that already exist"
    )
    args = parser.parse_args(argv)
    grid = demo_grid(region_rows=args.region_rows, region_cols=args.region_cols)
    summary = generate_inputs(
        args.root,
        grid=grid,
        seed=args.seed,
        n_buildings=args.n_buildings,
        hours=args.hours,
        force=args.force,
    )
    print(
        f"[synthetic] {summary['root']}: {len(summary['valid_region_ids'])} valid regions of "
        f"{grid.n_region_rows * grid.n_region_cols}, {len(summary['written'])} inputs written, "
        f"{len(summary['kept'])} kept, {summary['seconds']:.1f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
