"""Extract: read one raw California-housing frame from a run's ``source``.

``source`` is either ``"sklearn"`` (scikit-learn's ``fetch_california_housing``) or the location of a
CSV or Parquet file (``file://``, ``s3://`` or a plain path) whose columns are the raw frame's names, the
nine contract columns. Anything else fails with a :class:`SourceError` that says what was expected and
what was found; nothing is repaired here (that is cleaning's job, with its own rules and counts).
"""

from __future__ import annotations

import os
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from housing_contracts import COLUMNS

if TYPE_CHECKING:
    import pandas as pd

SKLEARN_SOURCE = "sklearn"
#: scikit-learn's data-home variable. When it is set, the deployment has provisioned the dataset there
#: and a miss is an error; only without it may scikit-learn download (an offline worker would hang).
SKLEARN_DATA_ENV = "SCIKIT_LEARN_DATA"

_FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
_SCHEMES = ("", "file", "s3")


class SourceError(Exception):
    """The run's source is missing, unreadable, empty or not a raw California-housing frame."""


def source_format(source: str) -> str:
    """``"csv"`` or ``"parquet"``, from the suffix of ``source``; raise :class:`SourceError` otherwise."""
    parts = urlsplit(source)
    if parts.scheme not in _SCHEMES:
        raise SourceError(
            f"source {source!r} has scheme {parts.scheme!r}: expected 'sklearn', a file:// or s3:// URI, "
            "or a plain path"
        )
    suffix = PurePosixPath(parts.path).suffix.lower()
    if suffix not in _FORMATS:
        raise SourceError(
            f"source {source!r} has suffix {suffix!r}: expected one of {sorted(_FORMATS)} (CSV or Parquet)"
        )
    return _FORMATS[suffix]


def extract(source: str, *, storage_options: dict[str, Any] | None = None) -> pd.DataFrame:
    """The raw frame named by ``source``, columns in contract order; ``storage_options`` apply to s3://."""
    frame = _fetch_sklearn() if source == SKLEARN_SOURCE else _read_file(source, storage_options)
    check_raw_frame(frame, source)
    return frame.loc[:, list(COLUMNS)]


def check_raw_frame(frame: pd.DataFrame, source: str) -> None:
    """Raise :class:`SourceError` unless ``frame`` has rows and exactly the contract's numeric columns."""
    import pandas as pd

    found = [str(c) for c in frame.columns]
    missing = [c for c in COLUMNS if c not in found]
    unexpected = [c for c in found if c not in COLUMNS]
    if missing or unexpected:
        raise SourceError(
            f"source {source!r} has the wrong columns: expected {list(COLUMNS)}, found {found} "
            f"(missing {missing}, unexpected {unexpected})"
        )
    if len(frame) == 0:
        raise SourceError(f"source {source!r} has a header but no rows: expected at least one data row")
    wrong = {
        c: str(frame[c].dtype)
        for c in COLUMNS
        if not pd.api.types.is_numeric_dtype(frame[c]) or pd.api.types.is_bool_dtype(frame[c])
    }
    if wrong:
        raise SourceError(
            f"source {source!r} has non-numeric columns: expected int or float values in every column, "
            f"found dtypes {wrong}"
        )


def _fetch_sklearn() -> pd.DataFrame:
    from sklearn.datasets import fetch_california_housing

    download = SKLEARN_DATA_ENV not in os.environ
    try:
        bunch = fetch_california_housing(as_frame=True, download_if_missing=download)
    except OSError as err:
        where = os.environ.get(SKLEARN_DATA_ENV, "scikit-learn's default data home")
        raise SourceError(
            f"source 'sklearn' is not available in {where}: expected the cached California housing "
            f"dataset there ({err})"
        ) from err
    return bunch.frame


def _read_file(source: str, storage_options: dict[str, Any] | None) -> pd.DataFrame:
    import pandas as pd
    import pyarrow as pa

    fmt = source_format(source)
    remote = urlsplit(source).scheme == "s3"
    options = storage_options if remote else None
    try:
        if fmt == "csv":
            return pd.read_csv(source, storage_options=options)
        from include.housing_data.staging import load  # Arrow's buffers freed as pandas takes them

        return load(source, storage_options=options)
    except FileNotFoundError as err:
        raise SourceError(f"source {source!r} does not exist: expected a {fmt.upper()} file there") from err
    except (PermissionError, IsADirectoryError) as err:
        raise SourceError(f"source {source!r} is not a readable file: {err}") from err
    except pd.errors.EmptyDataError as err:
        raise SourceError(
            f"source {source!r} is empty: expected a header row with {list(COLUMNS)} and data rows"
        ) from err
    except (pd.errors.ParserError, UnicodeDecodeError, pa.ArrowException) as err:
        raise SourceError(f"source {source!r} is not a valid {fmt.upper()} file: {err}") from err
