"""Consumer-side contract tests: any contract-valid data trains and scores without error."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import HealthCheck, given, settings

from housing_contracts import FEATURE_COLUMNS
from housing_contracts.testing import frames, sample_frame
from include.housing_ml.evaluation import feature_importances, score
from include.housing_ml.split import train_test_frames
from include.housing_ml.training import fit_models


def _finite(values) -> bool:
    return all(math.isfinite(v) for v in values)


def test_trains_on_the_contract_test_kit_sample() -> None:
    """Both models fit on sample_frame() and give finite test scores."""
    train, test = train_test_frames(sample_frame(2_000))
    models = fit_models(train)
    for model in (models.main, models.baseline):
        scores = score(model, test)
        assert _finite((scores.r2, scores.rmse, scores.mae))


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(frame=frames())
def test_any_contract_valid_frame_trains_with_finite_scores(frame) -> None:
    """Hypothesis frames (narrow, constant, extreme columns; any column order) train with finite scores."""
    train, test = train_test_frames(frame)
    models = fit_models(train)
    main, baseline = score(models.main, test), score(models.baseline, test)
    assert _finite((main.r2, main.rmse, main.mae, baseline.r2, baseline.rmse, baseline.mae))


def test_feature_importances_cover_every_contract_feature() -> None:
    """Permutation importances are finite, one per contract feature."""
    train, test = train_test_frames(sample_frame(2_000))
    importances = feature_importances(fit_models(train).main, test, sample=500, repeats=2)
    assert set(importances.index) == set(FEATURE_COLUMNS)
    assert np.isfinite(importances.to_numpy()).all()


def test_training_is_reproducible() -> None:
    """Two fits on the same snapshot give identical predictions (fixed seeds, content-keyed split)."""
    train, test = train_test_frames(sample_frame(2_000))
    first, second = fit_models(train).main, fit_models(train).main
    assert np.array_equal(
        first.predict(test.drop(columns="MedHouseVal")), second.predict(test.drop(columns="MedHouseVal"))
    )
