"""The ML team's promises and names in settings: the consumer name and the lag it commits to."""

from __future__ import annotations

from datetime import timedelta

import pytest

from housing_contracts.consumers.records import check_consumer_name
from include.housing_ml.settings import (
    CONSUMER,
    DEFAULT_MAX_EVALUATION_ROWS,
    DEFAULT_MAX_LAG,
    DEFAULT_MAX_TRAINING_ROWS,
    MAX_LAG,
    RENEW_EVERY,
    max_evaluation_rows_from,
    max_lag_from,
    max_training_rows_from,
    renew_every_from,
)


def test_consumer_name_is_a_safe_path_segment() -> None:
    """The consumer name passes the contract's rule for names in the lake."""
    assert check_consumer_name(CONSUMER) == "ml-team"


def test_the_default_promise_is_six_hours() -> None:
    """Without HOUSING_MAX_LAG_SECONDS the consumer promises a lag of at most 6 hours."""
    assert max_lag_from(None) == max_lag_from("") == MAX_LAG == DEFAULT_MAX_LAG == timedelta(hours=6)


@pytest.mark.parametrize(("value", "lag"), [("30", timedelta(seconds=30)), (" 1.5 ", timedelta(seconds=1.5))])
def test_the_promise_is_overridden_in_seconds(value: str, lag: timedelta) -> None:
    """HOUSING_MAX_LAG_SECONDS holds the promise in seconds (fractions allowed)."""
    assert max_lag_from(value) == lag


@pytest.mark.parametrize("value", ["6h", "0", "-30", "nan", "inf"])
def test_a_bad_promise_is_refused_with_the_rule(value: str) -> None:
    """Anything but a positive, finite number of seconds is a ValueError naming the variable and value."""
    with pytest.raises(ValueError, match=rf"HOUSING_MAX_LAG_SECONDS='{value}': expected a positive number"):
        max_lag_from(value)


def test_the_renewal_defaults_to_the_contract_package() -> None:
    """Without HOUSING_SUBSCRIPTION_RENEW_SECONDS the watcher renews at the contract package's default."""
    assert renew_every_from(None) is renew_every_from("") is RENEW_EVERY is None


@pytest.mark.parametrize("value", ["5m", "0", "-1", "nan"])
def test_a_bad_renewal_is_refused_with_the_rule(value: str) -> None:
    """A renewal interval must be a positive number of seconds; the error names the variable and value."""
    refusal = rf"HOUSING_SUBSCRIPTION_RENEW_SECONDS='{value}': expected a positive number of seconds"
    with pytest.raises(ValueError, match=refusal):
        renew_every_from(value)


def test_a_renewal_is_given_in_seconds() -> None:
    """HOUSING_SUBSCRIPTION_RENEW_SECONDS holds the interval in seconds (fractions allowed)."""
    assert renew_every_from("2.5") == timedelta(seconds=2.5)


@pytest.mark.parametrize(
    ("value", "rows"),
    [(None, DEFAULT_MAX_TRAINING_ROWS), ("", DEFAULT_MAX_TRAINING_ROWS), ("2_000_000", 2_000_000), ("7", 7)],
)
def test_the_training_cap_is_a_number_of_rows(value: str | None, rows: int) -> None:
    """$HOUSING_MAX_TRAINING_ROWS sets the cap; unset or empty keeps the default."""
    assert max_training_rows_from(value) == rows


@pytest.mark.parametrize("value", ["0", "-5", "1.5", "many"])
def test_a_bad_training_cap_is_refused_with_the_rule(value: str) -> None:
    """Anything but a positive whole number names the variable and what it expects."""
    with pytest.raises(ValueError, match=r"HOUSING_MAX_TRAINING_ROWS=.*expected a positive whole number"):
        max_training_rows_from(value)


@pytest.mark.parametrize(
    ("value", "rows"),
    [(None, DEFAULT_MAX_EVALUATION_ROWS), (" ", DEFAULT_MAX_EVALUATION_ROWS), ("300_000", 300_000)],
)
def test_the_evaluation_cap_is_a_number_of_rows(value: str | None, rows: int) -> None:
    """$HOUSING_MAX_EVALUATION_ROWS sets the cap; unset or blank keeps the default."""
    assert max_evaluation_rows_from(value) == rows


@pytest.mark.parametrize("value", ["0", "1e5"])
def test_a_bad_evaluation_cap_is_refused_with_the_rule(value: str) -> None:
    """Anything but a positive whole number names the variable and what it expects."""
    with pytest.raises(ValueError, match=r"HOUSING_MAX_EVALUATION_ROWS=.*expected a positive whole number"):
        max_evaluation_rows_from(value)
