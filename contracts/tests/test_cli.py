"""The ``housing-contract`` CLI, through typer's CliRunner: outputs and exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from housing_contracts import COLUMNS, CONTRACT_VERSION, V1, ContractViolation, publish, validate
from housing_contracts.cli import app
from housing_contracts.contract.description import frozen_path
from housing_contracts.contract.model import column_bounds

runner = CliRunner()


def _csv(df: pd.DataFrame, tmp_path: Path) -> str:
    path = tmp_path / "housing.csv"
    df.to_csv(path, index=False)
    return str(path)


def test_validate_conforming_csv_exits_0(frame: pd.DataFrame, tmp_path: Path) -> None:
    """A valid CSV passes with a one-line OK."""
    result = runner.invoke(app, ["validate", _csv(frame, tmp_path)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"OK: 1000 rows conform to california_housing {CONTRACT_VERSION}")


def _whole_number_csv(frame: pd.DataFrame, tmp_path: Path) -> str:
    """A CSV whose HouseAge column is written as whole numbers without a decimal point (41)."""
    path = tmp_path / "ints.csv"
    frame.assign(HouseAge=frame["HouseAge"].round().astype("int64")).to_csv(path, index=False)
    return str(path)


def test_cli_does_not_coerce_whole_number_csv_columns(frame: pd.DataFrame, tmp_path: Path) -> None:
    """A CSV column of whole numbers reads as int64 and fails the dtype check, as --help says."""
    result = runner.invoke(app, ["validate", _whole_number_csv(frame, tmp_path)])
    assert result.exit_code == 1
    assert "HouseAge | dtype('float64') | dtype float64" in result.stdout


def test_api_does_not_coerce_whole_number_csv_columns(frame: pd.DataFrame, tmp_path: Path) -> None:
    """The Python API gives the same verdict as the CLI on the same CSV read with pandas' defaults."""
    with pytest.raises(ContractViolation, match=r"HouseAge/dtype\('float64'\)"):
        validate(pd.read_csv(_whole_number_csv(frame, tmp_path)), contract=V1)


def test_cli_and_api_accept_whole_numbers_written_as_floats(frame: pd.DataFrame, tmp_path: Path) -> None:
    """Whole numbers written as floats (41.0, what pandas writes for float64) pass the CLI and the API."""
    frame["HouseAge"] = frame["HouseAge"].round()
    path = _csv(frame, tmp_path)
    assert runner.invoke(app, ["validate", path]).exit_code == 0
    validate(pd.read_csv(path), contract=V1)


@pytest.mark.parametrize("command", [[], ["validate"]])
def test_help_states_the_coercion_rule(command: list[str]) -> None:
    """--help of the CLI and of validate says that nothing is coerced and what that means for CSV."""
    result = runner.invoke(app, [*command, "--help"], terminal_width=200)
    assert result.exit_code == 0
    text = " ".join(result.stdout.replace("│", " ").split())
    assert "No coercion, exactly as the Python API's validate()" in text
    assert "reads as int64 and fails the dtype check" in text


def test_validate_violating_parquet_exits_1_naming_column_and_check(
    frame: pd.DataFrame, tmp_path: Path
) -> None:
    """A violation prints the report table (column, check, examples) and exits 1."""
    frame.loc[[3, 4], "Latitude"] = 45.0
    path = tmp_path / "bad.parquet"
    frame.to_parquet(path)
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 1
    assert "Latitude" in result.stdout
    assert "less_than_or_equal_to(42.0)" in result.stdout
    assert "45.0, 45.0" in result.stdout


def test_validate_json_report(frame: pd.DataFrame, tmp_path: Path) -> None:
    """--json prints the machine-readable report with failing row labels."""
    frame.loc[7, "MedHouseVal"] = 0.0
    result = runner.invoke(app, ["validate", "--json", _csv(frame, tmp_path)])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert [(f["column"], f["check"], f["index"]) for f in report["failures"]] == [
        ("MedHouseVal", "greater_than(0)", [7])
    ]


