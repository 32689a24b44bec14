"""Every rule of the model is enforced: without it, data that breaks it gets through; with it, it does not.

The rules are read from the model's schema (each column's dtype, nullability, presence and checks; the
strictness, unique column names and each frame check), so a rule added to the model is covered here
without editing this file. Each rule comes with a way to break it, derived from the rule itself: a value
just outside a bound, a value the check function refuses, NaN, float32, a missing or an extra column.
Where the same bad data also breaks other rules (``inf`` breaks ``finite`` and the upper bound), those
are removed from both schemas, so the rule under test alone decides.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest

from housing_contracts import V1, ContractViolation, validate
from housing_contracts.contract.model import BOUND_CHECKS, bounds_from_checks, contract_schema
from housing_contracts.contract.validation import FastPath, Validator

Schema = pa.DataFrameSchema
#: The row a rule is broken in.
ROW = 3
EXTRA_COLUMN = "not_in_the_contract"
#: Values tried against a custom column check until one fails it.
_CANDIDATES = (math.inf, -math.inf, math.nan, 0.0, -1.0, 1e300, -1e300)


@dataclass(frozen=True)
class Rule:
    """One rule of a schema: how pandera reports it, how to remove it, and how to break it."""

    id: str
    reported_as: tuple[str | None, str]  # (column, check) in the ValidationReport
    remove: Callable[[Schema], Schema]
    breaks: Callable[[pd.DataFrame], pd.DataFrame]


def _copy(schema: Schema, **attributes: object) -> Schema:
    changed = copy.deepcopy(schema)
    for name, value in attributes.items():
        setattr(changed, name, value)
    return changed


def _set(column: str, value: float) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def breaks(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.copy()
        frame.loc[ROW, column] = value
        return frame

    return breaks


def _outside(check: pa.Check) -> float:
    """A value just outside a bound check, or one the check function refuses."""
    if check.name in BOUND_CHECKS:
        bounds = bounds_from_checks([(check.name, check.statistics)])
        if bounds.high != math.inf:
            return bounds.high if not bounds.high_inclusive else float(np.nextafter(bounds.high, math.inf))
        return bounds.low if not bounds.low_inclusive else float(np.nextafter(bounds.low, -math.inf))
    for value in _CANDIDATES:
        if not check(pd.Series([value], dtype="float64")).check_passed:
            return value
    raise LookupError(f"none of {_CANDIDATES} fails check {check.name!r}: add a way to break it here")


def _bedrooms_above_rooms(frame: pd.DataFrame, *, column: str, other: str) -> pd.DataFrame:
    frame = frame.copy()
    frame.loc[ROW, other] = np.nextafter(frame.loc[ROW, column], -math.inf)
    return frame


#: How to break each frame check, given its statistics. A new frame check needs an entry here.
FRAME_CHECK_BREAKERS: dict[str, Callable[..., pd.DataFrame]] = {
    "bedrooms_within_rooms": _bedrooms_above_rooms,
    "min_row_count": lambda frame, *, min_rows: frame.head(min_rows - 1),
}


def _frame_check_rule(check: pa.Check) -> Rule:
    def breaks(frame: pd.DataFrame) -> pd.DataFrame:
        if check.name not in FRAME_CHECK_BREAKERS:
            raise LookupError(f"no way to break frame check {check.name!r}: add it to FRAME_CHECK_BREAKERS")
        return FRAME_CHECK_BREAKERS[check.name](frame, **check.statistics)

    def remove(schema: Schema) -> Schema:
        return _copy(schema, checks=[c for c in schema.checks if c.name != check.name])

    return Rule(f"(frame)/{check.name}", (check.statistics.get("column"), check.name), remove, breaks)


def _column_check_rule(name: str, check: pa.Check) -> Rule:
    def remove(schema: Schema) -> Schema:
        return schema.update_column(
            name, checks=[c for c in schema.columns[name].checks if c.name != check.name]
        )

    return Rule(
        f"{name}/{check.name}", (name, check.error or check.name), remove, _set(name, _outside(check))
    )


def model_rules(schema: Schema) -> list[Rule]:
    """Every rule of ``schema``, each with a way to break it."""
    rules = []
    for name, column in schema.columns.items():
        if column.dtype is not None:
            rules.append(
                Rule(
                    f"{name}/dtype",
                    (name, f"dtype('{column.dtype}')"),
                    lambda s, name=name: s.update_column(name, dtype=None),
                    lambda f, name=name: f.astype({name: "float32"}),
                )
            )
        if not column.nullable:
            rules.append(
                Rule(
                    f"{name}/not_nullable",
                    (name, "not_nullable"),
                    lambda s, name=name: s.update_column(name, nullable=True),
                    _set(name, math.nan),
                )
            )
        if column.required:
            rules.append(
                Rule(
                    f"{name}/required",
                    (name, "column_in_dataframe"),
                    lambda s, name=name: s.update_column(name, required=False),
                    lambda f, name=name: f.drop(columns=name),
                )
            )
        rules += [_column_check_rule(name, check) for check in column.checks]
    if schema.strict:
        rules.append(
            Rule(
                "strict",
                (EXTRA_COLUMN, "column_in_schema"),
                lambda s: _copy(s, strict=False),
                lambda f: f.assign(**{EXTRA_COLUMN: 1.0}),
            )
        )
    if schema.unique_column_names:
        first = next(iter(schema.columns))
        rules.append(
            Rule(
                "unique_column_names",
                (first, "dataframe_column_labels_unique"),
                lambda s: _copy(s, unique_column_names=False),
                lambda f: pd.concat([f, f[[first]]], axis=1),
            )
        )
    return rules + [_frame_check_rule(check) for check in schema.checks]


RULES = model_rules(contract_schema(contract=V1))


def _reported(schema: Schema, frame: pd.DataFrame) -> set[tuple[str | None, str]]:
    """The (column, check) pairs the frame fails under ``schema``; empty if it conforms."""
    try:
        Validator(schema, contract=V1).validate(frame)
    except ContractViolation as violation:
        return {(f.column, f.check) for f in violation.report.failures}
    return set()


@cache
def _base() -> pd.DataFrame:
    """A contract-valid frame to break one rule in."""
    from housing_contracts.testing import sample_frame

    return sample_frame(1000, seed=7)


@cache
def _case(rule: Rule) -> tuple[pd.DataFrame, Schema]:
    """The broken frame, and the contract's schema without the other rules it also breaks."""
    bad, schema = rule.breaks(_base()), contract_schema(contract=V1)
    while True:
        failures = _reported(schema, bad)
        others = [r for r in RULES if r is not rule and r.reported_as in failures]
        if not others:
            return bad, schema
        for other in others:
            schema = other.remove(schema)


