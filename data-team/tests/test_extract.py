"""Extract: reading a raw frame from a source, and every way a source can be wrong."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from housing_contracts import COLUMNS
from include.housing_data.extract import SourceError, extract, source_format


@pytest.fixture
def raw_frame(california_housing_frame: pd.DataFrame) -> pd.DataFrame:
    """The first 200 rows of the real dataset, as a source file would hold them."""
    return california_housing_frame.head(200).reset_index(drop=True)


def test_sklearn_source_is_the_real_dataset() -> None:
    """Source 'sklearn' returns scikit-learn's 20,640 block groups in contract column order."""
    frame = extract("sklearn")
    assert frame.shape == (20_640, 9)
    assert list(frame.columns) == list(COLUMNS)


def test_csv_file_round_trips(tmp_path: Path, raw_frame: pd.DataFrame) -> None:
    """A CSV file with the contract's columns is read back with the same values."""
    path = tmp_path / "raw.csv"
    raw_frame.to_csv(path, index=False)
    pd.testing.assert_frame_equal(extract(str(path)), raw_frame)


def test_parquet_file_uri_round_trips(tmp_path: Path, raw_frame: pd.DataFrame) -> None:
    """A file:// URI of a Parquet file is read back with the same values."""
    path = tmp_path / "raw.parquet"
    raw_frame.to_parquet(path, index=False)
    pd.testing.assert_frame_equal(extract(path.as_uri()), raw_frame)


def test_columns_come_back_in_contract_order(tmp_path: Path, raw_frame: pd.DataFrame) -> None:
    """Columns in another order are accepted and reordered to the contract's order."""
    path = tmp_path / "shuffled.parquet"
    raw_frame[list(reversed(COLUMNS))].to_parquet(path, index=False)
    assert list(extract(str(path)).columns) == list(COLUMNS)


def test_s3_source_is_read_with_storage_options(s3_server, lake_uri: str, raw_frame: pd.DataFrame) -> None:
    """An s3:// CSV is read through the given storage options."""
    uri = f"{lake_uri}/incoming/raw.csv"
    raw_frame.to_csv(uri, index=False, storage_options=s3_server.storage_options)
    frame = extract(uri, storage_options=s3_server.storage_options)
    pd.testing.assert_frame_equal(frame, raw_frame)


def test_missing_file_is_a_source_error(tmp_path: Path) -> None:
    """A path that does not exist fails, naming the source and the expected file."""
    with pytest.raises(SourceError, match=r"does not exist: expected a CSV file"):
        extract(str(tmp_path / "absent.csv"))


def test_directory_is_a_source_error(tmp_path: Path) -> None:
    """A directory named like a file is not readable as a source."""
    folder = tmp_path / "folder.csv"
    folder.mkdir()
    with pytest.raises(SourceError, match=r"is not a readable file"):
        extract(str(folder))


def test_empty_csv_is_a_source_error(tmp_path: Path) -> None:
    """A zero-byte CSV fails as empty, naming the expected header."""
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(SourceError, match=r"is empty: expected a header row with \['MedInc'"):
        extract(str(path))


def test_header_only_csv_is_a_source_error(tmp_path: Path) -> None:
    """A CSV with a header and no rows fails, expecting at least one data row."""
    path = tmp_path / "header.csv"
    path.write_text(",".join(COLUMNS) + "\n")
    with pytest.raises(SourceError, match=r"no rows: expected at least one data row"):
        extract(str(path))


def test_corrupt_parquet_is_a_source_error(tmp_path: Path) -> None:
    """Bytes that are not Parquet fail as an invalid Parquet file."""
    path = tmp_path / "corrupt.parquet"
    path.write_bytes(b"this is not parquet")
    with pytest.raises(SourceError, match=r"is not a valid PARQUET file"):
        extract(str(path))


def test_missing_column_is_named(tmp_path: Path, raw_frame: pd.DataFrame) -> None:
    """A source without a contract column fails, listing expected, found and missing columns."""
    path = tmp_path / "no_target.csv"
    raw_frame.drop(columns="MedHouseVal").to_csv(path, index=False)
    with pytest.raises(
        SourceError, match=r"wrong columns: expected .* \(missing \['MedHouseVal'\], unexpected \[\]\)"
    ):
        extract(str(path))


def test_unexpected_column_is_named(tmp_path: Path, raw_frame: pd.DataFrame) -> None:
    """A CSV written with its index has an extra column, which is named in the error."""
    path = tmp_path / "with_index.csv"
    raw_frame.to_csv(path)
    with pytest.raises(SourceError, match=r"unexpected \['Unnamed: 0'\]"):
        extract(str(path))


def test_non_numeric_column_is_named(tmp_path: Path, raw_frame: pd.DataFrame) -> None:
    """A column holding text fails, naming the column and the dtype found."""
    path = tmp_path / "text.csv"
    broken = raw_frame.astype({"HouseAge": "object"})
    broken.loc[3, "HouseAge"] = "old"
    broken.to_csv(path, index=False)
    with pytest.raises(
        SourceError, match=r"expected int or float values in every column, found dtypes \{'HouseAge'"
    ):
        extract(str(path))


def test_integer_columns_are_accepted(tmp_path: Path, raw_frame: pd.DataFrame) -> None:
    """Integer columns are numeric, so extract accepts them (cleaning casts them to float64)."""
    path = tmp_path / "ints.parquet"
    raw_frame.astype({"HouseAge": "int64", "Population": "int64"}).to_parquet(path, index=False)
    assert extract(str(path))["HouseAge"].dtype == "int64"


def test_unknown_suffix_is_a_source_error() -> None:
    """A file that is neither CSV nor Parquet fails, listing the accepted suffixes."""
    with pytest.raises(SourceError, match=r"suffix '.json': expected one of \['.csv', '.parquet', '.pq'\]"):
        source_format("s3://lake/raw/housing.json")


def test_unknown_scheme_is_a_source_error() -> None:
    """A URI scheme other than file:// or s3:// fails, naming the scheme."""
    with pytest.raises(SourceError, match=r"scheme 'https'"):
        source_format("https://example.org/housing.csv")


def test_sklearn_source_without_cached_data_is_a_source_error(tmp_path: Path, monkeypatch) -> None:
    """With SCIKIT_LEARN_DATA pointing at an empty folder, 'sklearn' fails instead of downloading."""
    monkeypatch.setenv("SCIKIT_LEARN_DATA", str(tmp_path))
    with pytest.raises(SourceError, match=r"source 'sklearn' is not available in .*: expected the cached"):
        extract("sklearn")
