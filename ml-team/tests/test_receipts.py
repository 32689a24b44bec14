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
