"""Consumer-side contract tests: any contract-valid data trains and scores without error."""

from __future__ import annotations

import math

import numpy as np
import pytest
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


def test_the_main_model_is_the_one_the_plain_pipeline_fits() -> None:
    """fit_main (features built once, its own early-stopping hold-out) fits the same model as
    ``main_pipeline().fit``: the same number of rounds and bit for bit the same predictions."""
    from include.housing_ml.training import features_of, fit_main, main_pipeline, target_of

    train, test = train_test_frames(sample_frame(3_000))
    X, y = features_of(train), target_of(train)
    lean, plain = fit_main(X, y), main_pipeline().fit(X, y)
    assert lean.named_steps["hgb"].n_iter_ == plain.named_steps["hgb"].n_iter_
    assert (lean.predict(features_of(test)) == plain.predict(features_of(test))).all()


def test_chunked_scores_equal_the_whole_frame_scores() -> None:
    """Scoring in chunks of 333 rows gives the predictions and scores of one call on every row."""
    from include.housing_ml.evaluation import predict, score
    from include.housing_ml.training import features_of

    train, test = train_test_frames(sample_frame(3_000))
    models = fit_models(train)
    for model in (models.main, models.baseline):
        whole = np.asarray(model.predict(features_of(test)), dtype="float64")
        np.testing.assert_array_equal(predict(model, test, chunk_rows=333), whole)
        chunked, one = score(model, test, chunk_rows=333), score(model, test, chunk_rows=len(test))
        assert chunked.rows == one.rows
        np.testing.assert_allclose(
            [chunked.r2, chunked.rmse, chunked.mae], [one.r2, one.rmse, one.mae], rtol=1e-12
        )


def test_training_rows_are_capped_by_a_seeded_sample() -> None:
    """Up to the cap every row trains; beyond it a sample of exactly the cap, the same on every call,
    in the original order, without repeats."""
    from include.housing_ml.training import training_rows

    assert (training_rows(500, max_rows=1_000) == np.arange(500)).all()
    sample = training_rows(5_000, max_rows=1_000)
    assert len(sample) == len(np.unique(sample)) == 1_000
    assert (np.diff(sample) > 0).all() and (sample == training_rows(5_000, max_rows=1_000)).all()
    with pytest.raises(ValueError, match="at least 1"):
        training_rows(10, max_rows=0)