def test_validate_snapshot_uri(frame: pd.DataFrame, local_uri: str) -> None:
    """A snapshot URI is read, verified and validated."""
    snapshot_uri = publish(frame, local_uri, contract=V1).snapshot_uri
    result = runner.invoke(app, ["validate", snapshot_uri])
    assert result.exit_code == 0, result.output
    assert "1000 rows conform" in result.stdout


def test_validate_tampered_snapshot_exits_1_naming_the_file(frame: pd.DataFrame, local_uri: str) -> None:
    """A snapshot whose file no longer matches its manifest fails with the file named."""
    published = publish(frame, local_uri, contract=V1)
    part = Path(published.snapshot_uri.removeprefix("file://")) / "part-00000.parquet"
    part.write_bytes(part.read_bytes()[:-10])
    result = runner.invoke(app, ["validate", published.snapshot_uri])
    assert result.exit_code == 1
    assert "part-00000.parquet expected size" in result.stderr


def test_validate_missing_file_exits_2(tmp_path: Path) -> None:
    """A path that does not exist is an I/O error: exit 2 with a message naming it."""
    result = runner.invoke(app, ["validate", str(tmp_path / "nope.csv")])
    assert result.exit_code == 2
    assert "nope.csv" in result.stderr


def test_validate_unknown_format_exits_2(tmp_path: Path) -> None:
    """Only CSV, Parquet and snapshot URIs are understood."""
    path = tmp_path / "housing.xlsx"
    path.write_bytes(b"not a spreadsheet")
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    assert "expected a .csv or .parquet file" in result.stderr


def test_describe_prints_every_column_and_frame_check() -> None:
    """describe shows the contract as a table: columns with rules, and the frame checks."""
    result = runner.invoke(app, ["describe", "--version", CONTRACT_VERSION])
    assert result.exit_code == 0
    for column in COLUMNS:
        assert column in result.stdout
    for column, bounds in column_bounds(contract=V1).items():
        assert f"{column} " in result.stdout and f"| {bounds}, finite" in result.stdout
    assert "bedrooms_within_rooms" in result.stdout
    assert "s3://lake/california_housing/v1" in result.stdout
    assert "freshness: The producer confirms the data current at least every 24 hours" in result.stdout
    assert "deprecated: sunset 2027-03-31, successor s3://lake/california_housing/v2" in result.stdout


def test_validate_picks_the_version_by_columns_or_as_told(tmp_path: Path) -> None:
    """A 2.0 file is checked against 2.0.0 and a 1.x file against 1.1.0, unless --version says otherwise;
    the report names the version it checked."""
    from housing_contracts import V1, V2, convert
    from housing_contracts.testing import sample_frame

    v1, v2 = tmp_path / "v1.parquet", tmp_path / "v2.parquet"
    sample_frame(seed=4).to_parquet(v1)
    convert(sample_frame(seed=4), V1, V2).assign(median_income=-1.0).to_parquet(v2)
    assert "california_housing 1.1.0" in runner.invoke(app, ["validate", str(v1)]).stdout
    broken = runner.invoke(app, ["validate", str(v2)])
    assert broken.exit_code == 1 and "break california_housing 2.0.0" in broken.stdout
    assert "median_income/greater_than(0)" in broken.stdout
    forced = runner.invoke(app, ["validate", str(v1), "--version", "2.0.0"])
    assert forced.exit_code == 1 and "median_income/column_in_dataframe" in forced.stdout
    assert runner.invoke(app, ["validate", str(v1), "--version", "7.0.0"]).exit_code == 2


