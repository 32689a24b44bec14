"""The held-out split: a function of row content, so it is the same in every snapshot."""

from __future__ import annotations

import pandas as pd
import pytest

from housing_contracts.testing import sample_frame
from include.housing_ml.settings import TEST_FRACTION
from include.housing_ml.split import holdout_mask, train_test_frames


def test_holds_out_about_the_test_fraction() -> None:
    """About TEST_FRACTION of 5,000 rows are held out."""
    mask = holdout_mask(sample_frame(5_000))
    assert abs(mask.mean() - TEST_FRACTION) < 0.03


def test_same_rows_same_side_whatever_the_row_and_column_order() -> None:
    """Shuffling rows and columns does not move any row to the other side."""
    frame = sample_frame(2_000)
    shuffled = frame.sample(frac=1.0, random_state=7)[list(reversed(frame.columns))]
    held_out = frame.index[holdout_mask(frame)]
    assert set(shuffled.index[holdout_mask(shuffled)]) == set(held_out)


def test_a_row_keeps_its_side_when_other_rows_change() -> None:
    """Rows shared by two different snapshots land on the same side in both."""
    first, other = sample_frame(2_000, seed=1), sample_frame(2_000, seed=2)
    second = pd.concat([first.iloc[:1_000], other.iloc[:1_000]], ignore_index=True)
    assert (holdout_mask(first)[:1_000] == holdout_mask(second)[:1_000]).all()


def test_identical_rows_are_still_split() -> None:
    """A frame of 1,000 copies of one row still yields non-empty train and test sides."""
    frame = pd.concat([sample_frame().iloc[[0]]] * 1_000, ignore_index=True)
    train, test = train_test_frames(frame)
    assert len(train) > 0 and len(test) > 0


def test_rejects_a_fraction_outside_zero_one() -> None:
    """A test fraction of 1 is refused with the accepted interval."""
    with pytest.raises(ValueError, match=r"\(0, 1\)"):
        holdout_mask(sample_frame(), test_fraction=1.0)