def test_rules_are_read_from_the_model() -> None:
    """Every column contributes its dtype, nullability, presence and checks; the frame its own rules."""
    schema = contract_schema(contract=V1)
    per_column = sum(3 + len(column.checks) for column in schema.columns.values())
    assert len(RULES) == per_column + 2 + len(schema.checks)
    assert len({rule.id for rule in RULES}) == len(RULES)


@pytest.mark.parametrize("rule", RULES, ids=[rule.id for rule in RULES])
def test_the_contract_rejects_data_breaking_the_rule(rule: Rule) -> None:
    """validate() refuses the broken frame and names the rule's column and check in the report."""
    with pytest.raises(ContractViolation) as caught:
        validate(_case(rule)[0], contract=V1)
    reported = {(f.column, f.check): f for f in caught.value.report.failures}
    assert rule.reported_as in reported, sorted(reported, key=str)
    if reported[rule.reported_as].index:
        assert reported[rule.reported_as].index == (ROW,)


@pytest.mark.parametrize("rule", RULES, ids=[rule.id for rule in RULES])
def test_without_the_rule_pandera_lets_the_bad_data_through(rule: Rule) -> None:
    """pandera's validation rejects the broken frame with the rule and accepts it without."""
    bad, with_rule = _case(rule)
    with pytest.raises(pa.errors.SchemaErrors):
        with_rule.validate(bad, lazy=True)
    rule.remove(with_rule).validate(bad, lazy=True)


@pytest.mark.parametrize("rule", RULES, ids=[rule.id for rule in RULES])
def test_without_the_rule_the_fast_path_lets_the_bad_data_through(rule: Rule) -> None:
    """The NumPy fast path compiled with the rule refuses the broken frame; compiled without, it passes it."""
    bad, with_rule = _case(rule)
    fast_with, fast_without = FastPath.compile(with_rule), FastPath.compile(rule.remove(with_rule))
    assert fast_with is not None and fast_without is not None, "the fast path cannot mirror this schema"
    assert fast_with.passes(_base())
    assert not fast_with.passes(bad)
    assert fast_without.passes(bad)
