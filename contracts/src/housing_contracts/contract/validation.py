""":func:`validate`: a NumPy fast path compiled from the pandera schema, then pandera's report on failure.

The fast path only answers "does everything pass?" and must never say yes where pandera says no: a schema
feature it cannot mirror disables it. Only a failing frame pays for pandera's lazy validation.
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

from housing_contracts.contract.errors import ContractViolation
from housing_contracts.contract.model import (
    BOUND_CHECKS,
    Bounds,
    bounds_from_checks,
    column_bounds,
    contract_schema,
)
from housing_contracts.contract.report import CheckFailure, ValidationReport
from housing_contracts.contract.versions import LATEST, Contract

#: Failing values kept per check in a report.
SAMPLE_SIZE = 5
#: pandera's structural checks: what each one requires. Their failure cases are column names.
_STRUCTURE = {
    "column_in_schema": "only the contract's columns (strict)",
    "column_in_dataframe": "every contract column present",
    "dataframe_column_labels_unique": "unique column names",
}
_LISTLIKE = pd.Index | list | tuple | np.ndarray


@dataclass(frozen=True)
class _Column:
    dtype: np.dtype | None
    nullable: bool
    bounds: Bounds
    checks: tuple[Callable[[Any], Any], ...]


@dataclass(frozen=True)
class FastPath:
    """The schema's rules as NumPy operations: answers whether a frame passes every one of them."""

    columns: dict[str, _Column]
    required: frozenset[str]
    strict: bool
    unique_column_names: bool
    frame_checks: tuple[Callable[[Any], Any], ...]

    @classmethod
    def compile(cls, schema: pa.DataFrameSchema) -> FastPath | None:
        """The fast path of ``schema``, or None if it uses a feature the fast path cannot mirror."""
        checks = [*schema.checks, *(check for column in schema.columns.values() for check in column.checks)]
        if (
            schema.coerce
            or schema.index is not None
            or schema.dtype is not None
            or schema.parsers
            or schema.add_missing_columns
            or schema.drop_invalid_rows
            or schema.strict not in (True, False)  # "filter" would drop columns, not reject them
            or schema.ordered
            or any(c.coerce or c.unique or c.regex or c.parsers for c in schema.columns.values())
            or any(not _numeric(c.dtype.type) for c in schema.columns.values() if c.dtype is not None)
            or any(check.groupby is not None or check.element_wise for check in checks)
        ):
            return None
        bounds = column_bounds(schema)
        return cls(
            columns={
                name: _Column(
                    column.dtype.type if column.dtype is not None else None,
                    column.nullable,
                    bounds[name],
                    tuple(_function(c) for c in column.checks if c.name not in BOUND_CHECKS),
                )
                for name, column in schema.columns.items()
            },
            required=frozenset(name for name, column in schema.columns.items() if column.required),
            strict=bool(schema.strict),
            unique_column_names=schema.unique_column_names,
            frame_checks=tuple(_function(check) for check in schema.checks),
        )

    def passes(self, frame: pd.DataFrame) -> bool:
        """True only if every rule holds for ``frame``."""
        names = list(frame.columns)
        if self.unique_column_names and len(set(names)) != len(names):
            return False
        if (self.strict and not set(names) <= self.columns.keys()) or not self.required <= set(names):
            return False
        for name, series in frame.items():
            rule = self.columns.get(name)
            if rule is None:
                continue
            if (rule.dtype is not None and series.dtype != rule.dtype) or not _numeric(series.dtype):
                return False
            if rule.nullable and series.hasnans:
                series = series.dropna()  # pandera checks the non-null values of a nullable column
            values = series.to_numpy()
            # min and max are allocation-free passes; a NaN propagates into both and fails contains()
            if len(values) and not (
                rule.bounds.contains(values.min()) and rule.bounds.contains(values.max())
            ):
                return False
            if not all(np.all(check(series)) for check in rule.checks):
                return False
        return all(np.all(check(frame)) for check in self.frame_checks)


def _numeric(dtype: Any) -> bool:
    return isinstance(dtype, np.dtype) and dtype.kind in "iuf"


def _function(check: pa.Check) -> Callable[[Any], Any]:
    # what pandera's own backend calls: the check function with the check's keyword arguments
    function, kwargs = check._check_fn, check._check_kwargs
    return lambda obj: function(obj, **kwargs)


