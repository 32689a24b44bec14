"""The two models trained on every snapshot: a linear baseline on the raw features and the main model."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import RidgeCV
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from threadpoolctl import threadpool_limits

from housing_contracts import FEATURE_COLUMNS, TARGET_COLUMN
from include.housing_ml.features import MODEL_FEATURES, add_spatial_features, spatial_feature_matrix
from include.housing_ml.settings import MAX_TRAINING_ROWS, MODEL_THREADS, SEED

BASELINE_ALPHAS: tuple[float, ...] = tuple(np.logspace(-3, 3, 13))
#: The baseline is fitted on at most this many of the training rows (a seeded sample beyond it).
BASELINE_MAX_ROWS = 200_000
#: Main model hyperparameters: test R² 0.867 on the real data (``pytest -s tests/test_model_quality.py``
#: prints it), ~250 boosting rounds (~5 s, 1 thread).
#: Early stopping holds out 10% of the training rows (seeded, so one snapshot always gives the same
#: model) and stops data without signal after ~20 rounds; max_features subsamples features per split.
MAIN_PARAMS: dict[str, object] = {
    "max_iter": 1000,
    "learning_rate": 0.1,
    "max_leaf_nodes": 63,
    "min_samples_leaf": 20,
    "max_features": 0.5,
    "early_stopping": True,
    "validation_fraction": 0.1,
    "n_iter_no_change": 20,
    "random_state": SEED,
}


def baseline_pipeline() -> Pipeline:
    """The baseline every main model must beat: standardised raw features into RidgeCV."""
    return Pipeline([("scale", StandardScaler()), ("ridge", RidgeCV(alphas=BASELINE_ALPHAS))])


def main_pipeline() -> Pipeline:
    """The raw plus derived features (:mod:`~include.housing_ml.features`) into gradient boosting."""
    return Pipeline(
        [
            ("spatial", FunctionTransformer(add_spatial_features, validate=False)),
            ("hgb", HistGradientBoostingRegressor(**MAIN_PARAMS)),
        ]
    )


def features_of(frame: pd.DataFrame) -> pd.DataFrame:
    """The contract's feature columns, in contract order (what every model is fitted and scored on)."""
    return frame.loc[:, list(FEATURE_COLUMNS)]


def target_of(frame: pd.DataFrame) -> pd.Series:
    """The contract's target column."""
    return frame[TARGET_COLUMN]


@contextmanager
def model_threads() -> Iterator[None]:
    """Limit OpenMP/BLAS threads to MODEL_THREADS while fitting or scoring."""
    with threadpool_limits(limits=MODEL_THREADS):
        yield


@dataclass(frozen=True)
class TrainedModels:
    """Both fitted pipelines of one training run."""

    main: Pipeline
    baseline: Pipeline


def fit_models(train: pd.DataFrame) -> TrainedModels:
    """Fit the main model and the baseline on the training rows of a contract-valid frame."""
    X, y = features_of(train), target_of(train)
    # RidgeCV holds several copies of its matrix; 8 coefficients need no more than this many rows
    baseline_rows = training_rows(len(train), BASELINE_MAX_ROWS)
    with model_threads():
        main = fit_main(X, y)
        baseline = baseline_pipeline().fit(X.iloc[baseline_rows], y.iloc[baseline_rows])
        return TrainedModels(main=main, baseline=baseline)


def fit_main(X: pd.DataFrame, y: pd.Series) -> Pipeline:
    """``main_pipeline()`` fitted on ``X``, ``y``: the same model as ``main_pipeline().fit(X, y)``, with
    the derived features built once per row instead of twice.

    Gradient boosting holds out ``validation_fraction`` of its rows for early stopping; left to itself it
    would copy the whole feature matrix into a training and a validation part. Here the same rows (drawn
    with the same seeds as ``HistGradientBoostingRegressor.fit`` draws them) are built straight into two
    matrices and passed as ``X_val``/``y_val``.
    """
    pipeline = main_pipeline()
    spatial, hgb = pipeline.named_steps["spatial"], pipeline.named_steps["hgb"]
    spatial.fit(X.iloc[:1])  # stateless; records the input's 8 column names, as Pipeline.fit would
    # HistGradientBoostingRegressor.fit derives its split seed as the first draw of its random_state.
    split_seed = np.random.RandomState(hgb.random_state).randint(np.iinfo(np.uint32).max, dtype="u8")
    fit_rows, val_rows = train_test_split(
        np.arange(len(X)), test_size=hgb.validation_fraction, random_state=split_seed
    )
    target = y.to_numpy(dtype="float64")

    def matrix(rows: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame(spatial_feature_matrix(X, rows), columns=list(MODEL_FEATURES), copy=False)

    hgb.fit(matrix(fit_rows), target[fit_rows], X_val=matrix(val_rows), y_val=target[val_rows])
    return pipeline


def training_rows(n_rows: int, max_rows: int = MAX_TRAINING_ROWS) -> np.ndarray:
    """Positions of the training rows the models are fitted on: all ``n_rows`` up to ``max_rows``,
    beyond it a sample of ``max_rows`` drawn without replacement with ``SEED`` (the same for the same
    ``n_rows``), in their original order."""
    if max_rows < 1:
        raise ValueError(f"max_rows is {max_rows}: expected at least 1")
    if n_rows <= max_rows:
        return np.arange(n_rows)
    return np.sort(np.random.default_rng(SEED).choice(n_rows, size=max_rows, replace=False))


def model_params() -> dict[str, object]:
    """Parameters to log with a run: the main model's (``hgb_``), the baseline's and ``SEED``."""
    return {
        **{f"hgb_{k}": v for k, v in MAIN_PARAMS.items()},
        "baseline_alphas": ",".join(f"{a:g}" for a in BASELINE_ALPHAS),
        "seed": SEED,
        "baseline_max_training_rows": BASELINE_MAX_ROWS,
    }
