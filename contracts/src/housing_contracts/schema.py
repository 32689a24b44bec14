"""The v1 contract as a pandera ``DataFrameModel``, and :func:`validate`, the one way to check data.

:class:`CaliforniaHousing` is the single source of truth for the rules. :func:`validate` first runs a
vectorised NumPy pass *derived from the model's metadata* (bounds, dtype, nullability, strictness and the
model's own named checks); only when that pass finds a problem does it run pandera's full lazy validation,
whose failure cases become the :class:`~housing_contracts.report.ValidationReport`. So the success path
costs a few NumPy reductions per column while every failure is still reported by pandera itself.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from housing_contracts.dataset import COLUMNS, CONTRACT_NAME, CONTRACT_VERSION
from housing_contracts.errors import ContractViolation
from housing_contracts.report import CheckFailure, ValidationReport

#: Fewer rows than this is a broken extract, not a dataset (the real one has ~20,600 after cleaning).
MIN_ROW_COUNT = 1_000


class CaliforniaHousing(pa.DataFrameModel):
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

    # Check functions take any array-like (pandera passes a Series or DataFrame, the fast path the same),
    # and the check name equals the method name: that is how the fast path finds the function.
    @pa.check(*COLUMNS, name="finite", description="every value is finite (no NaN, +inf or -inf)")
    @classmethod
    def finite(cls, values: Any) -> Any:
        return np.isfinite(values)

    @pa.dataframe_check(
        name="bedrooms_within_rooms",
        description="AveBedrms <= AveRooms in every row (bedrooms are rooms)",
        column="AveBedrms",
        other="AveRooms",
    )
    @classmethod
    def bedrooms_within_rooms(cls, frame: Any, *, column: str, other: str) -> Any:
        if column not in frame or other not in frame:
            return True  # a missing column is reported by the strictness check; don't report it twice
        return frame[column] <= frame[other]

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
        description = (
            "The cleaned California housing dataset (one row per 1990-census block group) that the data "
            "team publishes and the ML team trains on."
        )
        strict = True
        ordered = False
        coerce = False
        unique_column_names = True


@cache
def contract_schema() -> pa.DataFrameSchema:
    """The pandera schema of :class:`CaliforniaHousing` (built once)."""
    return CaliforniaHousing.to_schema()


@dataclass(frozen=True)
class Bounds:
    """A column's allowed interval, read from its ``ge``/``gt``/``le``/``lt`` checks."""

    low: float = -math.inf
    low_inclusive: bool = True
    high: float = math.inf
    high_inclusive: bool = True

    def contains(self, value: float) -> bool:
        """Whether ``value`` lies inside the interval."""
        above = value >= self.low if self.low_inclusive else value > self.low
        below = value <= self.high if self.high_inclusive else value < self.high
        return bool(above and below)


_LOWER = {"greater_than": False, "greater_than_or_equal_to": True}
_UPPER = {"less_than": False, "less_than_or_equal_to": True}


def column_bounds(schema: pa.DataFrameSchema | None = None) -> dict[str, Bounds]:
    """Each column's interval as declared in the model."""
    schema = schema or contract_schema()
    return {
        name: bounds_from_checks((check.name, check.statistics) for check in column.checks)
        for name, column in schema.columns.items()
    }


def bounds_from_checks(checks: Iterable[tuple[str, dict[str, Any]]]) -> Bounds:
    """The interval allowed by ``(check name, statistics)`` pairs (gt, ge, lt, le, in_range)."""
    bounds = Bounds()
    for name, stats in checks:
        if name in _LOWER:
            bounds = _tighter_low(bounds, float(stats["min_value"]), _LOWER[name])
        elif name in _UPPER:
            bounds = _tighter_high(bounds, float(stats["max_value"]), _UPPER[name])
        elif name == "in_range":
            bounds = _tighter_low(bounds, float(stats["min_value"]), stats.get("include_min", True))
            bounds = _tighter_high(bounds, float(stats["max_value"]), stats.get("include_max", True))
    return bounds


def _tighter_low(bounds: Bounds, low: float, inclusive: bool) -> Bounds:
    if low > bounds.low or (low == bounds.low and not inclusive):
        return Bounds(low, inclusive, bounds.high, bounds.high_inclusive)
    return bounds


def _tighter_high(bounds: Bounds, high: float, inclusive: bool) -> Bounds:
    if high < bounds.high or (high == bounds.high and not inclusive):
        return Bounds(bounds.low, bounds.low_inclusive, high, inclusive)
    return bounds


