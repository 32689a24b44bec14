"""Batch predictions: every snapshot row with its prediction and the model version, as Parquet in S3."""

from __future__ import annotations

import pandas as pd
import pytest
from sklearn.dummy import DummyRegressor

from housing_contracts import COLUMNS, V1, V2
from housing_contracts.testing import sample_frame
from include.housing_ml.predictions import PREDICTION_COLUMN, predictions_frame, write_predictions
from include.housing_ml.settings import (
    PREDICTIONS_URI_ENV,
    predictions_asset_name,
    predictions_asset_uri,
    predictions_file_uri,
    predictions_uri,
)

SNAPSHOT_ID = "20260101T000000.000000Z-00000000"


def _model(frame: pd.DataFrame) -> DummyRegressor:
    return DummyRegressor(strategy="constant", constant=2.0).fit(
        frame[list(COLUMNS[:-1])], frame[COLUMNS[-1]]
    )


def test_predictions_keep_every_row_and_name_the_model() -> None:
    """One prediction per row, next to the contract columns and the model name and version."""
    frame = sample_frame()
    out = predictions_frame(frame, _model(frame), model_name="m", model_version="3")
    assert list(out.columns) == [*frame.columns, PREDICTION_COLUMN, "model_name", "model_version"]
    assert len(out) == len(frame) and (out[PREDICTION_COLUMN] == 2.0).all()


def test_predictions_file_lives_under_the_snapshot_id(monkeypatch: pytest.MonkeyPatch) -> None:
    """The default location is the subscribed contract's predictions prefix plus the snapshot id."""
    monkeypatch.delenv(PREDICTIONS_URI_ENV, raising=False)
    assert predictions_file_uri(SNAPSHOT_ID, predictions_uri(V2)) == (
        f"s3://lake/california_housing_predictions/v2/{SNAPSHOT_ID}/predictions.parquet"
    )


@pytest.mark.parametrize("contract", [V1, V2])
def test_each_major_has_predictions_of_its_own(contract) -> None:
    """A v1 and a v2 consumer write predictions Assets of their own, versioned by the contract's major."""
    assert (predictions_asset_name(contract), predictions_asset_uri(contract)) == (
        f"california_housing_predictions_v{contract.major}",
        f"s3://lake/california_housing_predictions/v{contract.major}",
    )


def test_the_override_names_one_major_and_its_siblings(monkeypatch: pytest.MonkeyPatch) -> None:
    """$HOUSING_PREDICTIONS_URI moves every major's predictions: each contract gets its v<major> sibling."""
    monkeypatch.setenv(PREDICTIONS_URI_ENV, "s3://lake/california_housing_predictions/tests/abc/v1/")
    assert (predictions_uri(V1), predictions_uri(V2)) == (
        "s3://lake/california_housing_predictions/tests/abc/v1",
        "s3://lake/california_housing_predictions/tests/abc/v2",
    )


def test_an_override_without_a_major_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """An override not ending in /v<major> is a ValueError naming the variable and the expectation."""
    monkeypatch.setenv(PREDICTIONS_URI_ENV, "s3://lake/somewhere")
    refused = r"HOUSING_PREDICTIONS_URI='s3://lake/somewhere': expected .* /v<major>"
    with pytest.raises(ValueError, match=refused):
        predictions_uri(V2)


@pytest.mark.parametrize("batch_rows", [1_000_000, 333])
def test_predictions_round_trip_through_s3(predictions_root, storage_options, batch_rows: int) -> None:
    """The predictions file, written in one batch or in batches of 333 rows, reads back from the S3
    server identical to the whole-frame predictions_frame."""
    frame = sample_frame()
    model = _model(frame)
    uri = predictions_file_uri(SNAPSHOT_ID, predictions_root)
    ref = write_predictions(
        frame,
        model,
        uri,
        snapshot_id=SNAPSHOT_ID,
        model_name="m",
        model_version="3",
        storage_options=storage_options,
        batch_rows=batch_rows,
    )
    assert (ref.uri, ref.rows, ref.model_version) == (uri, len(frame), "3")
    whole = predictions_frame(frame, model, model_name="m", model_version="3")
    pd.testing.assert_frame_equal(pd.read_parquet(uri, storage_options=storage_options), whole)


def test_batched_predictions_of_a_fitted_model_are_identical(tmp_path) -> None:
    """A real model's predictions written in batches (and scored in chunks) are bit for bit those of the
    whole frame in one call."""
    from include.housing_ml.split import train_test_frames
    from include.housing_ml.training import fit_models

    frame = sample_frame(3_000)
    model = fit_models(train_test_frames(frame)[0]).main
    uri = str(tmp_path / "out" / "predictions.parquet")
    write_predictions(
        frame, model, uri, snapshot_id=SNAPSHOT_ID, model_name="m", model_version="1", batch_rows=700
    )
    written = pd.read_parquet(uri)
    whole = frame.assign(**{PREDICTION_COLUMN: model.predict(frame[list(COLUMNS[:-1])])})
    assert (written[PREDICTION_COLUMN].to_numpy() == whole[PREDICTION_COLUMN].to_numpy()).all()
