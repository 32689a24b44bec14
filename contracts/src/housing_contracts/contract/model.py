"""The contract as pandera ``DataFrameModel`` classes, one per major: every rule of the dataset.

The fast path, the description, the test kit and the benchmark all read their rules from them. The rules
are the same in both majors (2.0.0 renamed the columns and states money in dollars); each check function
is written once below and declared by both models.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any, ClassVar

import numpy as np
import pandera.pandas as pa
from pandera.typing import Series

from housing_contracts.contract.versions import CONTRACT_NAME, LATEST, V1, V2, Contract

#: Fewer rows than this is a broken extract, not a dataset (the real one has ~20,600 after cleaning).
MIN_ROW_COUNT = 1_000
#: The producer's freshness promise: the data confirmed current at least this often, by a new snapshot or a
#: confirmation that the newest one is still current (the data team publishes daily).
MAX_SNAPSHOT_INTERVAL_HOURS = 24


_FRESHNESS: dict[str, Any] = {
    "freshness": {
        "max_snapshot_interval_hours": MAX_SNAPSHOT_INTERVAL_HOURS,
        "description": f"The producer confirms the data current at least every "
        f"{MAX_SNAPSHOT_INTERVAL_HOURS} hours: a new snapshot, or a confirmation that the newest "
        "one is still current (_current.json beside snapshots/); a newest snapshot neither created "
        "nor confirmed within that time breaks the promise.",
    }
}
_DESCRIPTION = (
    "The cleaned California housing dataset (one row per 1990-census block group) that the data "
    "team publishes and the ML team trains on."
)
_FINITE = "every value is finite (no NaN, +inf or -inf)"


# Check functions take any array-like: pandera passes a Series or DataFrame, the fast path the same.
def _finite(values: Any) -> Any:
    return np.isfinite(values)


def _within(frame: Any, column: str, other: str) -> Any:
    if column not in frame or other not in frame:
        return True  # a missing column is reported by the strictness check; don't report it twice
    return frame[column] <= frame[other]


class _Dataset(pa.DataFrameModel):
    """What every major shares beyond its columns: the row count and the options and promises."""

    @pa.dataframe_check(
        name="min_row_count",
        description=f"at least {MIN_ROW_COUNT} rows",
        min_rows=MIN_ROW_COUNT,
    )
    @classmethod
    def min_row_count(cls, frame: Any, *, min_rows: int) -> bool:
        return len(frame) >= min_rows

    class Config:
        name = CONTRACT_NAME
        description = _DESCRIPTION
        strict = True
        ordered = False
        coerce = False
        unique_column_names = True
        metadata: ClassVar[dict[str, Any]] = _FRESHNESS


class CaliforniaHousing(_Dataset):
    """California housing (1990 census, one row per block group), contract v1."""

    MedInc: Series[float] = pa.Field(
        gt=0,
        le=15.0001,
        description="Median household income of the block group, in tens of thousands of US dollars "
        "(census top-code 15.0001).",
    )
    HouseAge: Series[float] = pa.Field(
        ge=1,
        le=52,
        description="Median age of the houses in the block group, in years (the census caps it at 52).",
    )
    AveRooms: Series[float] = pa.Field(
        gt=0,
        le=50,
        description="Average number of rooms per household (plausibility cap 50, guaranteed by cleaning).",
    )
    AveBedrms: Series[float] = pa.Field(
        gt=0,
        le=15,
        description="Average number of bedrooms per household; never more than AveRooms (cap 15).",
    )
    Population: Series[float] = pa.Field(
        ge=1,
        le=40_000,
        description="Number of people living in the block group.",
    )
    AveOccup: Series[float] = pa.Field(
        gt=0,
        le=20,
        description="Average number of people per household (plausibility cap 20, guaranteed by cleaning).",
    )
    Latitude: Series[float] = pa.Field(
        ge=32.5,
        le=42.0,
        description="Latitude of the block group's centre, degrees north (inside California's bounding box).",
    )
    Longitude: Series[float] = pa.Field(
        ge=-124.5,
        le=-114.0,
        description="Longitude of the block group's centre, degrees east (inside California's bounding box).",
    )
    MedHouseVal: Series[float] = pa.Field(
        gt=0,
        le=5.00001,
        description="Target: median house value of the block group, in hundreds of thousands of US dollars "
        "(census top-code 5.00001).",
    )

    @pa.check(*V1.columns, name="finite", description=_FINITE)
    @classmethod
    def finite(cls, values: Any) -> Any:
        return _finite(values)

    @pa.dataframe_check(
        name="bedrooms_within_rooms",
        description="AveBedrms <= AveRooms in every row (bedrooms are rooms)",
        column="AveBedrms",
        other="AveRooms",
    )
    @classmethod
    def bedrooms_within_rooms(cls, frame: Any, *, column: str, other: str) -> Any:
        return _within(frame, column, other)


class CaliforniaHousingV2(_Dataset):
    """California housing (1990 census, one row per block group), contract v2: snake_case, US dollars."""

    median_income: Series[float] = pa.Field(
        gt=0,
        le=15.0001 * 10_000,
        description="Median household income of the block group, in US dollars (census top-code $150,001).",
    )
    house_age: Series[float] = pa.Field(
        ge=1,
        le=52,
        description="Median age of the houses in the block group, in years (the census caps it at 52).",
    )
    avg_rooms: Series[float] = pa.Field(
        gt=0,
        le=50,
        description="Average number of rooms per household (plausibility cap 50, guaranteed by cleaning).",
    )
    avg_bedrooms: Series[float] = pa.Field(
        gt=0,
        le=15,
        description="Average number of bedrooms per household; never more than avg_rooms (cap 15).",
    )
    population: Series[float] = pa.Field(
        ge=1,
        le=40_000,
        description="Number of people living in the block group.",
    )
    avg_occupancy: Series[float] = pa.Field(
        gt=0,
        le=20,
        description="Average number of people per household (plausibility cap 20, guaranteed by cleaning).",
    )
    latitude: Series[float] = pa.Field(
        ge=32.5,
        le=42.0,
        description="Latitude of the block group's centre, degrees north (inside California's bounding box).",
    )
    longitude: Series[float] = pa.Field(
        ge=-124.5,
        le=-114.0,
        description="Longitude of the block group's centre, degrees east (inside California's bounding box).",
    )
    median_house_value: Series[float] = pa.Field(
        gt=0,
        le=5.00001 * 100_000,
        description="Target: median house value of the block group, in US dollars "
        "(census top-code $500,001).",
    )

    @pa.check(*V2.columns, name="finite", description=_FINITE)
    @classmethod
    def finite(cls, values: Any) -> Any:
        return _finite(values)

    @pa.dataframe_check(
        name="bedrooms_within_rooms",
        description="avg_bedrooms <= avg_rooms in every row (bedrooms are rooms)",
        column="avg_bedrooms",
        other="avg_rooms",
    )
    @classmethod
    def bedrooms_within_rooms(cls, frame: Any, *, column: str, other: str) -> Any:
        return _within(frame, column, other)


#: The model of each major.
MODELS: dict[int, type[pa.DataFrameModel]] = {1: CaliforniaHousing, 2: CaliforniaHousingV2}


@cache
def contract_schema(contract: Contract = LATEST) -> pa.DataFrameSchema:
    """The pandera schema of ``contract``'s model (built once), with the model's metadata."""
    model = MODELS[contract.major]
    schema = model.to_schema()
    # pandera (0.35) does not pass Config.metadata on to the schema; the promises live there.
    schema.metadata = model.__config__.metadata
    return schema


#: pandera's built-in bound checks: name -> ``(statistic, side, inclusive)`` per side it limits;
#: ``inclusive`` is a bool, or the statistic that holds it (``in_range``).
BOUND_CHECKS: dict[str, tuple[tuple[str, str, bool | str], ...]] = {
    "greater_than": (("min_value", "low", False),),
    "greater_than_or_equal_to": (("min_value", "low", True),),
    "less_than": (("max_value", "high", False),),
    "less_than_or_equal_to": (("max_value", "high", True),),
    "in_range": (("min_value", "low", "include_min"), ("max_value", "high", "include_max")),
}


def _number(value: float) -> str:
    return f"{value:.15g}"


@dataclass(frozen=True)
class Bounds:
    """A column's allowed interval, read from its bound checks."""

    low: float = -math.inf
    low_inclusive: bool = True
    high: float = math.inf
    high_inclusive: bool = True

    @property
    def lower(self) -> tuple[float, bool]:
        """The lower side as a sort key: a larger key allows fewer values."""
        return self.low, not self.low_inclusive

    @property
    def upper(self) -> tuple[float, bool]:
        """The upper side as a sort key: a smaller key allows fewer values."""
        return self.high, self.high_inclusive

    def contains(self, value: float) -> bool:
        """Whether ``value`` lies inside the interval (NaN never does)."""
        above = value >= self.low if self.low_inclusive else value > self.low
        below = value <= self.high if self.high_inclusive else value < self.high
        return bool(above and below)

    def text(self, name: str = "x") -> str:
        """``0 < x <= 15.0001``; one-sided: ``x > 0``, ``x <= 52``."""
        low_op, high_op = "<=" if self.low_inclusive else "<", "<=" if self.high_inclusive else "<"
        if self.high == math.inf:
            return f"{name} {'>=' if self.low_inclusive else '>'} {_number(self.low)}"
        high = f"{name} {high_op} {_number(self.high)}"
        return high if self.low == -math.inf else f"{_number(self.low)} {low_op} {high}"

    def __str__(self) -> str:
        return self.text()


def bounds_from_checks(checks: Iterable[tuple[str, dict[str, Any]]]) -> Bounds:
    """The interval allowed by ``(check name, statistics)`` pairs; checks that are not bounds are ignored."""
    lower, upper = Bounds().lower, Bounds().upper
    for name, statistics in checks:
        for statistic, side, inclusive in BOUND_CHECKS.get(name, ()):
            if isinstance(inclusive, str):
                inclusive = bool(statistics.get(inclusive, True))
            value = float(statistics[statistic])
            if side == "low":
                lower = max(lower, (value, not inclusive))
            else:
                upper = min(upper, (value, inclusive))
    return Bounds(lower[0], not lower[1], upper[0], upper[1])


def column_bounds(schema: pa.DataFrameSchema | None = None, contract: Contract = LATEST) -> dict[str, Bounds]:
    """Each column's interval as declared in ``contract``'s model (or in ``schema``)."""
    schema = schema or contract_schema(contract)
    return {
        name: bounds_from_checks((check.name, check.statistics) for check in column.checks)
        for name, column in schema.columns.items()
    }
