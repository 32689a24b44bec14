"""Compatibility of two contract descriptions: :func:`diff` and the version bump each change needs.

Breaking (a new major version and URI): data valid under the old version may be rejected, or consumers
must look elsewhere. Compatible (a new minor version): everything else.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from housing_contracts.contract.description import described_bounds, parse_version
from housing_contracts.contract.model import BOUND_CHECKS

#: Frame-check statistics where a larger value is stricter (everything else: any change is breaking).
_LOWER_LIMIT_STATISTICS = {"min_rows"}


_STAYS_VALID = "every frame valid before stays valid"
_MAY_FAIL = "frames valid before may now be rejected"
#: The bump policy: every kind of change :func:`diff` recognises, whether it is breaking, and why.
POLICY: dict[str, tuple[bool, str]] = {
    "contract_renamed": (True, "consumers look up the contract by name"),
    "uri_changed": (True, "consumers read the old URI"),
    "column_removed": (True, "consumers reading it break"),
    "column_renamed": (True, "consumers selecting the old name break"),
    "column_added_nullable": (False, "nullable: producers may leave it empty, old consumers ignore it"),
    "column_added_required": (True, "non-nullable: every existing producer's data now fails"),
    "dtype_changed": (True, "readers and writers disagree on the type"),
    "nullability_tightened": (True, "nulls that were allowed are now rejected"),
    "nullability_relaxed": (False, _STAYS_VALID),
    "check_added": (True, f"a new rule: {_MAY_FAIL}"),
    "check_removed": (False, f"a rule less: {_STAYS_VALID}"),
    "check_tightened": (True, _MAY_FAIL),
    "check_relaxed": (False, _STAYS_VALID),
    "check_changed": (True, "the rule's parameters changed and cannot be shown to be a relaxation"),
    "option_tightened": (True, _MAY_FAIL),
    "option_relaxed": (False, _STAYS_VALID),
    "description_changed": (False, "documentation only"),
    "freshness_promise_added": (False, "a new promise: consumers may rely on it, none relied on its absence"),
    "freshness_promise_removed": (True, "consumers relying on a regular new snapshot lose the promise"),
    "freshness_promise_lengthened": (True, "snapshots may now come less often than consumers rely on"),
    "freshness_promise_shortened": (False, "snapshots come at least as often as promised before"),
}
#: The kinds of :data:`POLICY` as an enum (``ChangeKind.COLUMN_REMOVED == "column_removed"``).
ChangeKind = StrEnum("ChangeKind", {kind.upper(): kind for kind in POLICY})
K = ChangeKind


@dataclass(frozen=True)
class Change:
    """One difference between two contract descriptions."""

    kind: ChangeKind = field(metadata={"description": "what changed"})
    subject: str = field(metadata={"description": "where: a column, column/check, or a contract field"})
    breaking: bool = field(metadata={"description": "True if data or consumers of the old version may break"})
    reason: str = field(metadata={"description": "why it is classified so, in words"})
    old: Any = None
    new: Any = None


def _change(kind: ChangeKind, subject: str, old: Any = None, new: Any = None) -> Change:
    breaking, reason = POLICY[kind]
    return Change(kind, subject, breaking, reason, old, new)


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
    changes = [
        *_differs(K.CONTRACT_RENAMED, "contract.name", old["contract"]["name"], new["contract"]["name"]),
        *_differs(K.URI_CHANGED, "dataset_uri", old.get("dataset_uri"), new.get("dataset_uri")),
        *_differs(K.DESCRIPTION_CHANGED, "description", old.get("description"), new.get("description")),
        *_diff_options(old.get("options", {}), new.get("options", {})),
        *_diff_columns(old["columns"], new["columns"]),
        *_diff_checks("(frame)", old.get("dataframe_checks", {}), new.get("dataframe_checks", {})),
        *_diff_freshness(old.get("freshness"), new.get("freshness")),
    ]
    return ContractDiff(old["contract"]["version"], new["contract"]["version"], tuple(changes))


def _differs(kind: ChangeKind, subject: str, old: Any, new: Any) -> list[Change]:
    return [_change(kind, subject, old, new)] if old != new else []


def _diff_options(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    changes = []
    for option in sorted(set(old) | set(new)):
        before, after = bool(old.get(option, False)), bool(new.get(option, False))
        if before != after:
            # coercion either way changes which frames pass and what dtypes consumers receive
            kind = K.OPTION_TIGHTENED if after or option == "coerce" else K.OPTION_RELAXED
            changes.append(_change(kind, f"options.{option}", before, after))
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
            changes.append(_change(K.COLUMN_RENAMED, name, name, twin))
    changes += [_change(K.COLUMN_REMOVED, name) for name in removed]
    for name in added:
        optional = new[name].get("nullable", False) or not new[name].get("required", True)
        changes.append(_change(K.COLUMN_ADDED_NULLABLE if optional else K.COLUMN_ADDED_REQUIRED, name))
    for name in (n for n in old if n in new):
        before, after = old[name], new[name]
        changes += _differs(K.DTYPE_CHANGED, name, before.get("dtype"), after.get("dtype"))
        nullable = bool(before.get("nullable")), bool(after.get("nullable"))
        if nullable[0] != nullable[1]:
            kind = K.NULLABILITY_RELAXED if nullable[1] else K.NULLABILITY_TIGHTENED
            changes.append(_change(kind, name, *nullable))
        for option, default in (("required", True), ("unique", False)):  # True is stricter for both
            b, a = bool(before.get(option, default)), bool(after.get(option, default))
            if b != a:
                changes.append(
                    _change(K.OPTION_TIGHTENED if a else K.OPTION_RELAXED, f"{name}.{option}", b, a)
                )
        changes += _differs(K.DESCRIPTION_CHANGED, name, before.get("description"), after.get("description"))
        changes += _diff_bounds(name, before, after)
        custom = [
            {k: v for k, v in d.get("checks", {}).items() if k not in BOUND_CHECKS} for d in (before, after)
        ]
        changes += _diff_checks(name, *custom)
    return changes


def _diff_bounds(name: str, before: dict[str, Any], after: dict[str, Any]) -> list[Change]:
    old, new = described_bounds(before), described_bounds(after)
    changes = []
    for side, tighter, looser in (
        ("lower", new.lower > old.lower, new.lower < old.lower),
        ("upper", new.upper < old.upper, new.upper > old.upper),
    ):
        if tighter or looser:
            kind = K.CHECK_TIGHTENED if tighter else K.CHECK_RELAXED
            changes.append(_change(kind, f"{name}/{side}_bound", str(old), str(new)))
    return changes


def _diff_checks(owner: str, old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    changes = [_change(K.CHECK_REMOVED, f"{owner}/{name}") for name in old.keys() - new.keys()]
    changes += [_change(K.CHECK_ADDED, f"{owner}/{name}") for name in new.keys() - old.keys()]
    for name in sorted(old.keys() & new.keys()):
        subject = f"{owner}/{name}"
        before, after = old[name].get("statistics") or {}, new[name].get("statistics") or {}
        if before != after:
            changes.append(_change(_statistics_change(before, after), subject, before, after))
        changes += _differs(
            K.DESCRIPTION_CHANGED, subject, old[name].get("description"), new[name].get("description")
        )
    return sorted(changes, key=lambda c: c.subject)


def _statistics_change(before: dict[str, Any], after: dict[str, Any]) -> ChangeKind:
    if before.keys() == after.keys() and all(
        key in _LOWER_LIMIT_STATISTICS or before[key] == after[key] for key in before
    ):
        if all(after[key] >= before[key] for key in before):
            return K.CHECK_TIGHTENED  # a higher minimum
        if all(after[key] <= before[key] for key in before):
            return K.CHECK_RELAXED
    return K.CHECK_CHANGED


def _diff_freshness(old: dict[str, Any] | None, new: dict[str, Any] | None) -> list[Change]:
    """The producer's promise of a new snapshot at least every N hours: a longer N breaks consumers."""
    key = "max_snapshot_interval_hours"
    if old is None or new is None:
        if old is new:
            return []
        kind = K.FRESHNESS_PROMISE_ADDED if old is None else K.FRESHNESS_PROMISE_REMOVED
        return [_change(kind, "freshness", (old or {}).get(key), (new or {}).get(key))]
    changes = []
    before, after = float(old[key]), float(new[key])
    if before != after:
        kind = K.FRESHNESS_PROMISE_LENGTHENED if after > before else K.FRESHNESS_PROMISE_SHORTENED
        changes.append(_change(kind, f"freshness.{key}", old[key], new[key]))
    changes += _differs(
        K.DESCRIPTION_CHANGED, "freshness.description", old.get("description"), new.get("description")
    )
    return changes


def version_bump_problems(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Why ``new`` does not carry the version bump its changes from ``old`` require (empty if it does)."""
    result = diff(old, new)
    before, after = result.old_version, result.new_version
    old_v, new_v = parse_version(before), parse_version(after)
    listed = "; ".join(f"{c.kind} {c.subject}" for c in result.changes)
    if result.required_bump == "major" and new_v[0] <= old_v[0]:
        return [f"breaking changes from {before} need a new major version (and URI), got {after}: {listed}"]
    if result.required_bump == "minor" and new_v[:2] <= old_v[:2]:
        return [f"compatible changes from {before} need a new minor version, got {after}: {listed}"]
    if new_v < old_v:
        return [f"version went backwards: {before} -> {after}"]
    return []
