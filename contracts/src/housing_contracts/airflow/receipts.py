"""The consumer's receipts, written from any consuming DAG: a failed one from its
``on_failure_callback``, a success one from its last task.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from housing_contracts.airflow.asset import manifests_from_events
from housing_contracts.airflow.connections import storage_options_from_connection
from housing_contracts.consumers.records import Receipt, check_consumer_name, record_receipt
from housing_contracts.contract.versions import LATEST, Contract
from housing_contracts.lake.layout import SNAPSHOT_ID_PATTERN

log = logging.getLogger(__name__)


class Receipts:
    """The consumer's receipts for any consuming DAG: a failed one from ``on_failure`` (its
    ``on_failure_callback``), a success one from :meth:`success` (called by its last task).

    :param consumer: the consumer's safe name (its records' prefix).
    :param conn_id: the Airflow ``aws`` connection whose identity writes the consumer's prefix.
    :param contract: the contract consumed.
    :param dataset_uri: the dataset consumed; None = ``contract.dataset_uri()`` when the receipt is
        written (its sibling under ``$HOUSING_DATASET_URI``, or its URI).
    """

    def __init__(
        self, *, consumer: str, conn_id: str, contract: Contract = LATEST, dataset_uri: str | None = None
    ) -> None:
        self.consumer = check_consumer_name(consumer)
        self.conn_id = conn_id
        self.contract = contract
        self.dataset_uri = dataset_uri

    def on_failure(self, context: Mapping[str, Any]) -> None:
        """Record a failed receipt for the run's snapshot, the reason naming the task and its error.

        Never raises: a callback's error would only hide the task's own. Without a snapshot id (from the
        triggering events, ``params["snapshot_id"]`` or an XCom ``snapshot_id``) it logs and returns.
        """
        try:
            ti = context["ti"]
            snapshot_id = _run_snapshot_id(context)
            if snapshot_id is None:
                log.warning(
                    "No failed receipt for %s/%s: no snapshot id in its triggering events, params or XComs",
                    ti.dag_id,
                    ti.run_id,
                )
                return
            error = context.get("exception")
            cause = f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else error
            reason = f"{ti.task_id} failed" + (f": {cause}" if cause else "")
            uri = self._record(context, snapshot_id=snapshot_id, outcome="failed", reason=reason, produced={})
            log.info("Failed receipt for snapshot %s written: %s", snapshot_id, uri)
        except Exception:
            log.exception("Could not write the failed receipt of consumer %s", self.consumer)

    def success(self, context: Mapping[str, Any], *, snapshot_id: str, produced: dict[str, Any]) -> str:
        """Record a success receipt for ``snapshot_id`` with what the run ``produced``; returns its URI."""
        return self._record(
            context, snapshot_id=snapshot_id, outcome="success", reason=None, produced=produced
        )

    def _record(
        self,
        context: Mapping[str, Any],
        *,
        snapshot_id: str,
        outcome: Literal["success", "failed"],
        reason: str | None,
        produced: dict[str, Any],
    ) -> str:
        dag_run = context["dag_run"]
        finished_at = datetime.now(UTC)
        receipt = Receipt(
            consumer=self.consumer,
            dataset_uri=self.dataset_uri or self.contract.dataset_uri(),
            snapshot_id=snapshot_id,
            dag_id=dag_run.dag_id,
            run_id=dag_run.run_id,
            outcome=outcome,
            reason=reason,
            started_at=dag_run.start_date or finished_at,
            finished_at=finished_at,
            produced=produced,
        )
        return record_receipt(receipt, storage_options=storage_options_from_connection(self.conn_id))


def _run_snapshot_id(context: Mapping[str, Any]) -> str | None:
    """The snapshot a run consumes: the newest of its triggering events, else ``params["snapshot_id"]``
    (a manual run), else the newest XCom ``snapshot_id`` pushed by any of its tasks."""

    def valid(value: Any) -> bool:
        return isinstance(value, str) and SNAPSHOT_ID_PATTERN.fullmatch(value) is not None

    triggering = context.get("triggering_asset_events") or {}
    manifests = manifests_from_events(event for events in triggering.values() for event in events)
    from_events = [m["snapshot_id"] for m in manifests if valid(m["snapshot_id"])]
    if from_events:
        return from_events[-1]
    from_params = (context.get("params") or {}).get("snapshot_id")
    if valid(from_params):
        return from_params
    ti = context["ti"]
    pushed = ti.xcom_pull(key="snapshot_id", task_ids=list(ti.task.dag.task_ids))
    from_xcoms = sorted(value for value in pushed or () if valid(value))
    return from_xcoms[-1] if from_xcoms else None
