"""Which task failures are worth a retry: storage and MLflow errors yes, bad data and bugs no.

Airflow's ``ExceptionRetryPolicy`` imports every dotted exception path when the DAG file is parsed;
for ``mlflow.exceptions.MlflowException`` that is all of MLflow (measured: ~8 s of parse time on 2 busy
cores). This policy matches an exception's class and base classes by their dotted names instead, so it
imports nothing until a task actually fails.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk.definitions.retry_policy import RetryAction, RetryDecision, RetryPolicy

#: Never retried: the data is wrong (bad snapshot), retrying cannot help.
FAIL_ON: tuple[str, ...] = ("housing_contracts.contract.errors.ContractError",)
#: Retried with the task's exponential backoff: likely transient.
RETRY_ON: tuple[str, ...] = (
    "builtins.OSError",  # TimeoutError, ConnectionError, s3fs's and fsspec's I/O errors
    "botocore.exceptions.BotoCoreError",
    "requests.exceptions.RequestException",
    "mlflow.exceptions.MlflowException",  # includes RestException (server errors)
    # the deployment's own API server failing a task's call (XCom, connection), e.g. while its metadata
    # database restarts
    "airflow.sdk.exceptions.AirflowRuntimeError",
)


def class_paths(exception: BaseException) -> set[str]:
    """Dotted paths of the exception's class and every base class."""
    return {f"{cls.__module__}.{cls.__qualname__}" for cls in type(exception).__mro__}


class TransientErrorRetryPolicy(RetryPolicy):
    """Retry exceptions named in ``retry_on`` (or subclasses), fail at once on everything else."""

    def __init__(self, retry_on: tuple[str, ...] = RETRY_ON, fail_on: tuple[str, ...] = FAIL_ON) -> None:
        self.retry_on = tuple(retry_on)
        self.fail_on = tuple(fail_on)

    def evaluate(
        self, exception: BaseException, try_number: int, max_tries: int, context: Any = None
    ) -> RetryDecision:
        """RETRY for a transient error, FAIL otherwise (``fail_on`` wins over ``retry_on``)."""
        paths = class_paths(exception)
        if paths.intersection(self.fail_on):
            return RetryDecision.fail(f"{type(exception).__name__}: bad data, a retry cannot help")
        if paths.intersection(self.retry_on):
            return RetryDecision.retry(reason=f"{type(exception).__name__}: storage or MLflow error")
        return RetryDecision(action=RetryAction.FAIL, reason=f"{type(exception).__name__}: not transient")

    def serialize(self) -> dict[str, Any]:
        """JSON form: the two lists of class paths."""
        return {"retry_on": list(self.retry_on), "fail_on": list(self.fail_on)}

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> TransientErrorRetryPolicy:
        """Inverse of :meth:`serialize`."""
        return cls(tuple(data["retry_on"]), tuple(data["fail_on"]))