def test_describe_shows_the_newest_major_by_default() -> None:
    result = runner.invoke(app, ["describe"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("california_housing 2.0.0  s3://lake/california_housing/v2")
    assert "median_house_value" in result.stdout and "deprecated" not in result.stdout
    assert runner.invoke(app, ["describe", "--version", "9.9.9"]).exit_code == 2


def test_describe_json_is_the_frozen_description() -> None:
    """describe --json prints exactly what is frozen for this version."""
    result = runner.invoke(app, ["describe", "--version", CONTRACT_VERSION, "--json"])
    assert json.loads(result.stdout) == json.loads(frozen_path(CONTRACT_VERSION).read_text())


def test_describe_json_schema_of_a_row() -> None:
    """--json-schema exports a row's JSON Schema with the contract's bounds."""
    result = runner.invoke(app, ["describe", "--version", CONTRACT_VERSION, "--json-schema"])
    schema = json.loads(result.stdout)
    assert schema["required"] == list(COLUMNS)
    assert schema["additionalProperties"] is False
    assert schema["properties"]["MedHouseVal"]["exclusiveMinimum"] == 0
    assert schema["properties"]["Latitude"]["minimum"] == 32.5


def _changed_description(tmp_path: Path, edit: Any) -> str:
    description = json.loads(frozen_path(CONTRACT_VERSION).read_text())
    edit(description)
    path = tmp_path / "candidate.json"
    path.write_text(json.dumps(description))
    return str(path)


def test_diff_prints_classified_changes(tmp_path: Path) -> None:
    """diff OLD NEW lists each change with its class and the bump it needs."""
    candidate = _changed_description(tmp_path, lambda d: d["columns"].pop("AveOccup"))
    result = runner.invoke(app, ["diff", CONTRACT_VERSION, candidate])
    assert result.exit_code == 0, result.output
    assert "column_removed | AveOccup | breaking" in result.stdout
    assert "requires a major version bump" in result.stdout


def test_diff_can_fail_on_breaking_changes(tmp_path: Path) -> None:
    """--fail-on-breaking exits 1 when a change is breaking (for CI gates)."""
    candidate = _changed_description(tmp_path, lambda d: d["columns"]["MedInc"].update(dtype="float32"))
    result = runner.invoke(app, ["diff", CONTRACT_VERSION, candidate, "--fail-on-breaking"])
    assert result.exit_code == 1


def test_diff_of_frozen_and_live_has_no_changes() -> None:
    """The released version and the live contract are the same."""
    result = runner.invoke(app, ["diff", "2.0.0", "live"])
    assert result.exit_code == 0
    assert "no changes" in result.stdout


def test_diff_missing_file_exits_2(tmp_path: Path) -> None:
    """An unknown description source is a usage error naming it."""
    result = runner.invoke(app, ["diff", "live", str(tmp_path / "missing.json")])
    assert result.exit_code == 2
    assert "missing.json" in result.stderr


def test_snapshots_lists_committed_snapshots(local_uri: str) -> None:
    """snapshots URI prints one row per committed snapshot with its row count."""
    from housing_contracts.testing import sample_frame

    first = publish(sample_frame(seed=1), local_uri, producer={"run_id": "run-1"}, contract=V1).manifest
    second = publish(sample_frame(1200, seed=2), local_uri, contract=V1).manifest
    result = runner.invoke(app, ["snapshots", local_uri])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert (
        lines[0]
        == "california_housing 1.1.0: deprecated: sunset 2027-03-31, successor s3://lake/california_housing/v2"
    )
    assert lines[3].startswith(f"{first.snapshot_id} | 1000") and "run-1" in lines[3]
    assert lines[4].startswith(f"{second.snapshot_id} | 1200")


def test_snapshots_on_s3_uses_aws_environment(s3_server: Any, lake_uri: str, frame: pd.DataFrame) -> None:
    """The CLI reaches S3 through the standard AWS_* environment variables."""
    manifest = publish(frame, lake_uri, storage_options=s3_server.storage_options, contract=V1).manifest
    result = runner.invoke(app, ["snapshots", lake_uri], env=s3_server.env)
    assert result.exit_code == 0, result.output
    assert manifest.snapshot_id in result.stdout


def test_snapshots_of_empty_dataset(local_uri: str) -> None:
    """No snapshots yet is not an error."""
    result = runner.invoke(app, ["snapshots", local_uri])
    assert result.exit_code == 0
    assert "no committed snapshots" in result.stdout


@pytest.mark.parametrize("args", [["describe", "--json", "--json-schema"], ["validate"]])
def test_usage_errors_exit_2(args: list[str]) -> None:
    """Bad usage exits 2."""
    assert runner.invoke(app, args).exit_code == 2


def _consumed(uri: str, storage_options: dict[str, Any] | None = None) -> str:
    """A dataset with one snapshot that ml-team consumed (lag 0) and one subscriber that never did."""
    from datetime import UTC, datetime, timedelta

    from housing_contracts.consumers.records import Receipt, Subscription, record_receipt, subscribe
    from housing_contracts.testing import sample_frame

    snapshot_id = publish(
        sample_frame(seed=3), uri, storage_options=storage_options, contract=V1
    ).manifest.snapshot_id
    now = datetime.now(UTC)
    for consumer, max_lag in (("ml-team", timedelta(hours=6)), ("reporting", timedelta(milliseconds=1))):
        deployment = f"http://{consumer}:8080"
        subscription = Subscription(consumer, uri, deployment, max_lag, "latest", None, now, CONTRACT_VERSION)
        subscribe(subscription, storage_options=storage_options)
    receipt = Receipt("ml-team", uri, snapshot_id, "housing_consumer", "run-1", "success", None, now, now)
    record_receipt(receipt, storage_options=storage_options)
    return snapshot_id


def test_consumers_prints_one_row_per_consumer(local_uri: str) -> None:
    """consumers URI prints the table: last snapshot, outcome, lag, promise and status per consumer."""
    snapshot_id = _consumed(local_uri)
    result = runner.invoke(app, ["consumers", local_uri])
    assert result.exit_code == 0, result.output
    header, _, ml_team, reporting = result.stdout.splitlines()
    headers = [cell.strip() for cell in header.split(" | ")]
    assert headers[:4] == ["consumer", "deployment", "last snapshot", "outcome"]
    cells = [cell.strip() for cell in ml_team.split(" | ")]
    assert cells == ["ml-team", "http://ml-team:8080", snapshot_id, "success", "0", "0s", "≤ 6h", "ok"]
    assert reporting.startswith("reporting") and "never consumed | 1 " in reporting
    assert reporting.endswith("| BROKEN")


def test_consumers_json_is_the_rows_to_dict(s3_server: Any, lake_uri: str) -> None:
    """--json prints [row.to_dict()] of consumer_lag(), reaching S3 through the AWS_* variables."""
    from housing_contracts.consumers.lag import consumer_lag

    _consumed(lake_uri, s3_server.storage_options)
    result = runner.invoke(app, ["consumers", lake_uri, "--json"], env=s3_server.env)
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    expected = [row.to_dict() for row in consumer_lag(lake_uri, storage_options=s3_server.storage_options)]
    # the never-consumed row's lag grows with the clock between the two calls
    for row in (*printed, *expected):
        if row["consumer"] == "reporting":
            row.pop("lag_seconds")
    assert printed == expected
    assert [row["consumer"] for row in printed] == ["ml-team", "reporting"]


def test_consumers_fail_on_broken_exits_1(local_uri: str) -> None:
    """--fail-on-broken exits 1 when a consumer lags beyond its own promise; without it, 0."""
    _consumed(local_uri)
    assert runner.invoke(app, ["consumers", local_uri]).exit_code == 0
    result = runner.invoke(app, ["consumers", local_uri, "--fail-on-broken"])
    assert result.exit_code == 1
    assert "BROKEN" in result.stdout


def test_consumers_of_a_dataset_nobody_subscribed_to(local_uri: str) -> None:
    """No consumer is not an error, and --fail-on-broken has nothing to fail on."""
    result = runner.invoke(app, ["consumers", local_uri, "--fail-on-broken"])
    assert result.exit_code == 0
    assert result.stdout == f"no consumer has subscribed to {local_uri}\n"


def test_consumers_of_a_bucket_root_exits_2() -> None:
    """A URI without a dataset key below the bucket is a usage error, before any request."""
    result = runner.invoke(app, ["consumers", "s3://lake"])
    assert result.exit_code == 2
    assert "cannot list the consumers of s3://lake: dataset 'lake' has no key below its bucket" in (
        result.stderr
    )
