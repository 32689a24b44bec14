"""What the consumer's success receipt says it produced."""

from __future__ import annotations

import pytest

from include.housing_ml.consumer import receipt_produced

VERSION = {"name": "california_housing_regressor", "version": "7", "run_id": "abc"}
PREDICTIONS = {
    "uri": "s3://lake/california_housing_predictions/v1/20260101T000000Z-ab12cd34/predictions.parquet",
    "rows": 3000,
    "snapshot_id": "20260101T000000Z-ab12cd34",
    "model_name": "california_housing_regressor",
    "model_version": "5",
}


@pytest.mark.parametrize(("outcome", "champion"), [("champion", "7"), ("challenger", "5")])
def test_the_receipt_names_the_new_version_and_its_decision(outcome: str, champion: str) -> None:
    """The receipt names the version this run registered and its alias, not the champion that predicted."""
    decision = {"outcome": outcome, "version": "7", "champion_version": champion}
    assert receipt_produced(VERSION, decision, PREDICTIONS) == {
        "model_name": "california_housing_regressor",
        "model_version": "7",
        "decision": outcome,
        "predictions_uri": PREDICTIONS["uri"],
    }


def test_the_receipt_names_the_rows_the_model_was_fitted_on() -> None:
    """Given the training step's outcome, the receipt says how many rows were fitted on, and the seed
    when they were a sample."""
    decision = {"outcome": "champion", "version": "7", "champion_version": "7"}
    every = {"metrics": {"train_rows": 1600.0, "train_rows_available": 1600.0}}
    sampled = {"metrics": {"train_rows": 500.0, "train_rows_available": 1600.0}}
    assert receipt_produced(VERSION, decision, PREDICTIONS, every)["training_rows"] == "1600 of 1600"
    assert (
        receipt_produced(VERSION, decision, PREDICTIONS, sampled)["training_rows"]
        == "500 of 1600 (a sample drawn with seed 42)"
    )
