"""The producer's retry policy: storage and Airflow API errors are retried, everything else fails at once."""

from __future__ import annotations

from pathlib import Path

import pytest
from airflow.sdk import RetryAction
from airflow.sdk.exceptions import AirflowRuntimeError, ErrorType
from airflow.sdk.execution_time.comms import ErrorResponse
from botocore.exceptions import EndpointConnectionError

from housing_testkit import dag_bag

DAGS_FOLDER = Path(__file__).resolve().parents[2] / "dags"


def retry_policy():
    """The retry policy every producer task inherits from the DAG's default_args."""
    return dag_bag(DAGS_FOLDER).dags["housing_producer"].default_args["retry_policy"]


@pytest.mark.parametrize(
    "error",
    [
        EndpointConnectionError(endpoint_url="http://127.0.0.1:9000"),
        ConnectionResetError("connection reset by peer"),
        TimeoutError("read timed out"),
        AirflowRuntimeError(ErrorResponse(error=ErrorType.API_SERVER_ERROR)),
    ],
    ids=lambda e: type(e).__name__,
)
def test_transient_errors_are_retried(error: Exception) -> None:
    """An unreachable or flaky object store, or Airflow's own API server failing a call, leads to a retry
    (with the DAG's exponential backoff)."""
    assert retry_policy().evaluate(error, try_number=1, max_tries=3).action == RetryAction.RETRY


@pytest.mark.parametrize(
    "error", [KeyError("MedInc"), ValueError("bad value")], ids=lambda e: type(e).__name__
)
def test_other_errors_fail_at_once(error: Exception) -> None:
    """A bug or bad data fails immediately: retrying a deterministic error only delays the alert."""
    assert retry_policy().evaluate(error, try_number=1, max_tries=3).action == RetryAction.FAIL
