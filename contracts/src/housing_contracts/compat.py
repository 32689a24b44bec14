"""Compatibility: the contract as canonical JSON, its frozen released versions, and :func:`diff`.

A change is **breaking** when data that was valid under the old version may be invalid under the new one,
or when consumers must look elsewhere: removed or renamed column, dtype change, tightened or added check,
nullability tightened, added non-nullable column, URI or name change. It is **compatible** otherwise:
added nullable column, relaxed or removed check, nullability relaxed, description change. A breaking
change needs a new major version (and so a new URI); a compatible one a new minor version.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any

from housing_contracts.dataset import CONTRACT_NAME, CONTRACT_VERSION, DATASET_URI
from housing_contracts.schema import Bounds, bounds_from_checks, column_bounds, contract_schema

LIVE = "live"
_BOUND_CHECK_NAMES = {
    "greater_than",
    "greater_than_or_equal_to",
    "less_than",
    "less_than_or_equal_to",
    "in_range",
}
#: Frame-check statistics where a larger value is stricter (everything else: any change is breaking).
_LOWER_LIMIT_STATISTICS = {"min_rows"}


def describe() -> dict[str, Any]:
    """The live contract as a JSON-ready dict: the canonical description that is frozen and fingerprinted."""
    schema = contract_schema()
    columns = {}
    for name, column in schema.columns.items():
        columns[name] = {
            "dtype": str(column.dtype),
            "nullable": bool(column.nullable),
            "required": bool(column.required),
            "unique": bool(column.unique),
            "description": column.description,
            "checks": {
                check.name: {"statistics": _plain(check.statistics), "description": check.description}
                for check in column.checks
            },
        }
    return {
        "contract": {"name": CONTRACT_NAME, "version": CONTRACT_VERSION},
        "dataset_uri": DATASET_URI,
        "description": schema.description,
        "options": {
            "strict": bool(schema.strict),
            "ordered": bool(schema.ordered),
            "coerce": bool(schema.coerce),
            "unique_column_names": bool(schema.unique_column_names),
        },
        "columns": columns,
        "dataframe_checks": {
            check.name: {"statistics": _plain(check.statistics), "description": check.description}
            for check in schema.checks
        },
    }


def _plain(statistics: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(statistics, default=str))


# ------------------------------------------------------------------------------------------ frozen files


def frozen_dir() -> Path:
    """The folder of frozen descriptions shipped with the package."""
    return Path(str(resources.files("housing_contracts") / "frozen"))


def frozen_path(version: str) -> Path:
    """Where the frozen description of ``version`` lives."""
    return frozen_dir() / f"{CONTRACT_NAME}-{version}.json"


def frozen_versions() -> list[str]:
    """Every released (frozen) version, oldest first."""
    prefix = f"{CONTRACT_NAME}-"
    found = [p.name[len(prefix) : -len(".json")] for p in frozen_dir().glob(f"{prefix}*.json")]
    return sorted(found, key=parse_version)


def load_description(source: str) -> dict[str, Any]:
    """``live``, a frozen version (``1.0.0``) or the path of a description JSON file."""
    if source == LIVE:
        return describe()
    path = frozen_path(source) if source in frozen_versions() else Path(source)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(
            f"no contract description at {path} (expected 'live', a frozen version "
            f"{frozen_versions()} or a JSON file)"
        ) from None


def parse_version(version: str) -> tuple[int, int, int]:
    """``"1.2.3"`` -> ``(1, 2, 3)``; ValueError names the bad version."""
    parts = version.split(".")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise ValueError(f"contract version {version!r} is not MAJOR.MINOR.PATCH")
    major, minor, patch = (int(p) for p in parts)
    return major, minor, patch


# ------------------------------------------------------------------------------------------------- diff


class ChangeKind(StrEnum):
    """Every kind of change :func:`diff` recognises."""

    CONTRACT_RENAMED = "contract_renamed"
    URI_CHANGED = "uri_changed"
    COLUMN_REMOVED = "column_removed"
    COLUMN_RENAMED = "column_renamed"
    COLUMN_ADDED_NULLABLE = "column_added_nullable"
    COLUMN_ADDED_REQUIRED = "column_added_required"
    DTYPE_CHANGED = "dtype_changed"
    NULLABILITY_TIGHTENED = "nullability_tightened"
    NULLABILITY_RELAXED = "nullability_relaxed"
    CHECK_ADDED = "check_added"
    CHECK_REMOVED = "check_removed"
    CHECK_TIGHTENED = "check_tightened"
    CHECK_RELAXED = "check_relaxed"
    CHECK_CHANGED = "check_changed"
    OPTION_TIGHTENED = "option_tightened"
    OPTION_RELAXED = "option_relaxed"
    DESCRIPTION_CHANGED = "description_changed"


@dataclass(frozen=True)
class Change:
    """One difference between two contract descriptions."""

    kind: ChangeKind = field(metadata={"description": "what changed"})
    subject: str = field(metadata={"description": "where: a column, column/check, or a contract field"})
    breaking: bool = field(metadata={"description": "True if data or consumers of the old version may break"})
    reason: str = field(metadata={"description": "why it is classified so, in words"})
    old: Any = None
    new: Any = None


@dataclass(frozen=True)
class ContractDiff:
    """All changes from one contract description to another."""

    old_version: str
    new_version: str
    changes: tuple[Change, ...]

    @property
    def breaking(self) -> bool:
        """True if any change is breaking."""
        return any(change.breaking for change in self.changes)

    @property
    def required_bump(self) -> str:
        """``major`` (breaking), ``minor`` (compatible changes) or ``none``."""
        if self.breaking:
            return "major"
        return "minor" if self.changes else "none"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "old_version": self.old_version,
            "new_version": self.new_version,
            "breaking": self.breaking,
            "required_bump": self.required_bump,
            "changes": [asdict(change) | {"kind": str(change.kind)} for change in self.changes],
        }


def diff(old: dict[str, Any], new: dict[str, Any]) -> ContractDiff:
    """Classify every change from description ``old`` to ``new`` as breaking or compatible."""
    changes: list[Change] = []
    add = changes.append
    if old["contract"]["name"] != new["contract"]["name"]:
        add(
            _change(
                ChangeKind.CONTRACT_RENAMED,
                "contract.name",
                True,
                "consumers look up the contract by name",
                old["contract"]["name"],
                new["contract"]["name"],
            )
        )
    if old.get("dataset_uri") != new.get("dataset_uri"):
        add(
            _change(
                ChangeKind.URI_CHANGED,
                "dataset_uri",
                True,
                "consumers read the old URI",
                old.get("dataset_uri"),
                new.get("dataset_uri"),
            )
        )
    if old.get("description") != new.get("description"):
        add(
            _change(
                ChangeKind.DESCRIPTION_CHANGED,
                "description",
                False,
                "documentation only",
                old.get("description"),
                new.get("description"),
            )
        )
    changes.extend(_diff_options(old.get("options", {}), new.get("options", {})))
    changes.extend(_diff_columns(old["columns"], new["columns"]))
    changes.extend(_diff_checks("(frame)", old.get("dataframe_checks", {}), new.get("dataframe_checks", {})))
    return ContractDiff(old["contract"]["version"], new["contract"]["version"], tuple(changes))


def _change(
    kind: ChangeKind, subject: str, breaking: bool, reason: str, old: Any = None, new: Any = None
) -> Change:
    return Change(kind=kind, subject=subject, breaking=breaking, reason=reason, old=old, new=new)


def _diff_options(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    changes = []
    for option in sorted(set(old) | set(new)):
        before, after = bool(old.get(option, False)), bool(new.get(option, False))
        if before == after:
            continue
        if option == "coerce":  # either way, the dtypes consumers receive may change
            changes.append(
                _change(
                    ChangeKind.OPTION_TIGHTENED,
                    f"options.{option}",
                    True,
                    "coercion changes which frames pass and what dtypes they have",
                    before,
                    after,
                )
            )
        elif after:
            changes.append(
                _change(
                    ChangeKind.OPTION_TIGHTENED,
                    f"options.{option}",
                    True,
                    f"{option} now rejects frames the old version accepted",
                    before,
                    after,
                )
            )
        else:
            changes.append(
                _change(
                    ChangeKind.OPTION_RELAXED,
                    f"options.{option}",
                    False,
                    f"{option} dropped: every frame valid before stays valid",
                    before,
                    after,
                )
            )
    return changes


def _column_shape(spec: dict[str, Any]) -> dict[str, Any]:
    """A column's spec without its descriptions (what a rename keeps)."""
    return {
        key: value if key != "checks" else {name: c.get("statistics") for name, c in value.items()}
        for key, value in spec.items()
        if key != "description"
    }


