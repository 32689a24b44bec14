"""
### housing_producer: publish validated California-housing snapshots to the lake, in every contract version

The data team's producer. Each run reads one source, cleans it by documented rules, validates it once
against the shared contract (`housing_contracts`, 1.x: the columns the source speaks) and publishes it
to every released major of the contract, each an immutable snapshot under its own URI:
`s3://lake/california_housing/v1` (1.1.0, deprecated: see its sunset and successor in each manifest)
and `s3://lake/california_housing/v2` (2.0.0: snake_case columns, money in US dollars, converted by the
contract package). The ML team's deployment polls the URI it subscribes to for committed manifests.

`extract` → `clean` → `publish`, then `remove_staging` (teardown).

- **extract**: param `source` = `sklearn` (scikit-learn's dataset, honours `SCIKIT_LEARN_DATA`) or a
  `file://` / `s3://` URI (or path) of a CSV or Parquet file with the nine 1.x contract columns.
- **clean**: drops duplicates, rows with missing/non-finite values and implausible block groups (the
  contract's caps); counts per rule go to the log and the manifest. Removing more than
  `max_drop_share` of the rows fails the run: a source that bad is an incident.
- **publish**: validates against the contract once, all checks at once; on failure the report
  (`report.json`) and the offending rows (`rows.parquet`) go to
  `s3://lake/_quarantine/california_housing/<run>/`, and nothing is published in any version. Otherwise
  `housing_contracts.publish_all` publishes each version atomically and idempotently: a new snapshot
  ends with its `_manifest.json`, the file the ML team's watcher polls for. Each version has its own
  Asset (`california_housing_v1`, `california_housing_v2`) and gets an asset event here, whose extra
  carries that snapshot's manifest summary, only when this run created a snapshot there: which majors
  those are is known only at run time, so the task's outlet is the asset alias
  `california_housing_published`, through which it adds one event per snapshot created. A version
  retired with `housing-contract retire` is skipped and the log says so ("california_housing v1 retired
  at … by …: not published"); its snapshots stay readable. Unchanged content writes nothing: when no
  version got a snapshot the task is *skipped*, so the watchers have nothing to fire on and identical
  data is not retrained on. Its XCom is `{"v1": summary or None, "v2": summary or None}`.

Frames travel between tasks as Parquet staged under `s3://lake/california_housing/_staging/<run>/`
(XCom lives in the metadata database; it carries only URIs and counts). Readers only see
`<dataset>/snapshots/*/_manifest.json`, so staged files are invisible to them, and the teardown deletes
them when the run ends, whether it published, skipped or quarantined.

Data errors (bad source, cleaning incident, contract violation, a publish to a retired version) fail at
once; only storage errors (`OSError`, botocore errors) are retried, with exponential backoff. S3
credentials come only from the Airflow connection `lake_s3`. Logic lives in `include/housing_data/`;
this file only wires it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from airflow.sdk import AssetAlias, Param, dag, task
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from housing_contracts import CONTRACTS
from housing_contracts.airflow.asset import dataset_asset
from include.housing_data import settings
from include.housing_data.connections import lake_storage_options
from include.housing_data.retries import default_args

#: Each released major's Asset (``california_housing_v1``, ``california_housing_v2``), oldest first.
SNAPSHOTS = {contract: dataset_asset(contract) for contract in CONTRACTS}
#: The publish task's outlet. Airflow emits an event for every Asset a task declares, so the majors are not
#: declared: the task adds an event through this alias for each major it created a snapshot in.
PUBLISHED = AssetAlias(name="california_housing_published")


@contextmanager
def _data_errors_fail() -> Iterator[None]:
    """Turn deterministic data errors into AirflowFailException, so they are never retried."""
    from housing_contracts import ContractError
    from include.housing_data.clean import CleaningIncident
    from include.housing_data.extract import SourceError
    from include.housing_data.producer import Quarantined

    try:
        yield
    except (SourceError, CleaningIncident, Quarantined, ContractError) as err:
        raise AirflowFailException(str(err)) from err


@dag(
    schedule="@daily",
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=settings.TAGS,
    default_args=default_args(),
    params={
        "source": Param(
            settings.DEFAULT_SOURCE,
            type="string",
            minLength=1,
            description="'sklearn', or a file:// or s3:// URI (or path) of a CSV or Parquet file",
        ),
        "max_drop_share": Param(
            settings.DEFAULT_MAX_DROP_SHARE,
            type="number",
            minimum=0,
            maximum=1,
            description="largest share of rows cleaning may remove before the run fails",
        ),
    },
)
def housing_producer():
    @task
    def extract(params: dict[str, Any] | None = None, run_id: str | None = None) -> dict[str, Any]:
        """Read the source and stage it as Parquet."""
        from include.housing_data.producer import extract_step

        with _data_errors_fail():
            return extract_step(params["source"], run_id=run_id, storage_options=lake_storage_options())

    @task
    def clean(
        extracted: dict[str, Any], params: dict[str, Any] | None = None, run_id: str | None = None
    ) -> dict[str, Any]:
        """Apply the cleaning rules; fail if they would remove too many rows."""
        from include.housing_data.producer import clean_step

        with _data_errors_fail():
            return clean_step(
                extracted["staged"],
                run_id=run_id,
                max_drop_share=float(params["max_drop_share"]),
                storage_options=lake_storage_options(),
            )

    @task(outlets=[PUBLISHED])
    def publish(
        extracted: dict[str, Any],
        cleaned: dict[str, Any],
        dag_run: Any = None,
        outlet_events: Any = None,
    ) -> dict[str, Any]:
        """Validate once and publish every version that is not retired (quarantine the frame if it breaks
        the contract); one asset event per snapshot created; skip if no version got one."""
        from include.housing_data.producer import manifest_summary, publish_step

        with _data_errors_fail():
            published = publish_step(
                cleaned["staged"],
                run_id=dag_run.run_id,
                producer={"dag_id": dag_run.dag_id, "run_id": dag_run.run_id},
                extras={"cleaning": cleaned["cleaning"], "source": extracted["source"]},
                storage_options=lake_storage_options(),
            )
        if not published.created:
            # No snapshot was written (only confirmations that the newest are current), so the ML team's
            # manifest watcher does not fire; skipped, no asset event.
            current = ", ".join(f"{c.label} {m.snapshot_id}" for c, m in published.unchanged.items())
            raise AirflowSkipException(
                f"content unchanged since {current}"
                if current
                else "every version is retired: nothing published"
            )
        for contract, manifest in published.created.items():
            outlet_events[PUBLISHED].add(SNAPSHOTS[contract], extra=manifest_summary(manifest))
        return published.summaries()

    @task
    def remove_staging(run_id: str | None = None) -> int:
        """Delete the frames this run staged."""
        from include.housing_data.producer import remove_staging_step

        return remove_staging_step(run_id=run_id, storage_options=lake_storage_options())

    extracted = extract()
    cleaned = clean(extracted)
    published = publish(extracted, cleaned)
    published >> remove_staging().as_teardown(setups=extracted)


housing_producer()