# ---------------------------------------------------------------------------------------------------------
# Fast path: a NumPy pass derived from the model. It answers only "does everything pass?"; it must never
# say yes when pandera would say no, so anything it does not understand disables it (pandera then runs on
# every call) instead of being skipped.

_BOUND_CHECKS = {*_LOWER, *_UPPER, "in_range"}


@dataclass(frozen=True)
class _ColumnRule:
    name: str
    dtype: np.dtype
    nullable: bool
    bounds: Bounds
    custom: tuple[Callable[[Any], Any], ...]


@dataclass(frozen=True)
class _FastRules:
    columns: tuple[_ColumnRule, ...]
    strict: bool
    unique_column_names: bool
    frame_checks: tuple[Callable[[Any], Any], ...]

    def passes(self, frame: pd.DataFrame) -> bool:
        """True only if every rule holds for ``frame``."""
        names = list(frame.columns)
        if self.unique_column_names and len(set(names)) != len(names):
            return False
        expected = {rule.name for rule in self.columns}
        if (set(names) != expected) if self.strict else not expected <= set(names):
            return False
        for rule in self.columns:
            series = frame[rule.name]
            if series.dtype != rule.dtype:
                return False
            values = series.to_numpy()
            if len(values):
                # min/max are single allocation-free passes; NaN propagates into both, so a NaN fails the
                # bound comparisons and the nullability test below.
                low, high = values.min(), values.max()
                if not rule.nullable and (np.isnan(low) or np.isnan(high)):
                    return False
                if not (rule.bounds.contains(low) and rule.bounds.contains(high)):
                    return False
            if not all(np.all(check(series)) for check in rule.custom):
                return False
        return all(np.all(check(frame)) for check in self.frame_checks)


def _custom_check(model: type[pa.DataFrameModel], check: pa.Check) -> Callable[[Any], Any] | None:
    method = getattr(model, check.name, None)
    if not callable(method) or check.groupby is not None or check.element_wise:
        return None
    kwargs = dict(check.statistics)
    return lambda obj: method(obj, **kwargs)


@cache
def _fast_rules() -> _FastRules | None:
    """Compile the model into NumPy rules, or None if it uses a feature the fast path cannot mirror."""
    schema = contract_schema()
    if (
        schema.coerce
        or schema.index is not None
        or schema.dtype is not None
        or schema.parsers
        or schema.add_missing_columns
        or schema.drop_invalid_rows
        or schema.strict not in (True, False)  # "filter" would drop columns, not reject them
    ):
        return None
    columns = []
    for name, column in schema.columns.items():
        if column.coerce or column.unique or column.regex or not column.required or column.parsers:
            return None
        if column.dtype is None or not isinstance(column.dtype.type, np.dtype):
            return None
        custom = []
        for check in column.checks:
            if check.name in _BOUND_CHECKS:
                continue
            fn = _custom_check(CaliforniaHousing, check)
            if fn is None:
                return None
            custom.append(fn)
        columns.append(
            _ColumnRule(name, column.dtype.type, column.nullable, column_bounds(schema)[name], tuple(custom))
        )
    frame_checks = []
    for check in schema.checks:
        fn = _custom_check(CaliforniaHousing, check)
        if fn is None:
            return None
        frame_checks.append(fn)
    return _FastRules(tuple(columns), bool(schema.strict), schema.unique_column_names, tuple(frame_checks))


def fast_path_enabled() -> bool:
    """Whether :func:`validate` can use the NumPy fast path for the current model."""
    return _fast_rules() is not None


