"""Batch predictions for a snapshot, written next to the dataset as their own asset."""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from include.housing_ml.evaluation import Predictor, predict
from include.housing_ml.settings import PREDICT_CHUNK_ROWS

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
    frame: pd.DataFrame,
    model: Predictor,
    uri: str,
    *,
    snapshot_id: str,
    model_name: str,
    model_version: str,
    storage_options: dict[str, Any] | None = None,
    batch_rows: int = PREDICT_CHUNK_ROWS,
) -> PredictionsRef:
    """Write :func:`predictions_frame` of ``frame`` as one Parquet file at ``uri`` (overwrites: a rerun
    replaces it whole), ``batch_rows`` rows at a time: the same file, but neither the predictions frame
    nor its Arrow table ever exists whole.

    The batches go to a local temporary file, which is uploaded once complete: a failure half-way
    leaves the previous file (or none) at ``uri``, never a truncated one.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq
    from fsspec.core import url_to_fs

    if batch_rows < 1:
        raise ValueError(f"batch_rows is {batch_rows}: expected at least 1")
    remote = uri.startswith("s3://")
    fs, path = url_to_fs(uri, **((storage_options or {}) if remote else {}))
    schema = None
    with tempfile.TemporaryDirectory(prefix="predictions-") as tmp:
        local = Path(tmp) / "predictions.parquet"
        writer: pq.ParquetWriter | None = None
        try:
            for start in range(0, max(len(frame), 1), batch_rows):
                rows = frame.iloc[start : start + batch_rows]
                batch = predictions_frame(rows, model, model_name=model_name, model_version=model_version)
                if schema is None:
                    schema = pa.Schema.from_pandas(batch, preserve_index=False)
                    writer = pq.ParquetWriter(local, schema, compression="zstd")
                writer.write_table(pa.Table.from_pandas(batch, schema=schema, preserve_index=False))
                del batch
        finally:
            if writer is not None:
                writer.close()
        if not remote:  # object stores need no folders (s3fs would try CreateBucket)
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        fs.put_file(str(local), path)
    return PredictionsRef(
        uri=uri, rows=len(frame), snapshot_id=snapshot_id, model_name=model_name, model_version=model_version
    )
