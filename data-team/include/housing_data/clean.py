"""Clean: the documented rules that turn a raw frame into one the contract's plausibility caps accept.

Rules run in this order; each removes rows and counts them under its name (the counts go to the task
log and to the manifest's ``extras["cleaning"]``):

| rule | removes | why |
|---|---|---|
| ``duplicates`` | exact duplicate rows (the first copy stays) | a block group is one observation |
| ``missing_or_non_finite`` | rows with a missing, NaN or ±inf value | the contract requires finite values |
| ``AveRooms_cap`` | rows above the contract's ``AveRooms`` cap | implausible averages (resorts, ...) |
| ``AveBedrms_cap`` | rows above the contract's ``AveBedrms`` cap | same |
| ``AveOccup_cap`` | rows above the contract's ``AveOccup`` cap | same (dormitories, prisons) |
| ``Population_cap`` | rows above the contract's ``Population`` cap | same |
| ``bedrooms_exceed_rooms`` | rows with ``AveBedrms > AveRooms`` | a bedroom is a room |

Before the rules every column is cast to float64 (the contract's dtype); extract has already checked
that each column is numeric. The cap values are read from the contract model (``CaliforniaHousing``),
so cleaning and contract cannot drift apart. Cleaning never touches values the contract rejects for
other reasons (coordinates outside California, non-positive income or value, ...): those rows fail
validation and are quarantined, because they mean the source is wrong, not merely noisy.

If the rules remove more than ``max_drop_share`` of the rows, :func:`clean` raises
:class:`CleaningIncident`: a source that bad needs a person, not a cleaning job.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from housing_contracts import COLUMNS, V1
from include.housing_data.settings import DEFAULT_MAX_DROP_SHARE

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

#: Columns whose contract upper bound is a plausibility cap that cleaning enforces (by dropping rows).
CAPPED_COLUMNS: tuple[str, ...] = ("AveRooms", "AveBedrms", "AveOccup", "Population")

#: A rule flags the rows it removes: a boolean array, True for each such row.
Rule = Callable[["pd.DataFrame"], "np.ndarray"]


@dataclass(frozen=True)
class CleaningReport:
    """What cleaning did to one frame."""

    rows_in: int
    """Rows before cleaning."""
    rows_out: int
    """Rows after cleaning."""
    removed: dict[str, int] = field(default_factory=dict)
    """Rows removed by each rule, in the order the rules ran."""

    @property
    def rows_removed(self) -> int:
        """Rows removed by all rules together."""
        return self.rows_in - self.rows_out

    @property
    def removed_share(self) -> float:
        """Share of the input rows that cleaning removed (0.0 for an empty input)."""
        return self.rows_removed / self.rows_in if self.rows_in else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, as stored in the manifest's ``extras["cleaning"]``."""
        return {**asdict(self), "rows_removed": self.rows_removed, "removed_share": self.removed_share}


class CleaningIncident(Exception):
    """Cleaning would remove more rows than the run allows; ``report`` says which rules did."""

    def __init__(self, report: CleaningReport, max_drop_share: float) -> None:
        self.report = report
        self.max_drop_share = max_drop_share
        super().__init__(
            f"cleaning would remove {report.rows_removed} of {report.rows_in} rows "
            f"({report.removed_share:.2%}), expected at most {max_drop_share:.2%}; "
            f"removed per rule: {report.removed}"
        )


def contract_cap(column: str) -> tuple[float, bool]:
    """The contract's upper bound on ``column``: ``(value, inclusive)``, read from ``CaliforniaHousing``."""
    import math

    from housing_contracts.contract.model import column_bounds

    bounds = column_bounds(contract=V1)
    if column not in bounds:
        raise KeyError(f"column {column!r} is not in the contract: expected one of {list(COLUMNS)}")
    if math.isinf(bounds[column].high):
        raise LookupError(
            f"contract column {column!r} has no upper bound: expected one (le, lt or in_range), "
            "because cleaning enforces it as a plausibility cap"
        )
    return bounds[column].high, bounds[column].high_inclusive


