"""Batch predictions: every snapshot row with its prediction and the model version, as Parquet in S3."""

from __future__ import annotations

import pandas as pd
from sklearn.dummy import DummyRegressor

from housing_contracts import COLUMNS
from housing_contracts.testing import sample_frame
from include.housing_ml.predictions import PREDICTION_COLUMN, predictions_frame, write_predictions
from include.housing_ml.settings import PREDICTIONS_URI, predictions_file_uri

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


def test_predictions_file_lives_under_the_snapshot_id() -> None:
    """The default location is the contract's predictions prefix plus the snapshot id."""
    assert predictions_file_uri(SNAPSHOT_ID) == (
        f"s3://lake/california_housing_predictions/v1/{SNAPSHOT_ID}/predictions.parquet"
    )
    assert PREDICTIONS_URI == "s3://lake/california_housing_predictions/v1"


def test_predictions_round_trip_through_s3(predictions_root, storage_options) -> None:
    """Written predictions read back identical from the S3 server."""
    frame = sample_frame()
    out = predictions_frame(frame, _model(frame), model_name="m", model_version="3")
    uri = predictions_file_uri(SNAPSHOT_ID, predictions_root)
    ref = write_predictions(out, uri, snapshot_id=SNAPSHOT_ID, storage_options=storage_options)
    assert (ref.uri, ref.rows, ref.model_version) == (uri, len(frame), "3")
    pd.testing.assert_frame_equal(pd.read_parquet(uri, storage_options=storage_options), out)
