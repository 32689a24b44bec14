"""Held-out scores and feature importances."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Protocol

import numpy as np
import pandas as pd
from sklearn.inspection import permutation_importance
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

from include.housing_ml.settings import MAX_EVALUATION_ROWS, PREDICT_CHUNK_ROWS, SEED
from include.housing_ml.training import features_of, model_threads, target_of, training_rows


class Predictor(Protocol):
    """Anything with ``predict(features) -> array``: a fitted pipeline or an MLflow pyfunc model."""

    def predict(self, features: pd.DataFrame) -> np.ndarray: ...


@dataclass(frozen=True)
class Scores:
    """Regression scores on one set of rows."""

    r2: float
    rmse: float
    mae: float
    rows: int

    def as_metrics(self, prefix: str = "test_") -> dict[str, float]:
        """``{prefix}r2``, ``{prefix}rmse``, ``{prefix}mae`` for MLflow."""
        return {f"{prefix}{k}": v for k, v in asdict(self).items() if k != "rows"}


def evaluation_positions(mask: np.ndarray, max_rows: int = MAX_EVALUATION_ROWS) -> np.ndarray:
    """Positions of the test rows a model is scored on, given the ``mask`` of held-out rows
    (``split.holdout_mask``): every held-out row up to ``max_rows``, beyond it a sample of ``max_rows``
    of them drawn without replacement with ``SEED``, in their original order. A function of the mask
    alone, so ``train`` and ``decide`` score the same rows of a snapshot, with every model."""
    held_out = np.flatnonzero(mask)
    return held_out[training_rows(len(held_out), max_rows)]


def predict(model: Predictor, frame: pd.DataFrame, *, chunk_rows: int = PREDICT_CHUNK_ROWS) -> np.ndarray:
    """Predictions of ``model`` for the rows of a contract frame, as float64, ``chunk_rows`` rows at a
    time: what the model derives from its input exists for one chunk only."""
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows is {chunk_rows}: expected at least 1")
    out = np.empty(len(frame), dtype="float64")
    with model_threads():
        for start in range(0, len(frame), chunk_rows):
            chunk = features_of(frame.iloc[start : start + chunk_rows])
            out[start : start + len(chunk)] = np.asarray(model.predict(chunk), dtype="float64").reshape(-1)
    return out


def score(model: Predictor, frame: pd.DataFrame, *, chunk_rows: int = PREDICT_CHUNK_ROWS) -> Scores:
    """R², RMSE and MAE of ``model`` on the rows of a contract frame (predicted ``chunk_rows`` at a
    time); raises if any is not finite."""
    return scores_of(target_of(frame).to_numpy(), predict(model, frame, chunk_rows=chunk_rows))


def scores_of(y: np.ndarray, y_hat: np.ndarray) -> Scores:
    """R², RMSE and MAE of the predictions ``y_hat`` of ``y``; raises if any is not finite."""
    # force_finite (sklearn's default) maps a constant target to a finite R² instead of NaN.
    scores = Scores(
        r2=float(r2_score(y, y_hat)),
        rmse=float(math.sqrt(mean_squared_error(y, y_hat))),
        mae=float(mean_absolute_error(y, y_hat)),
        rows=len(y),
    )
    if not all(math.isfinite(v) for v in (scores.r2, scores.rmse, scores.mae)):
        raise ValueError(f"non-finite scores {scores}: expected finite R², RMSE and MAE")
    return scores


def feature_importances(
    model: Predictor, frame: pd.DataFrame, *, sample: int = 2_000, repeats: int = 5
) -> pd.Series:
    """Permutation importance (drop in R²) of each contract feature on a seeded sample of rows."""
    rows = frame.sample(n=min(sample, len(frame)), random_state=SEED)
    with model_threads():
        result = permutation_importance(
            model, features_of(rows), target_of(rows), n_repeats=repeats, random_state=SEED, scoring="r2"
        )
    return pd.Series(result.importances_mean, index=features_of(rows).columns).sort_values()
