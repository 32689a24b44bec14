"""``make demo``: run the producer on the real dataset and follow it to the consumer's decision.

The stack must be up (``make demo`` runs ``make up`` first). Prints live progress, then a summary, then
the consumers of the dataset ``housing_consumer`` subscribes to, as the data team sees them
(``housing-contract consumers``). Teams added with ``make new-consumer`` are followed too: each team's
``region_summary`` must take the snapshot of its own major, and its dataset's consumers are listed as well.
Exits non-zero with
the reason if a step fails or a timeout passes. The stack stays up for browsing.
"""

from __future__ import annotations

import argparse
import json
import sys

import httpx
from botocore.exceptions import BotoCoreError

from housing_contracts.consumers.lag import consumer_lag, format_consumers
from housing_stack.airflow_client import AirflowClient, AirflowError
from housing_stack.flow import (
    TEAM_CONSUMER_DAG,
    FlowError,
    FlowReport,
    OtherConsumer,
    reader_storage_options,
    run_flow,
    team_storage_options,
)
from housing_stack.identities import (
    DATA_TEAM,
    ML_TEAM,
    MLFLOW_USERS,
    Login,
    airflow_admin,
    airflow_reader,
    team_accounts,
)
from housing_stack.stack import Profile, StackConfig


def clients(config: StackConfig) -> tuple[AirflowClient, AirflowClient]:
    """REST clients for the data team's and the ML team's deployments."""
    data, ml = (AirflowClient(config.airflow_url(t), *config.airflow_admin(t)) for t in (DATA_TEAM, ML_TEAM))
    return data, ml


def team_consumers(config: StackConfig) -> list[OtherConsumer]:
    """The consumer DAG of each team the stack runs from ``make new-consumer``, with the team's keys."""
    return [
        OtherConsumer(
            team.name,
            AirflowClient(config.airflow_url(team.name), *config.airflow_admin(team.name)),
            TEAM_CONSUMER_DAG,
            team_storage_options(config, team.name),
        )
        for team in config.teams
    ]


def mlflow_run_url(tracking_uri: str, run_id: str, reader: Login) -> str:
    """The MLflow UI page of one run (looked up as ``reader``, an MLflow user who may read it)."""
    response = httpx.get(
        f"{tracking_uri}/api/2.0/mlflow/runs/get", params={"run_id": run_id}, auth=tuple(reader), timeout=10
    )
    response.raise_for_status()
    experiment_id = response.json()["run"]["info"]["experiment_id"]
    return f"{tracking_uri}/#/experiments/{experiment_id}/runs/{run_id}"


def summary(
    report: FlowReport, data: AirflowClient, ml: AirflowClient, tracking_uri: str, mlflow_reader: Login
) -> str:
    """The human-readable end of the demo."""
    lines = ["", "housing-handoff demo: summary", "=" * 60]

    def row(label: str, text: str) -> None:
        lines.append(f"{label:<16}{text}")

    row("dataset", f"{report.dataset_uri} (the one housing_consumer subscribes to)")
    if report.published and report.snapshot:
        snap = report.snapshot
        row("snapshot", f"{snap['snapshot_id']} ({snap['row_count']:,} rows)")
        row("", snap["snapshot_uri"])
    else:
        row("snapshot", "none: content unchanged since the newest snapshot")
    if report.cleaning:
        per_rule = ", ".join(f"{rule} {n}" for rule, n in report.cleaning["removed"].items())
        row("cleaning", f"removed {report.cleaning['rows_removed']} rows ({per_rule})")
    if report.event_latency_s is not None:
        row("event latency", f"{report.event_latency_s:.2f} s (manifest written → consumer queued)")
    if report.training:
        m = report.training["metrics"]
        row(
            "model",
            f"test_r2 {m['test_r2']:.4f}  test_rmse {m['test_rmse']:.4f}  test_mae {m['test_mae']:.4f}",
        )
        row(
            "baseline",
            f"test_r2 {m['baseline_test_r2']:.4f}  test_rmse {m['baseline_test_rmse']:.4f}  (RidgeCV)",
        )
    if report.decision:
        d = report.decision
        row("decision", f"version {d['version']} → {d['outcome']}: {d['reason']}")
    lines.append("phases")
    for phase in report.phases:
        lines.append(f"  {phase.seconds:8.2f} s  {phase.name}")
    if report.decision_s is not None:
        lines.append(f"  {report.decision_s:8.2f} s  producer triggered → decision (decide ended)")
    lines.append(f"  {report.total_s:8.2f} s  producer triggered → consumer run finished")
    for label, other in report.others.items():
        seconds = f"{other['seconds']:8.2f} s" if other["seconds"] is not None else "       - s"
        lines.append(f"  {seconds}  producer triggered → {label} run finished ({other['snapshot_id']})")
    lines.append("browse")
    row("  data Airflow", f"{data.base_url}/dags/housing_producer/runs/{report.producer_run_id}")
    if report.consumer_run_id:
        row("  ML Airflow", f"{ml.base_url}/dags/housing_consumer/runs/{report.consumer_run_id}")
    if report.training:
        row("  MLflow run", mlflow_run_url(tracking_uri, report.training["run_id"], mlflow_reader))
    lines.append("  (stop the stack with `make down`)")
    return "\n".join(lines)


