"""What validation found, as data: a :class:`ValidationReport` of :class:`CheckFailure` entries."""

from __future__ import annotations

import json
from collections.abc import Hashable
from dataclasses import asdict, dataclass, field
from typing import Any

from housing_contracts.contract.tables import format_table


@dataclass(frozen=True)
class CheckFailure:
    """One check of the contract that some of the data fails."""

    column: str | None = field(metadata={"description": "the column checked; None for a frame-level check"})
    check: str = field(
        metadata={"description": "the check's name, e.g. greater_than(0), finite, not_nullable"}
    )
    expected: str = field(metadata={"description": "what the check requires, in words"})
    failure_count: int = field(metadata={"description": "how many rows (or items) fail it"})
    failure_cases: tuple[Any, ...] = field(
        default=(), metadata={"description": "up to 5 failing values, as found in the data"}
    )
    index: tuple[Hashable, ...] = field(
        default=(), metadata={"description": "index labels of every failing row (empty for structure checks)"}
    )

    @property
    def label(self) -> str:
        """``column/check``, or just the check for frame-level checks."""
        return f"{self.column}/{self.check}" if self.column is not None else self.check


@dataclass(frozen=True)
class ValidationReport:
    """The outcome of validating one frame against one contract version."""

    contract: str = field(metadata={"description": "contract name"})
    version: str = field(metadata={"description": "contract version the frame was checked against"})
    row_count: int = field(metadata={"description": "rows in the validated frame"})
    failures: tuple[CheckFailure, ...] = field(
        default=(), metadata={"description": "every failing check; empty when the frame conforms"}
    )

    @property
    def ok(self) -> bool:
        """True when no check failed."""
        return not self.failures

    @property
    def failing_index(self) -> list[Hashable]:
        """Index labels of every row that fails at least one check (what the producer quarantines)."""
        labels = dict.fromkeys(label for failure in self.failures for label in failure.index)
        try:
            return sorted(labels)
        except TypeError:  # mixed label types: keep the order they were found in
            return list(labels)

    def summary(self) -> str:
        """One line: which checks failed, with counts."""
        if self.ok:
            return f"{self.row_count} rows conform to {self.contract} {self.version}"
        failed = ", ".join(f"{f.label} ({f.failure_count})" for f in self.failures)
        return (
            f"{self.row_count} rows break {self.contract} {self.version}: "
            f"{len(self.failures)} failing check(s): {failed}"
        )

    def to_text(self) -> str:
        """The summary plus a table of every failing check with sample failure cases."""
        if self.ok:
            return self.summary()
        rows = [
            (
                f.column if f.column is not None else "(frame)",
                f.check,
                f.expected,
                f.failure_count,
                ", ".join(map(str, f.failure_cases)),
            )
            for f in self.failures
        ]
        table = format_table(("column", "check", "expected", "failures", "examples"), rows)
        return f"{self.summary()}\n{table}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (tuples become lists)."""
        return json.loads(self.to_json())

    def to_json(self, **kwargs: Any) -> str:
        """The report as JSON (``kwargs`` go to :func:`json.dumps`)."""
        return json.dumps(asdict(self), **kwargs)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ValidationReport:
        """Inverse of :meth:`to_dict`."""
        failures = tuple(
            CheckFailure(
                **f | {"failure_cases": tuple(f.get("failure_cases", ())), "index": tuple(f.get("index", ()))}
            )
            for f in data.get("failures", ())
        )
        return cls(data["contract"], data["version"], data["row_count"], failures)
