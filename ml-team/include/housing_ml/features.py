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


#: Every column the main model sees, in order: the contract's 8 features, then SPATIAL_FEATURES.
MODEL_FEATURES: tuple[str, ...] = (*FEATURE_COLUMNS, *SPATIAL_FEATURES)


def spatial_feature_matrix(features: pd.DataFrame, rows: np.ndarray | None = None) -> np.ndarray:
    """The MODEL_FEATURES of ``features`` (of its ``rows`` positions, in that order, if given) as one
    float64 matrix, shape (rows, 26), filled column by column in place.

    C order, as gradient boosting samples rows of it (``take`` on a Fortran-ordered matrix copies it
    whole first); apart from the matrix only a few single columns are allocated, never a copy of the
    input or a second matrix.
    """
    missing = [c for c in FEATURE_COLUMNS if c not in features.columns]
    if missing:
        raise KeyError(f"add_spatial_features: missing contract feature columns {missing}")
    n_rows = len(features) if rows is None else len(rows)
    out = np.empty((n_rows, len(MODEL_FEATURES)), dtype="float64")
    col = {name: out[:, i] for i, name in enumerate(MODEL_FEATURES)}
    for name in FEATURE_COLUMNS:
        values = features[name].to_numpy(dtype="float64")
        if rows is None:
            col[name][:] = values
        else:
            np.take(values, rows, out=col[name])
    lat = col["Latitude"]
    lon = col["Longitude"] * _LON_SCALE
    # The same operations in the same order as always, so the values are bit for bit the same.
    for deg in ROTATIONS_DEG:
        theta = np.deg2rad(deg)
        u, v = col[f"rot{deg}_u"], col[f"rot{deg}_v"]
        np.multiply(lon, np.cos(theta), out=u)
        u -= lat * np.sin(theta)
        np.multiply(lon, np.sin(theta), out=v)
        v += lat * np.cos(theta)
    nearest = col["dist_nearest_metro"]
    nearest[:] = np.inf
    for metro, (m_lat, m_lon) in METROS.items():
        distance = col[f"dist_{metro}"]
        np.hypot(lat - m_lat, lon - m_lon * _LON_SCALE, out=distance)
        np.minimum(nearest, distance, out=nearest)
    # The contract guarantees 0 < AveBedrms <= AveRooms, so the share lies in (0, 1].
    np.divide(col["AveBedrms"], col["AveRooms"], out=col["bedroom_share"])
    # Households = Population / AveOccup, in logs: AveOccup may be as small as the smallest positive
    # float (the contract only says > 0), where the plain ratio overflows to inf.
    households = col["log_households"]
    np.log(col["Population"], out=households)
    households -= np.log(col["AveOccup"])
    return out


def add_spatial_features(features: pd.DataFrame) -> pd.DataFrame:
    """The contract's 8 feature columns plus the 18 of SPATIAL_FEATURES (a new frame, same index), over
    :func:`spatial_feature_matrix` without copying it."""
    return pd.DataFrame(
        spatial_feature_matrix(features), columns=list(MODEL_FEATURES), index=features.index, copy=False
    )
