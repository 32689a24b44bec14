"""Batch predictions for a snapshot, written next to the dataset as their own asset."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

from include.housing_ml.evaluation import Predictor, predict

PREDICTION_COLUMN = "prediction"


@dataclass(frozen=True)
class PredictionsRef:
    """Where a snapshot's predictions were written and by which model version (JSON-able)."""

    uri: str
    rows: int
    snapshot_id: str
    model_name: str
    model_version: str

    def to_dict(self) -> dict[str, Any]:
        """Plain dict, small enough for XCom."""
        return asdict(self)


def predictions_frame(
    frame: pd.DataFrame, model: Predictor, *, model_name: str, model_version: str
) -> pd.DataFrame:
    """The snapshot's rows with the model's ``prediction`` and the model's name and version."""
    out = frame.reset_index(drop=True).copy()
    out[PREDICTION_COLUMN] = predict(model, out)
    out["model_name"] = model_name
    out["model_version"] = model_version
    return out


def write_predictions(
    predictions: pd.DataFrame, uri: str, *, snapshot_id: str, storage_options: dict[str, Any] | None = None
) -> PredictionsRef:
    """Write ``predictions`` as one Parquet file at ``uri`` (overwrites: a rerun replaces it whole)."""
    predictions.to_parquet(uri, index=False, compression="zstd", storage_options=storage_options)
    return PredictionsRef(
        uri=uri,
        rows=len(predictions),
        snapshot_id=snapshot_id,
        model_name=str(predictions["model_name"].iloc[0]),
        model_version=str(predictions["model_version"].iloc[0]),
    )
