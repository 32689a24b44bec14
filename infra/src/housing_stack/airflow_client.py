"""A small client for the Airflow 3 REST API: what the demo and the end-to-end test need.

Both deployments use Airflow's simple auth manager; ``POST /auth/token`` trades the stack's
user and password for a JWT that every ``/api/v2`` call then carries.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import httpx

#: Terminal DagRun states.
FINISHED = frozenset({"success", "failed"})
#: Tries of an idempotent call that times out or finds the API server not answering.
TRANSIENT_ATTEMPTS = 5


class AirflowError(RuntimeError):
    """An Airflow REST call failed, or a run did not reach the expected state in time."""


@dataclass
class AirflowClient:
    """Talks to one Airflow deployment (``base_url`` like ``http://127.0.0.1:8080``)."""

    base_url: str
    username: str
    password: str
    timeout: float = 60.0
    _token: str | None = field(default=None, init=False, repr=False)

    def token(self) -> str:
        """The JWT this deployment issued for the client's user (asked for once)."""
        return self._headers()["Authorization"].removeprefix("Bearer ")

    def _headers(self) -> dict[str, str]:
        if self._token is None:
            response = httpx.post(
                f"{self.base_url}/auth/token",
                json={"username": self.username, "password": self.password},
                timeout=self.timeout,
            )
            if response.status_code not in (200, 201):
                raise AirflowError(
                    f"{self.base_url}: login as {self.username!r} failed: HTTP {response.status_code} "
                    f"{response.text[:200]}"
                )
            self._token = response.json()["access_token"]
        return {"Authorization": f"Bearer {self._token}"}

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Call ``/api/v2<path>`` and return the decoded JSON body (None for 204).

        Idempotent calls (GET, PATCH) are retried on timeouts and refused connections: an API server
        on a busy 2-core machine can stall for a while without anything being wrong.
        """
        attempts = TRANSIENT_ATTEMPTS if method in ("GET", "PATCH") else 1
        for attempt in range(1, attempts + 1):
            try:
                response = httpx.request(
                    method,
                    f"{self.base_url}/api/v2{path}",
                    headers=self._headers(),
                    timeout=self.timeout,
                    **kwargs,
                )
                break
            except httpx.TransportError as error:
                if attempt == attempts:
                    raise AirflowError(f"{method} {self.base_url}/api/v2{path}: {error!r}") from error
                time.sleep(2.0 * attempt)
        if response.status_code >= 400:
            raise AirflowError(
                f"{method} {self.base_url}/api/v2{path}: HTTP {response.status_code} {response.text[:300]}"
            )
        return response.json() if response.content else None

    def wait_for_dag(self, dag_id: str, timeout: float = 120.0) -> dict[str, Any]:
        """Wait until the DAG processor has parsed ``dag_id``; fail naming its import errors if any."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.request("GET", f"/dags/{dag_id}")
            except AirflowError as error:
                if "HTTP 404" not in str(error):
                    raise
            if time.monotonic() > deadline:
                errors = self.request("GET", "/importErrors").get("import_errors", [])
                detail = "; ".join(f"{e['filename']}: {e['stack_trace'][-300:]}" for e in errors) or "none"
                raise AirflowError(
                    f"{self.base_url}: DAG {dag_id!r} not parsed in {timeout:.0f} s; import errors: {detail}"
                )
            time.sleep(1.0)

    def unpause(self, dag_id: str) -> None:
        self.request("PATCH", f"/dags/{dag_id}", json={"is_paused": False})

    def pause(self, dag_id: str) -> None:
        self.request("PATCH", f"/dags/{dag_id}", json={"is_paused": True})

    def reparse(self, dag_id: str) -> None:
        """Ask the DAG processor to parse ``dag_id``'s file now rather than at its next interval (what it
        derives from the DAG's state, such as an asset's watchers, follows)."""
        token = self.request("GET", f"/dags/{dag_id}/details")["file_token"]
        self.request("PUT", f"/parseDagFile/{token}")

    def asset_watchers(self, uri: str) -> list[dict[str, Any]]:
        """The watchers (``name``, ``trigger_id``) the deployment runs for the asset with ``uri``."""
        assets = self.request("GET", "/assets", params={"uri_pattern": uri})["assets"]
        return [watcher for asset in assets if asset["uri"] == uri for watcher in asset["watchers"]]

    def schedule_asset_uris(self, dag_id: str) -> list[str]:
        """The URIs of the assets ``dag_id`` is scheduled on (not those its tasks produce or read)."""
        assets = self.request("GET", "/assets", params={"dag_ids": dag_id, "limit": 100})["assets"]
        return sorted(
            asset["uri"]
            for asset in assets
            if any(ref["dag_id"] == dag_id for ref in asset["scheduled_dags"])
        )

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        """Start a manual run now; returns its run id."""
        body = {"logical_date": None, "conf": conf or {}}
        return self.request("POST", f"/dags/{dag_id}/dagRuns", json=body)["dag_run_id"]

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        """Every run of ``dag_id``, oldest first."""
        return self.request("GET", f"/dags/{dag_id}/dagRuns", params={"order_by": "run_after", "limit": 100})[
            "dag_runs"
        ]

    def run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return self.request("GET", f"/dags/{dag_id}/dagRuns/{run_id}")

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        return self.request("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]

    def triggering_events(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """The asset events that created a run (their ``extra`` carries the trigger's payload)."""
        return self.request("GET", f"/dags/{dag_id}/dagRuns/{run_id}/upstreamAssetEvents")["asset_events"]

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int | None = None) -> str:
        """One try's log as the UI shows it (the last try by default): one line per record, and a task's
        exception as ``<type>: <message>`` lines (structured logs carry it in ``error_detail``)."""
        if try_number is None:
            path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}"
            try_number = max(self.request("GET", path)["try_number"], 1)
        lines = []
        for record in self._log_content(dag_id, run_id, task_id, try_number):
            if not isinstance(record, dict):
                lines.append(str(record))
                continue
            lines.append(str(record.get("event", record)))
            lines += [f"{e.get('exc_type')}: {e.get('exc_value')}" for e in record.get("error_detail") or []]
        return "\n".join(lines)

    def task_log_records(
        self, dag_id: str, run_id: str, task_id: str, try_number: int
    ) -> list[dict[str, Any]]:
        """One try's log as Airflow's structured records (``timestamp``, ``event`` and each record's extra
        keys), for timing a task from its own log (``bench/breakdown.py``)."""
        content = self._log_content(dag_id, run_id, task_id, try_number)
        return [record for record in content if isinstance(record, dict)]

    def _log_content(self, dag_id: str, run_id: str, task_id: str, try_number: int) -> list[Any]:
        """One try's log records as the API returns them (structured records, or lines of text)."""
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}"
        return self.request("GET", path, params={"full_content": True}).get("content", [])

    def tasks(self, dag_id: str) -> list[dict[str, Any]]:
        """The DAG's tasks as the deployment parsed them (``task_id``, ``downstream_task_ids``, ...)."""
        return self.request("GET", f"/dags/{dag_id}/tasks")["tasks"]

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}"
        return self.request("GET", path, params={"deserialize": True})["value"]
