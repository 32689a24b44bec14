"""The data team's retry policy (every DAG's default_args): storage and Airflow API errors are retried,
everything else fails at once."""

from __future__ import annotations

from pathlib import Path

import pytest
from airflow.sdk import RetryAction
from airflow.sdk.exceptions import AirflowRuntimeError, ErrorType
from airflow.sdk.execution_time.comms import ErrorResponse
from botocore.exceptions import EndpointConnectionError

from housing_contracts.contract.errors import PromiseBroken
from housing_testkit import dag_bag

DAGS_FOLDER = Path(__file__).resolve().parents[2] / "dags"
DAG_IDS = ("housing_producer", "housing_consumer_lag")


@pytest.fixture(params=DAG_IDS)
def retry_policy(request):
    """The retry policy every task of the DAG inherits from its default_args."""
    return dag_bag(DAGS_FOLDER).dags[request.param].default_args["retry_policy"]


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
def test_transient_errors_are_retried(retry_policy, error: Exception) -> None:
    """An unreachable or flaky object store, or Airflow's own API server failing a call, leads to a retry
    (with the DAG's exponential backoff)."""
    assert retry_policy.evaluate(error, try_number=1, max_tries=3).action == RetryAction.RETRY


@pytest.mark.parametrize(
    "error",
    [KeyError("MedInc"), ValueError("bad value"), PromiseBroken("consumer ml-team lags 1 snapshot(s)")],
    ids=lambda e: type(e).__name__,
)
def test_other_errors_fail_at_once(retry_policy, error: Exception) -> None:
    """A bug, bad data or a broken promise fails immediately: retrying a deterministic error only delays
    the alert."""
    assert retry_policy.evaluate(error, try_number=1, max_tries=3).action == RetryAction.FAIL