def login_section(config: StackConfig) -> str:
    """The demo's last lines: how to log in to each deployment and to MLflow. Passwords are named, never
    printed: ``eval "$(make -s env)"`` exports them, and ``.env`` holds them all."""
    lines = ["", 'log in (passwords: eval "$(make -s env)", or .env)', "=" * 60]
    accounts = [(t, airflow_admin(t), airflow_reader(t)) for t in (DATA_TEAM, ML_TEAM)]
    accounts += [(t.name, *team_accounts(t)) for t in config.teams]
    for team, admin, reader in accounts:
        lines.append(
            f"  {team}'s Airflow  {config.airflow_url(team)}  admin {config.airflow_admin(team).user} "
            f"(${admin.password_var}); read-only for {reader.holder}: "
            f"{config.airflow_logins[reader.env_prefix].user} ({reader.password_var} in .env)"
        )
    data_user = next(user for user in MLFLOW_USERS if user.name == DATA_TEAM)
    lines.append(
        f"  MLflow  {config.mlflow_tracking_uri}  user {ML_TEAM} ($MLFLOW_TRACKING_PASSWORD); "
        f"{DATA_TEAM} reads ({data_user.password_var} in .env)"
    )
    return "\n".join(lines)


def consumers_section(dataset_uri: str, storage_options: dict) -> str:
    """The demo's last section: one row per consumer of ``dataset_uri`` with its lag and promise, read
    from the lake with ``storage_options`` (the data team's keys: it reads every consumer's records)."""
    rows = consumer_lag(dataset_uri, storage_options=storage_options)
    return "\n".join(["", f"consumers of {dataset_uri}", "=" * 60, format_consumers(rows)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="housing-stack demo", description=__doc__.splitlines()[0])
    parser.add_argument("--source", default="sklearn", help="producer `source` param (default: sklearn)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per wait (default 900)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON instead")
    parser.add_argument("--profile", type=Profile, default=Profile.EMBEDDED, help="the stack's profile")
    args = parser.parse_args(argv)

    config = StackConfig.local(profile=args.profile)
    data, ml = clients(config)
    tracking_uri = config.mlflow_tracking_uri
    try:
        lake = reader_storage_options(config)
        report = run_flow(
            data,
            ml,
            storage_options=lake,
            conf={"source": args.source},
            timeout=args.timeout,
            others=team_consumers(config),
        )
    except (FlowError, AirflowError, httpx.HTTPError) as error:
        print(f"demo failed: {error}", file=sys.stderr)
        print(
            f"see `make status PROFILE={args.profile}` and `make logs PROFILE={args.profile}`",
            file=sys.stderr,
        )
        return 1
    if args.json:
        print(json.dumps(report, default=lambda o: o.__dict__, indent=2))
        return 0
    # the data team's MLflow user: the producer may read which model its data trained
    print(summary(report, data, ml, tracking_uri, config.mlflow_logins[DATA_TEAM]))
    try:
        datasets = dict.fromkeys([report.dataset_uri, *(o["dataset_uri"] for o in report.others.values())])
        for dataset in datasets:
            print(consumers_section(dataset, team_storage_options(config, DATA_TEAM)))
    except (OSError, BotoCoreError, ValueError) as error:
        print(f"demo failed: cannot list the consumers of {report.dataset_uri}: {error!r}", file=sys.stderr)
        return 1
    print(login_section(config))
    return 0


if __name__ == "__main__":
    sys.exit(main())
