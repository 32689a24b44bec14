"""The retry policy: storage, MLflow and Airflow API errors are retried, bad data and bugs are not."""

from __future__ import annotations

import pytest
from airflow.sdk.definitions.retry_policy import RetryAction
from airflow.sdk.exceptions import AirflowRuntimeError, ErrorType
from airflow.sdk.execution_time.comms import ErrorResponse
from mlflow.exceptions import MlflowException, RestException

from housing_contracts import SnapshotIntegrityError
from include.housing_ml.retries import retry_policy


@pytest.mark.parametrize(
    ("error", "action"),
    [
        (ConnectionError("s3 endpoint down"), RetryAction.RETRY),
        (TimeoutError("version still PENDING"), RetryAction.RETRY),
        (MlflowException("registration failed"), RetryAction.RETRY),
        (RestException({"error_code": "INTERNAL_ERROR", "message": "db locked"}), RetryAction.RETRY),
        (AirflowRuntimeError(ErrorResponse(error=ErrorType.API_SERVER_ERROR)), RetryAction.RETRY),
        (SnapshotIntegrityError("sha256 mismatch"), RetryAction.FAIL),
        (ValueError("a bug"), RetryAction.FAIL),
    ],
    ids=["connection", "timeout", "mlflow", "mlflow-rest", "airflow-api-server", "bad-snapshot", "bug"],
)
def test_retries_only_transient_errors(error: BaseException, action: RetryAction) -> None:
    """Each kind of failure gets the expected decision."""
    assert retry_policy().evaluate(error, try_number=1, max_tries=4).action is action


def test_policy_round_trips_through_its_json_form() -> None:
    """serialize/deserialize keep both lists."""
    policy = retry_policy()
    again = type(policy).deserialize(policy.serialize())
    assert (again.retry_on, again.fail_on) == (policy.retry_on, policy.fail_on)
