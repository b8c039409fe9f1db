"""The Open Climate Risk wildfire method as pure numpy/xarray functions (no Dagster, no I/O).

``docs/science.md`` describes the method these functions reproduce.
"""

from .conus404 import (
    fire_weather_wind_distribution,
    relative_humidity_from_dewpoint,
    rotate_winds_to_earth,
    wind_speed_and_direction,
)
from .kernels import DIRECTION_DIM, DIRECTIONS, kernel_footprints, wind_kernels
from .region import BUILDING_VARIABLES, VARIABLES, crop, region_risk, sample_nearest
from .riley import (
    gap_fill,
    gaussian_kernel_size,
    regrid_wind_distribution,
    wind_informed_bp_from_riley,
)
from .scores import N_SCORES, SCORE_EDGES, risk_score, score_histogram
from .spread import spread_burn_probability, weighted_composite, wind_informed_burn_probability
from .wind import (
    classify_wind_direction,
    fire_weather_mask,
    fosberg_fire_weather_index,
    wind_direction_distribution,
)

__all__ = [
    "BUILDING_VARIABLES",
    "DIRECTIONS",
    "DIRECTION_DIM",
    "N_SCORES",
    "SCORE_EDGES",
    "VARIABLES",
    "classify_wind_direction",
    "crop",
    "fire_weather_mask",
    "fire_weather_wind_distribution",
    "fosberg_fire_weather_index",
    "gap_fill",
    "gaussian_kernel_size",
    "kernel_footprints",
    "region_risk",
    "regrid_wind_distribution",
    "relative_humidity_from_dewpoint",
    "risk_score",
    "rotate_winds_to_earth",
    "sample_nearest",
    "score_histogram",
    "spread_burn_probability",
    "weighted_composite",
    "wind_direction_distribution",
    "wind_informed_bp_from_riley",
    "wind_informed_burn_probability",
    "wind_kernels",
    "wind_speed_and_direction",
]