def validate(df: pd.DataFrame) -> pd.DataFrame:
    """Return ``df`` unchanged if it conforms to the contract, else raise :class:`ContractViolation`.

    The violation's ``report`` lists every failing check (pandera ``lazy=True``) with sample failure
    cases and the index labels of every failing row.
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"validate() expects a pandas DataFrame, got {type(df).__name__}")
    rules = _fast_rules()
    if rules is not None and rules.passes(df):
        return df
    try:
        contract_schema().validate(df, lazy=True)
    except pa.errors.SchemaErrors as exc:
        raise ContractViolation(_report_from(exc.failure_cases, df)) from None
    return df


# ---------------------------------------------------------------------------------------------------------
# pandera failure cases -> ValidationReport

SAMPLE_SIZE = 5

_STRUCTURE_EXPECTED = {
    "column_in_schema": "only the contract's columns (strict)",
    "column_in_dataframe": "every contract column present",
    "not_nullable": "no nulls",
    "dataframe_column_labels_unique": "unique column names",
}


def _report_from(failure_cases: pd.DataFrame, df: pd.DataFrame) -> ValidationReport:
    schema = contract_schema()
    frame_checks = {check.name: check for check in schema.checks}
    failures: list[CheckFailure] = []
    for (context, column, check), group in failure_cases.groupby(
        ["schema_context", "column", "check"], sort=False, dropna=False
    ):
        if check in ("column_in_schema", "column_in_dataframe", "dataframe_column_labels_unique"):
            names = [n for case in group["failure_case"] for n in (case if _is_list_like(case) else [case])]
            for missing_or_extra in dict.fromkeys(str(n) for n in names):
                failures.append(
                    CheckFailure(
                        column=missing_or_extra,
                        check=check,
                        expected=_STRUCTURE_EXPECTED[check],
                        failure_count=1,
                    )
                )
        elif context == "DataFrameSchema" and check in frame_checks:
            failures.append(_frame_check_failure(frame_checks[check], column, group, df))
        else:
            failures.append(_column_check_failure(schema, str(column), str(check), group))
    merged = _merge_frame_check_failures(failures)
    order = {name: i for i, name in enumerate(COLUMNS)}
    merged.sort(key=lambda f: (f.column is None, order.get(f.column or "", len(order))))
    return ValidationReport(
        contract=CONTRACT_NAME, version=CONTRACT_VERSION, row_count=len(df), failures=tuple(merged)
    )


def _column_check_failure(
    schema: pa.DataFrameSchema, column: str, check: str, group: pd.DataFrame
) -> CheckFailure:
    expected = _STRUCTURE_EXPECTED.get(check, check)
    if column in schema.columns:
        if check.startswith("dtype("):
            expected = f"dtype {schema.columns[column].dtype}"
        for candidate in schema.columns[column].checks:
            if check in (candidate.name, candidate.error):
                expected = _expected_text(column, candidate)
    index = _labels(group["index"])
    return CheckFailure(
        column=column,
        check=check,
        expected=expected,
        failure_count=len(index) or len(group),
        failure_cases=tuple(_plain(v) for v in group["failure_case"].head(SAMPLE_SIZE).tolist()),
        index=tuple(index),
    )


_OPERATORS = {
    "greater_than": ">",
    "greater_than_or_equal_to": ">=",
    "less_than": "<",
    "less_than_or_equal_to": "<=",
}


def _expected_text(column: str, check: pa.Check) -> str:
    """``MedInc > 0`` for bound checks, else the check's description."""
    if check.name in _OPERATORS:
        value = next(iter(check.statistics.values()))
        return f"{column} {_OPERATORS[check.name]} {value}"
    return check.description or check.name


def _frame_check_failure(check: pa.Check, column: Any, group: pd.DataFrame, df: pd.DataFrame) -> CheckFailure:
    target = check.statistics.get("column")
    if target is None:  # a frame-level check with a scalar outcome (e.g. the row count)
        return CheckFailure(
            column=None,
            check=check.name,
            expected=check.description or check.name,
            failure_count=1,
            failure_cases=(len(df),) if check.name == "min_row_count" else (),
        )
    # pandera reports a row-wise frame check once per column of each failing row; keep the checked column
    index = _labels(group["index"])
    cases = group["failure_case"].head(SAMPLE_SIZE).tolist() if column == target else []
    return CheckFailure(
        column=target,
        check=check.name,
        expected=check.description or check.name,
        failure_count=len(index),
        failure_cases=tuple(_plain(v) for v in cases),
        index=tuple(index),
    )


def _merge_frame_check_failures(failures: list[CheckFailure]) -> list[CheckFailure]:
    merged: dict[tuple[str | None, str], CheckFailure] = {}
    for failure in failures:
        key = (failure.column, failure.check)
        if key not in merged:
            merged[key] = failure
            continue
        first = merged[key]
        index = tuple(dict.fromkeys((*first.index, *failure.index)))
        merged[key] = CheckFailure(
            column=first.column,
            check=first.check,
            expected=first.expected,
            failure_count=max(len(index), first.failure_count),
            failure_cases=(first.failure_cases or failure.failure_cases),
            index=index,
        )
    return list(merged.values())


def _labels(values: Iterable[Any]) -> list[Hashable]:
    return list(dict.fromkeys(_plain(v) for v in values if v is not None and not _is_nan(v)))


def _is_list_like(value: Any) -> bool:
    return isinstance(value, pd.Index | list | tuple | np.ndarray)


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _plain(value: Any) -> Any:
    """A JSON-friendly scalar: NumPy scalars unwrapped, non-finite floats spelled out."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)