def enforce_float64(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every column cast to float64, the contract's dtype (float64 columns are not
    copied)."""
    return frame.astype("float64")


def duplicate_rows(frame: pd.DataFrame) -> np.ndarray:
    """True for each row that repeats an earlier row exactly (equal as ``DataFrame.duplicated`` sees it).

    ``DataFrame.duplicated`` factorises every column at once, a frame's worth of int64 codes. Here one
    64-bit hash per row is built column by column; only the rows whose hash another row shares are
    compared exactly, so a hash collision never drops a row.
    """
    import numpy as np
    import pandas as pd

    hashes = np.zeros(len(frame), dtype="uint64")
    for column in frame.columns:
        values = frame[column].to_numpy()
        if values.dtype.kind == "f":
            # equal values hash equally: -0.0 as 0.0, every NaN as the one NaN
            values = np.where(np.isnan(values), np.nan, values + 0.0)
        hashes *= np.uint64(0x100000001B3)
        hashes ^= pd.util.hash_array(values, categorize=False)
        del values
    shared = pd.Series(hashes, copy=False).duplicated(keep=False).to_numpy()
    del hashes
    duplicates = np.zeros(len(frame), dtype=bool)
    if shared.any():
        duplicates[shared] = frame.loc[shared].duplicated(keep="first").to_numpy()
    return duplicates


def missing_or_non_finite_rows(frame: pd.DataFrame) -> np.ndarray:
    """True for each row holding a missing, NaN or infinite value (checked column by column, so no
    copy of the frame as one matrix)."""
    import numpy as np

    bad = np.zeros(len(frame), dtype=bool)
    for column in frame.columns:
        bad |= ~np.isfinite(frame[column].to_numpy(dtype="float64"))
    return bad


def above_cap(column: str) -> Rule:
    """A rule that flags the rows whose ``column`` exceeds the contract's cap on it."""

    def rule(frame: pd.DataFrame) -> np.ndarray:
        cap, inclusive = contract_cap(column)
        values = frame[column].to_numpy()
        return values > cap if inclusive else values >= cap

    rule.__name__ = f"above_{column}_cap"
    return rule


def bedrooms_exceeding_rooms(frame: pd.DataFrame) -> np.ndarray:
    """True for each row that averages more bedrooms than rooms."""
    return (frame["AveBedrms"] > frame["AveRooms"]).to_numpy()


def drop_duplicates(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` without exact duplicate rows; the first copy stays."""
    return frame.loc[~duplicate_rows(frame)]


def drop_missing_or_non_finite(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` without rows holding a missing, NaN or infinite value."""
    return frame.loc[~missing_or_non_finite_rows(frame)]


def drop_above_cap(column: str) -> Callable[[pd.DataFrame], pd.DataFrame]:
    """A function that drops the rows whose ``column`` exceeds the contract's cap on it."""
    rule = above_cap(column)

    def drop(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.loc[~rule(frame)]

    drop.__name__ = f"drop_above_{column}_cap"
    return drop


def drop_bedrooms_exceeding_rooms(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` without rows that average more bedrooms than rooms."""
    return frame.loc[~bedrooms_exceeding_rooms(frame)]


def cleaning_rules() -> dict[str, Rule]:
    """The rules by name, in the order :func:`clean` applies them; each flags the rows it removes."""
    return {
        "duplicates": duplicate_rows,
        "missing_or_non_finite": missing_or_non_finite_rows,
        **{f"{column}_cap": above_cap(column) for column in CAPPED_COLUMNS},
        "bedrooms_exceed_rooms": bedrooms_exceeding_rooms,
    }


def rows_to_keep(
    frame: pd.DataFrame, *, max_drop_share: float = DEFAULT_MAX_DROP_SHARE
) -> tuple[np.ndarray, CleaningReport]:
    """The rows of the float64 ``frame`` that every rule keeps (a boolean array) and what each rule
    removed, without copying the frame: each rule flags rows of the whole frame and is charged only
    with those no earlier rule removed, which counts exactly as filtering rule after rule would.

    Raises :class:`CleaningIncident` if more than ``max_drop_share`` of the rows would go.
    """
    import numpy as np

    if not 0.0 <= max_drop_share <= 1.0:
        raise ValueError(f"max_drop_share is {max_drop_share!r}: expected a share between 0.0 and 1.0")
    keep = np.ones(len(frame), dtype=bool)
    removed: dict[str, int] = {}
    for name, rule in cleaning_rules().items():
        dropped = rule(frame) & keep
        removed[name] = int(dropped.sum())
        keep &= ~dropped
    report = CleaningReport(rows_in=len(frame), rows_out=int(keep.sum()), removed=removed)
    if report.removed_share > max_drop_share:
        raise CleaningIncident(report, max_drop_share)
    return keep, report


def clean(
    frame: pd.DataFrame, *, max_drop_share: float = DEFAULT_MAX_DROP_SHARE
) -> tuple[pd.DataFrame, CleaningReport]:
    """Apply every rule to ``frame``; return the cleaned frame (fresh index) and what each rule removed.

    Raises :class:`CleaningIncident` if more than ``max_drop_share`` of the rows would go.
    """
    current = enforce_float64(frame)
    keep, report = rows_to_keep(current, max_drop_share=max_drop_share)
    return current.loc[keep].reset_index(drop=True), report