class Validator:
    """Validation against one pandera schema: the fast path first, pandera's report when it fails."""

    def __init__(self, schema: pa.DataFrameSchema, contract: Contract = LATEST) -> None:
        self.schema = schema
        self.contract = contract
        self.fast_path = FastPath.compile(schema)

    def validate(self, df: pd.DataFrame) -> pd.DataFrame:
        """Return ``df`` unchanged if it conforms, else raise :class:`ContractViolation`."""
        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"validate() expects a pandas DataFrame, got {type(df).__name__}")
        if self.fast_path is not None and self.fast_path.passes(df):
            return df
        try:
            self.schema.validate(df, lazy=True)
        except pa.errors.SchemaErrors as exc:
            raise ContractViolation(self.report(exc.failure_cases, len(df))) from None
        return df

    def report(self, failure_cases: pd.DataFrame, row_count: int) -> ValidationReport:
        """pandera's failure cases as a report: one entry per failing column and check."""
        failures: dict[tuple[str | None, str], CheckFailure] = {}
        frame_checks = {check.name: check for check in self.schema.checks}
        groups = failure_cases.groupby(["schema_context", "column", "check"], sort=False, dropna=False)
        for (context, column, check), group in groups:
            if check in _STRUCTURE:
                cases = group["failure_case"]
                names = [n for case in cases for n in (case if isinstance(case, _LISTLIKE) else [case])]
                found = [CheckFailure(n, check, _STRUCTURE[check], 1) for n in dict.fromkeys(map(str, names))]
            elif context == "DataFrameSchema" and check in frame_checks:
                found = [self._frame_check_failure(frame_checks[check], column, group, row_count)]
            else:
                found = [self._column_check_failure(str(column), str(check), group)]
            for failure in found:
                # pandera reports a row-wise frame check once per column of a failing row: merge them
                key = (failure.column, failure.check)
                failures[key] = _merge(failures[key], failure) if key in failures else failure
        order = {name: i for i, name in enumerate(self.schema.columns)}
        ordered = sorted(failures.values(), key=lambda f: (f.column is None, order.get(f.column, len(order))))
        return ValidationReport(self.contract.name, self.contract.version, row_count, tuple(ordered))

    def _column_check_failure(self, column: str, check: str, group: pd.DataFrame) -> CheckFailure:
        expected = "no nulls" if check == "not_nullable" else check
        if column in self.schema.columns:
            spec = self.schema.columns[column]
            if check.startswith("dtype("):
                expected = f"dtype {spec.dtype}"
            for candidate in spec.checks:
                if check in (candidate.name, candidate.error):
                    expected = candidate.description or candidate.name
                    if candidate.name in BOUND_CHECKS:  # e.g. "MedInc > 0"
                        expected = bounds_from_checks([(candidate.name, candidate.statistics)]).text(column)
        index = _labels(group["index"])
        return CheckFailure(column, check, expected, len(index) or len(group), _samples(group), tuple(index))

    @staticmethod
    def _frame_check_failure(check: pa.Check, column: Any, group: pd.DataFrame, rows: int) -> CheckFailure:
        expected = check.description or check.name
        target = check.statistics.get("column")
        if target is None:  # a frame-level check with a scalar outcome, e.g. the row count
            return CheckFailure(
                None, check.name, expected, 1, (rows,) if "min_rows" in check.statistics else ()
            )
        index = tuple(_labels(group["index"]))
        return CheckFailure(
            target, check.name, expected, len(index), _samples(group) if column == target else (), index
        )


def _merge(first: CheckFailure, second: CheckFailure) -> CheckFailure:
    index = tuple(dict.fromkeys((*first.index, *second.index)))
    cases = first.failure_cases or second.failure_cases
    return CheckFailure(
        first.column, first.check, first.expected, max(len(index), first.failure_count), cases, index
    )


def _samples(group: pd.DataFrame) -> tuple[Any, ...]:
    return tuple(_plain(value) for value in group["failure_case"].head(SAMPLE_SIZE).tolist())


def _labels(values: Iterable[Any]) -> list[Hashable]:
    return list(dict.fromkeys(_plain(v) for v in values if v is not None and not _is_nan(v)))


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


@cache
def contract_validator(contract: Contract = LATEST) -> Validator:
    """The validator of ``contract`` (built once per major)."""
    return Validator(contract_schema(contract), contract)


def validate(df: pd.DataFrame, contract: Contract = LATEST) -> pd.DataFrame:
    """Return ``df`` unchanged if it conforms to ``contract``, else raise :class:`ContractViolation`.

    No coercion: every column must already be float64. The violation's ``report`` lists every failing check.
    """
    return contract_validator(contract).validate(df)