def _diff_columns(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    changes = []
    removed = [name for name in old if name not in new]
    added = [name for name in new if name not in old]
    for name in list(removed):
        twin = next((a for a in added if _column_shape(new[a]) == _column_shape(old[name])), None)
        if twin is not None:
            removed.remove(name)
            added.remove(twin)
            changes.append(
                _change(
                    ChangeKind.COLUMN_RENAMED,
                    name,
                    True,
                    f"renamed to {twin}: consumers selecting {name} break",
                    name,
                    twin,
                )
            )
    for name in removed:
        changes.append(_change(ChangeKind.COLUMN_REMOVED, name, True, "consumers reading it break"))
    for name in added:
        if new[name].get("nullable", False) or not new[name].get("required", True):
            changes.append(
                _change(
                    ChangeKind.COLUMN_ADDED_NULLABLE,
                    name,
                    False,
                    "nullable: producers may leave it empty, old consumers ignore it",
                )
            )
        else:
            changes.append(
                _change(
                    ChangeKind.COLUMN_ADDED_REQUIRED,
                    name,
                    True,
                    "non-nullable: every existing producer's data now fails",
                )
            )
    for name in (n for n in old if n in new):
        before, after = old[name], new[name]
        if before.get("dtype") != after.get("dtype"):
            changes.append(
                _change(
                    ChangeKind.DTYPE_CHANGED,
                    name,
                    True,
                    "readers and writers disagree on the type",
                    before.get("dtype"),
                    after.get("dtype"),
                )
            )
        if before.get("nullable") and not after.get("nullable"):
            changes.append(
                _change(
                    ChangeKind.NULLABILITY_TIGHTENED,
                    name,
                    True,
                    "nulls that were allowed are now rejected",
                    True,
                    False,
                )
            )
        elif not before.get("nullable") and after.get("nullable"):
            changes.append(
                _change(
                    ChangeKind.NULLABILITY_RELAXED,
                    name,
                    False,
                    "every frame valid before stays valid",
                    False,
                    True,
                )
            )
        for option in ("required", "unique"):
            # required: True is stricter; unique: True is stricter
            b, a = (
                bool(before.get(option, option == "required")),
                bool(after.get(option, option == "required")),
            )
            if b != a:
                kind = ChangeKind.OPTION_TIGHTENED if a else ChangeKind.OPTION_RELAXED
                changes.append(_change(kind, f"{name}.{option}", a, f"{option} {b} -> {a}", b, a))
        if before.get("description") != after.get("description"):
            changes.append(
                _change(
                    ChangeKind.DESCRIPTION_CHANGED,
                    name,
                    False,
                    "documentation only",
                    before.get("description"),
                    after.get("description"),
                )
            )
        changes.extend(_diff_column_bounds(name, before, after))
        changes.extend(
            _diff_checks(
                name,
                {k: v for k, v in before.get("checks", {}).items() if k not in _BOUND_CHECK_NAMES},
                {k: v for k, v in after.get("checks", {}).items() if k not in _BOUND_CHECK_NAMES},
            )
        )
    return changes


def _bounds_of(spec: dict[str, Any]) -> Bounds:
    """The interval a described column allows (read the same way as the live model's)."""
    return bounds_from_checks((name, c.get("statistics") or {}) for name, c in spec.get("checks", {}).items())


def _bound_text(bounds: Bounds) -> str:
    low = "(-inf" if bounds.low == -math.inf else f"{'[' if bounds.low_inclusive else '('}{bounds.low:g}"
    high = "inf)" if bounds.high == math.inf else f"{bounds.high:g}{']' if bounds.high_inclusive else ')'}"
    return f"{low}, {high}"


def _diff_column_bounds(name: str, before: dict[str, Any], after: dict[str, Any]) -> list[Change]:
    old_b, new_b = _bounds_of(before), _bounds_of(after)
    changes = []
    low_tighter = new_b.low > old_b.low or (
        new_b.low == old_b.low and old_b.low_inclusive and not new_b.low_inclusive
    )
    low_looser = new_b.low < old_b.low or (
        new_b.low == old_b.low and new_b.low_inclusive and not old_b.low_inclusive
    )
    high_tighter = new_b.high < old_b.high or (
        new_b.high == old_b.high and old_b.high_inclusive and not new_b.high_inclusive
    )
    high_looser = new_b.high > old_b.high or (
        new_b.high == old_b.high and new_b.high_inclusive and not old_b.high_inclusive
    )
    old_text, new_text = _bound_text(old_b), _bound_text(new_b)
    for side, tighter, looser in (("lower", low_tighter, low_looser), ("upper", high_tighter, high_looser)):
        if tighter:
            changes.append(
                _change(
                    ChangeKind.CHECK_TIGHTENED,
                    f"{name}/{side}_bound",
                    True,
                    f"range {old_text} -> {new_text}: values valid before are now rejected",
                    old_text,
                    new_text,
                )
            )
        elif looser:
            changes.append(
                _change(
                    ChangeKind.CHECK_RELAXED,
                    f"{name}/{side}_bound",
                    False,
                    f"range {old_text} -> {new_text}: every value valid before stays valid",
                    old_text,
                    new_text,
                )
            )
    return changes


def _diff_checks(owner: str, old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    changes = []
    for name in old.keys() - new.keys():
        changes.append(
            _change(
                ChangeKind.CHECK_REMOVED,
                f"{owner}/{name}",
                False,
                "a rule less: every frame valid before stays valid",
            )
        )
    for name in new.keys() - old.keys():
        changes.append(
            _change(
                ChangeKind.CHECK_ADDED,
                f"{owner}/{name}",
                True,
                "a new rule: frames valid before may now be rejected",
            )
        )
    for name in sorted(old.keys() & new.keys()):
        before, after = old[name].get("statistics") or {}, new[name].get("statistics") or {}
        if before != after:
            changes.append(_diff_statistics(f"{owner}/{name}", before, after))
        if old[name].get("description") != new[name].get("description"):
            changes.append(
                _change(
                    ChangeKind.DESCRIPTION_CHANGED,
                    f"{owner}/{name}",
                    False,
                    "documentation only",
                    old[name].get("description"),
                    new[name].get("description"),
                )
            )
    return sorted(changes, key=lambda c: c.subject)


def _diff_statistics(subject: str, before: dict[str, Any], after: dict[str, Any]) -> Change:
    if before.keys() == after.keys() and all(
        key in _LOWER_LIMIT_STATISTICS or before[key] == after[key] for key in before
    ):
        if all(after[key] >= before[key] for key in before):
            return _change(
                ChangeKind.CHECK_TIGHTENED,
                subject,
                True,
                "a higher minimum: frames valid before may now be rejected",
                before,
                after,
            )
        if all(after[key] <= before[key] for key in before):
            return _change(
                ChangeKind.CHECK_RELAXED,
                subject,
                False,
                "a lower minimum: every frame valid before stays valid",
                before,
                after,
            )
    return _change(
        ChangeKind.CHECK_CHANGED,
        subject,
        True,
        "the rule's parameters changed and cannot be shown to be a relaxation",
        before,
        after,
    )


def version_bump_problems(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Why ``new`` does not carry the version bump its changes from ``old`` require (empty if it does)."""
    result = diff(old, new)
    old_v, new_v = parse_version(result.old_version), parse_version(result.new_version)
    listed = "; ".join(f"{c.kind} {c.subject}" for c in result.changes)
    if result.required_bump == "major" and new_v[0] <= old_v[0]:
        return [
            f"breaking changes from {result.old_version} need a new major version (and URI), "
            f"got {result.new_version}: {listed}"
        ]
    if result.required_bump == "minor" and new_v[:2] <= old_v[:2]:
        return [
            f"compatible changes from {result.old_version} need a new minor version, "
            f"got {result.new_version}: {listed}"
        ]
    if new_v < old_v:
        return [f"version went backwards: {result.old_version} -> {result.new_version}"]
    return []


# ------------------------------------------------------------------------------------------ JSON Schema


def row_json_schema() -> dict[str, Any]:
    """JSON Schema (2020-12) of one row of the dataset (frame-level checks cannot be expressed per row)."""
    schema = contract_schema()
    bounds = column_bounds()
    properties = {}
    for name, column in schema.columns.items():
        prop: dict[str, Any] = {"type": "number", "description": column.description}
        b = bounds[name]
        if b.low != -math.inf:
            prop["minimum" if b.low_inclusive else "exclusiveMinimum"] = b.low
        if b.high != math.inf:
            prop["maximum" if b.high_inclusive else "exclusiveMaximum"] = b.high
        if column.nullable:
            prop["type"] = ["number", "null"]
        properties[name] = prop
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{DATASET_URI}/row.schema.json",
        "title": f"{CONTRACT_NAME} {CONTRACT_VERSION} row",
        "description": schema.description,
        "type": "object",
        "properties": properties,
        "required": [name for name, column in schema.columns.items() if column.required],
        "additionalProperties": not schema.strict,
    }
