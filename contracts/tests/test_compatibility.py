"""Compatibility: the live contract matches its frozen version, and diff classifies changes correctly."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable
from typing import Any

import pytest
from typer.testing import CliRunner

from housing_contracts import CONTRACT_VERSION, CONTRACTS, V1, V2, Contract
from housing_contracts.cli import app
from housing_contracts.contract.compatibility import ChangeKind, diff, version_bump_problems
from housing_contracts.contract.description import describe, frozen_versions, load_description, parse_version

Description = dict[str, Any]


@pytest.mark.parametrize("contract", CONTRACTS, ids=lambda c: c.version)
def test_live_contract_equals_its_frozen_version(contract: Contract) -> None:
    """Each live major is exactly the frozen description of its version.

    If this fails you changed the contract: bump the version as `housing-contract diff <frozen> live` says
    (major for breaking, minor for compatible) and freeze it with `housing-contract describe --version <v>
    --json > contracts/src/housing_contracts/frozen/california_housing-<v>.json`.
    """
    assert contract.version in frozen_versions(), f"contract {contract.version} has no frozen description"
    live = describe(contract=contract)
    changes = diff(load_description(contract.version), live).changes
    assert changes == (), f"live contract differs from frozen {contract.version}: {changes}"
    assert live == load_description(contract.version)


def test_every_release_carries_the_right_version_bump() -> None:
    """Each frozen version differs from the previous one only as its version bump allows."""
    versions = frozen_versions()
    for old, new in itertools.pairwise(versions):
        assert version_bump_problems(load_description(old), load_description(new)) == []
    assert version_bump_problems(load_description(versions[-1]), load_description("live")) == []


def test_two_point_oh_is_breaking_and_needs_its_new_uri() -> None:
    """1.x -> 2.0.0 renames every column and rescales the money ones: breaking, with the new URI."""
    result = diff(load_description("1.1.0"), load_description("2.0.0"))
    assert result.breaking and result.required_bump == "major"
    kinds = {(str(c.kind), c.subject) for c in result.changes}
    assert ("uri_changed", "dataset_uri") in kinds
    assert ("column_renamed", "HouseAge") in kinds
    assert ("column_removed", "MedHouseVal") in kinds  # rescaled bounds: not a plain rename
    assert V2.uri != V1.uri and V2.major == V1.major + 1


def _frozen() -> Description:
    return copy.deepcopy(load_description(CONTRACT_VERSION))


def _rename(d: Description) -> None:
    d["columns"] = {("MedianIncome" if k == "MedInc" else k): v for k, v in d["columns"].items()}


def _add_column(nullable: bool) -> Callable[[Description], None]:
    def edit(d: Description) -> None:
        d["columns"]["OceanDistance"] = copy.deepcopy(d["columns"]["MedInc"]) | {"nullable": nullable}

    return edit


def _set(path: str, value: Any) -> Callable[[Description], None]:
    def edit(d: Description) -> None:
        *parents, last = path.split(".")
        for key in parents:
            d = d[key]
        d[last] = value

    return edit


def _bound(column: str, check: str, value: float) -> Callable[[Description], None]:
    key = "max_value" if check.startswith("less") else "min_value"
    return _set(f"columns.{column}.checks.{check}.statistics.{key}", value)


def _gt_to_ge(d: Description) -> None:
    checks = d["columns"]["MedInc"]["checks"]
    checks["greater_than_or_equal_to"] = checks.pop("greater_than")


_NEW_CHECK = {"statistics": {}, "description": "sorted"}
K = ChangeKind
_CASES = [
    # (id, edit of the old description or None, edit of the new one, expected kind, breaking)
    ("remove column", None, lambda d: d["columns"].pop("AveOccup"), K.COLUMN_REMOVED, True),
    ("rename column", None, _rename, K.COLUMN_RENAMED, True),
    ("dtype change", None, _set("columns.MedInc.dtype", "float32"), K.DTYPE_CHANGED, True),
    ("tighten upper bound", None, _bound("MedInc", "less_than_or_equal_to", 10.0), K.CHECK_TIGHTENED, True),
    ("relax upper bound", None, _bound("AveOccup", "less_than_or_equal_to", 30), K.CHECK_RELAXED, False),
    ("tighten lower bound", None, _bound("Latitude", "greater_than_or_equal_to", 33), K.CHECK_TIGHTENED,
     True),
    ("open lower bound closed (gt -> ge)", None, _gt_to_ge, K.CHECK_RELAXED, False),
    ("nullability tightened", _set("columns.HouseAge.nullable", True), lambda d: None,
     K.NULLABILITY_TIGHTENED, True),
    ("nullability relaxed", None, _set("columns.HouseAge.nullable", True), K.NULLABILITY_RELAXED, False),
    ("add nullable column", None, _add_column(True), K.COLUMN_ADDED_NULLABLE, False),
    ("add non-nullable column", None, _add_column(False), K.COLUMN_ADDED_REQUIRED, True),
    ("URI change", None, _set("dataset_uri", "s3://lake/california_housing/v2"), K.URI_CHANGED, True),
    ("column description", None, _set("columns.MedInc.description", "income"), K.DESCRIPTION_CHANGED, False),
    ("contract description", None, _set("description", "new words"), K.DESCRIPTION_CHANGED, False),
    ("min rows raised", None, _set("dataframe_checks.min_row_count.statistics.min_rows", 5000),
     K.CHECK_TIGHTENED, True),
    ("min rows lowered", None, _set("dataframe_checks.min_row_count.statistics.min_rows", 500),
     K.CHECK_RELAXED, False),
    ("frame check removed", None, lambda d: d["dataframe_checks"].pop("bedrooms_within_rooms"),
     K.CHECK_REMOVED, False),
    ("column check added", None, _set("columns.MedInc.checks.is_monotonic", _NEW_CHECK), K.CHECK_ADDED, True),
    ("custom check parameters changed", None,
     _set("dataframe_checks.bedrooms_within_rooms.statistics.other", "Population"), K.CHECK_CHANGED, True),
    ("strictness dropped", None, _set("options.strict", False), K.OPTION_RELAXED, False),
    ("ordering required", None, _set("options.ordered", True), K.OPTION_TIGHTENED, True),
    ("contract renamed", None, _set("contract.name", "housing"), K.CONTRACT_RENAMED, True),
    ("freshness promise added", lambda d: d.pop("freshness"), lambda d: None, K.FRESHNESS_PROMISE_ADDED,
     False),
    ("freshness promise removed", None, lambda d: d.pop("freshness"), K.FRESHNESS_PROMISE_REMOVED, True),
    ("freshness promise lengthened", None, _set("freshness.max_snapshot_interval_hours", 48),
     K.FRESHNESS_PROMISE_LENGTHENED, True),
    ("freshness promise shortened", None, _set("freshness.max_snapshot_interval_hours", 12),
     K.FRESHNESS_PROMISE_SHORTENED, False),
    ("freshness description", None, _set("freshness.description", "daily"), K.DESCRIPTION_CHANGED, False),
]  # fmt: skip


@pytest.mark.parametrize(
    ("old_edit", "new_edit", "kind", "breaking"), [c[1:] for c in _CASES], ids=[c[0] for c in _CASES]
)
def test_diff_classifies_the_change(
    old_edit: Callable[[Description], None] | None,
    new_edit: Callable[[Description], None],
    kind: ChangeKind,
    breaking: bool,
) -> None:
    """One edit to the frozen description gives exactly one change of the expected kind and class."""
    old, new = _frozen(), _frozen()
    if old_edit is not None:
        old_edit(old)
    new_edit(new)
    changes = diff(old, new).changes
    assert [(c.kind, c.breaking) for c in changes] == [(kind, breaking)], changes
    assert changes[0].reason


def test_release_1_1_0_adds_the_freshness_promise_as_a_minor_change() -> None:
    """1.0.0 -> 1.1.0 is the freshness promise added and nothing else: compatible, a minor bump."""
    result = diff(load_description("1.0.0"), load_description("1.1.0"))
    changes = [(c.kind, c.subject, c.new) for c in result.changes]
    assert changes == [(K.FRESHNESS_PROMISE_ADDED, "freshness", 24)]
    assert (result.breaking, result.required_bump) == (False, "minor")
    assert describe(contract=V1)["freshness"]["max_snapshot_interval_hours"] == 24


def test_cli_diff_of_1_0_0_and_1_1_0_says_minor() -> None:
    """`housing-contract diff 1.0.0 1.1.0` lists the added promise as compatible, needing a minor bump."""
    result = CliRunner().invoke(app, ["diff", "1.0.0", "1.1.0"])
    assert result.exit_code == 0, result.output
    assert "freshness_promise_added | freshness | compatible" in result.stdout
    assert "1.0.0 -> 1.1.0: requires a minor version bump" in result.stdout


def test_identical_descriptions_have_no_changes() -> None:
    """diff of a description with itself is empty and needs no bump."""
    result = diff(_frozen(), _frozen())
    assert result.changes == ()
    assert result.required_bump == "none"


def _bumped(description: Description, *, major: int = 0, minor: int = 0) -> str:
    old_major, old_minor, _ = parse_version(description["contract"]["version"])
    return f"{old_major + major}.{0 if major else old_minor + minor}.0"


def test_breaking_change_requires_a_major_bump() -> None:
    """A breaking change under a minor bump is a problem; under a major bump it is fine."""
    old, new = _frozen(), _frozen()
    new["columns"].pop("AveOccup")
    new["contract"]["version"] = _bumped(old, minor=1)
    assert "need a new major version" in version_bump_problems(old, new)[0]
    new["contract"]["version"] = _bumped(old, major=1)
    assert version_bump_problems(old, new) == []


def test_compatible_change_requires_a_minor_bump() -> None:
    """A compatible change with the same version is a problem; a minor bump suffices."""
    old, new = _frozen(), _frozen()
    new["columns"]["MedInc"]["description"] = "income"
    assert "need a new minor version" in version_bump_problems(old, new)[0]
    new["contract"]["version"] = _bumped(old, minor=1)
    assert version_bump_problems(old, new) == []


def test_several_changes_are_all_listed() -> None:
    """A diff lists every change, and one breaking change makes the whole diff breaking."""
    old, new = _frozen(), _frozen()
    new["columns"]["MedInc"]["description"] = "income"
    new["columns"].pop("AveOccup")
    result = diff(old, new)
    assert {c.kind for c in result.changes} == {ChangeKind.DESCRIPTION_CHANGED, ChangeKind.COLUMN_REMOVED}
    assert result.breaking
    assert result.required_bump == "major"
