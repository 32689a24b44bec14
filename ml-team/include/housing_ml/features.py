"""Derived features for the main model, computed from the contract's 8 raw feature columns.

``add_spatial_features`` keeps the 8 raw columns and adds 18: 16 spatial ones (the coordinates rotated
by 5 angles, 2 axes each; the distances to 5 metro centres and to the nearest of them) and 2 ratios of
the raw columns (the bedroom share and the log of households), 26 columns in all.

House values in California are driven by location far more than a linear model in latitude/longitude
can express: coastal strips run diagonally and prices fall off with distance from the big metros.
Tree ensembles split on one axis at a time, so rotated coordinates and distances to metro centres
give them diagonal and radial boundaries cheaply.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from housing_contracts import FEATURE_COLUMNS

#: Metro centres (latitude, longitude).
METROS: dict[str, tuple[float, float]] = {
    "los_angeles": (34.05, -118.24),
    "san_francisco": (37.77, -122.42),
    "san_diego": (32.72, -117.16),
    "san_jose": (37.34, -121.89),
    "sacramento": (38.58, -121.49),
}
#: Angles (degrees) of the rotated coordinate systems.
ROTATIONS_DEG: tuple[int, ...] = (15, 30, 45, 60, 75)
# One degree of longitude is shorter than one of latitude; California's middle latitude scales it.
_LON_SCALE = float(np.cos(np.deg2rad(37.0)))

#: The added columns, in output order: 16 spatial, then 2 ratios.
SPATIAL_FEATURES: tuple[str, ...] = (
    *(f"rot{deg}_{axis}" for deg in ROTATIONS_DEG for axis in ("u", "v")),
    *(f"dist_{metro}" for metro in METROS),
    "dist_nearest_metro",
    "bedroom_share",
    "log_households",
)


def add_spatial_features(features: pd.DataFrame) -> pd.DataFrame:
    """The contract's 8 feature columns plus the 18 of SPATIAL_FEATURES (a new frame, same index)."""
    missing = [c for c in FEATURE_COLUMNS if c not in features.columns]
    if missing:
        raise KeyError(f"add_spatial_features: missing contract feature columns {missing}")
    out = features.loc[:, list(FEATURE_COLUMNS)].astype("float64")
    lat = out["Latitude"].to_numpy()
    lon = out["Longitude"].to_numpy() * _LON_SCALE
    extra: dict[str, np.ndarray] = {}
    for deg in ROTATIONS_DEG:
        theta = np.deg2rad(deg)
        extra[f"rot{deg}_u"] = lon * np.cos(theta) - lat * np.sin(theta)
        extra[f"rot{deg}_v"] = lon * np.sin(theta) + lat * np.cos(theta)
    distances = {
        f"dist_{metro}": np.hypot(lat - m_lat, lon - m_lon * _LON_SCALE)
        for metro, (m_lat, m_lon) in METROS.items()
    }
    extra.update(distances)
    extra["dist_nearest_metro"] = np.min(np.column_stack(list(distances.values())), axis=1)
    # The contract guarantees 0 < AveBedrms <= AveRooms, so the share lies in (0, 1].
    extra["bedroom_share"] = (out["AveBedrms"] / out["AveRooms"]).to_numpy()
    # Households = Population / AveOccup, in logs: AveOccup may be as small as the smallest positive
    # float (the contract only says > 0), where the plain ratio overflows to inf.
    extra["log_households"] = (np.log(out["Population"]) - np.log(out["AveOccup"])).to_numpy()
    return pd.concat([out, pd.DataFrame(extra, index=out.index)], axis=1)
