"""One internal representation across contract majors: ``consumer.load`` gives the ML code the same 1.x
frame, so the same model inputs, whether the data came as a 1.1.0 or as a 2.0.0 snapshot."""

from __future__ import annotations

import logging

import pandas as pd
import pytest

from housing_contracts import V1, V2, IncompatibleContractError
from include.housing_ml import consumer
from include.housing_ml.settings import INTERNAL_CONTRACT
from include.housing_ml.split import train_test_frames
from include.housing_ml.training import features_of, target_of


def _ref(dataset_uri: str, snapshot_id: str, contract) -> dict[str, str]:
    return {
        "dataset_uri": dataset_uri,
        "snapshot_id": snapshot_id,
        "contract_name": contract.name,
        "contract_version": contract.version,
    }


@pytest.fixture
def both_majors(both_majors_published, team_lake_uri, subscribed_uri) -> dict:
    """One producer run's data published as 1.1.0 and as 2.0.0 (``publish_all``): contract -> reference."""
    uris = {V1: team_lake_uri, V2: subscribed_uri}
    return {c: _ref(uris[c], snapshot_id, c) for c, snapshot_id in both_majors_published.items()}


def test_both_majors_load_as_the_same_internal_frame(both_majors, census_sample, storage_options) -> None:
    """The v1 and the v2 snapshot of the same data load as one frame, bit for bit: the data in 1.x."""
    v1 = consumer.load(both_majors[V1], storage_options=storage_options)
    v2 = consumer.load(both_majors[V2], storage_options=storage_options)
    assert (v1.contract, v2.contract, INTERNAL_CONTRACT) == (V1, V2, V1)
    assert list(v2.frame.columns) == list(V1.columns)
    pd.testing.assert_frame_equal(v2.frame, v1.frame, check_exact=True)
    pd.testing.assert_frame_equal(v1.frame, census_sample().reset_index(drop=True), check_exact=True)


def test_both_majors_give_the_same_model_inputs(both_majors, storage_options) -> None:
    """The same rows land on the same side of the split, with the same features and targets."""
    sides = {}
    for contract, ref in both_majors.items():
        train, test = train_test_frames(consumer.load(ref, storage_options=storage_options).frame)
        sides[contract] = [features_of(train), target_of(train), features_of(test), target_of(test)]
    for v1_part, v2_part in zip(sides[V1], sides[V2], strict=True):
        if isinstance(v1_part, pd.DataFrame):
            pd.testing.assert_frame_equal(v2_part, v1_part, check_exact=True)
        else:
            pd.testing.assert_series_equal(v2_part, v1_part, check_exact=True)


def test_a_v1_snapshot_logs_its_deprecation(both_majors, storage_options, caplog) -> None:
    """Loading a 1.x snapshot logs the contract package's WARNING with the sunset and the successor."""
    with caplog.at_level(logging.WARNING, logger="housing_contracts.lake.snapshots"):
        consumer.load(both_majors[V1], storage_options=storage_options)
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert f"snapshot {both_majors[V1]['snapshot_id']} of california_housing 1.1.0 is deprecated" in warning
    assert "successor s3://lake/california_housing/v2" in warning


def test_a_snapshot_of_another_major_than_the_reference_is_refused(both_majors, storage_options) -> None:
    """A reference that names 2.0.0 refuses a 1.1.0 snapshot: the subscribed major is checked on read."""
    wrong = {**both_majors[V1], "contract_name": V2.name, "contract_version": V2.version}
    with pytest.raises(IncompatibleContractError, match=r"this reader expects california_housing 2\.0\.0"):
        consumer.load(wrong, storage_options=storage_options)
