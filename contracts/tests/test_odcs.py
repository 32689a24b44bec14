"""The ODCS export: what the document says, and datacontract-cli accepting it (lint) and running its rules
against real snapshots on SeaweedFS (test), in its own venv (``make .venvs/datacontract/.install-stamp``)."""

from __future__ import annotations

import json
import math
import os
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from housing_contracts import V1, V2, publish
from housing_contracts.cli import app
from housing_contracts.contract.description import (
    describe,
    described_bounds,
    frozen_versions,
    load_description,
)
from housing_contracts.contract.model import Bounds
from housing_contracts.contract.odcs import odcs_document, odcs_filename, untranslated_checks
from housing_contracts.lake.layout import new_snapshot_id

runner = CliRunner()
REPO = Path(__file__).resolve().parents[2]
DATACONTRACT = Path(
    os.environ.get("DATACONTRACT_BIN", REPO / ".venvs" / "datacontract" / "bin" / "datacontract")
)


def _properties(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {prop["name"]: prop for prop in document["schema"][0]["properties"]}


def _bounds(options: dict[str, float]) -> Bounds:
    """The interval that a property's logicalTypeOptions allow."""
    low = options.get("minimum", options.get("exclusiveMinimum", -math.inf))
    high = options.get("maximum", options.get("exclusiveMaximum", math.inf))
    return Bounds(low, "exclusiveMinimum" not in options, high, "exclusiveMaximum" not in options)


@pytest.mark.parametrize("version", frozen_versions())
def test_each_column_has_its_physical_type_interval_and_description(version: str) -> None:
    """Every described column becomes a property: Parquet double, its interval, no nulls, its description."""
    description = load_description(version)
    properties = _properties(odcs_document(description))
    assert list(properties) == list(description["columns"])
    for name, column in description["columns"].items():
        prop = properties[name]
        assert (prop["physicalType"], prop["logicalType"], prop["logicalTypeOptions"]["format"]) == (
            "double",
            "number",
            "f64",
        )
        assert _bounds(prop["logicalTypeOptions"]) == described_bounds(column), name
        assert prop["required"] is not column["nullable"]
        assert prop["description"] == column["description"]


@pytest.mark.parametrize("version", frozen_versions())
def test_every_check_becomes_an_executable_rule(version: str) -> None:
    """Each named check of a released version is a rule datacontract can run (none left as text)."""
    description = load_description(version)
    document = odcs_document(description)
    rules = {rule["id"]: rule for rule in document["schema"][0]["quality"]}
    assert list(rules) == list(description["dataframe_checks"])
    min_rows = description["dataframe_checks"]["min_row_count"]["statistics"]["min_rows"]
    assert (rules["min_row_count"]["metric"], rules["min_row_count"]["mustBeGreaterOrEqualTo"]) == (
        "rowCount",
        min_rows,
    )
    pair = description["dataframe_checks"]["bedrooms_within_rooms"]["statistics"]
    column, other = pair["column"], pair["other"]
    assert rules["bedrooms_within_rooms"]["query"] == (
        f'SELECT COUNT(*) FROM {{object}} WHERE "{column}" > "{other}"'
    )
    finite = [r["id"] for p in _properties(document).values() for r in p["quality"]]
    assert finite == [f"{name}_finite" for name in description["columns"]]
    assert untranslated_checks(document) == []


def test_a_check_without_translation_is_kept_as_text() -> None:
    """A check the exporter cannot translate stays in the document as a text rule, and is listed."""
    description = describe(contract=V1)
    description["dataframe_checks"]["median_income_rises"] = {"statistics": {}, "description": "what it says"}
    document = odcs_document(description)
    assert document["schema"][0]["quality"][-1] == {
        "id": "median_income_rises",
        "name": "median_income_rises",
        "description": "what it says",
        "type": "text",
    }
    assert untranslated_checks(document) == ["median_income_rises"]


def test_freshness_promise_is_an_sla_property_from_1_1_0_on() -> None:
    """1.1.0's 24-hour promise is the SLA property frequency; 1.0.0 promised nothing."""
    sla = odcs_document(load_description("1.1.0"))["slaProperties"]
    assert [(p["property"], p["value"], p["unit"]) for p in sla] == [("frequency", 24, "h")]
    assert sla[0]["description"] == load_description("1.1.0")["freshness"]["description"]
    assert "slaProperties" not in odcs_document(load_description("1.0.0"))


def test_owner_identity_and_server() -> None:
    """The data team owns it; the server is the version's snapshots on S3, as Parquet."""
    document = odcs_document(load_description("1.1.0"))
    assert (document["apiVersion"], document["id"], document["version"]) == (
        "v3.1.0",
        "california_housing",
        "1.1.0",
    )
    assert document["team"]["name"] == "data-team"
    assert document["servers"][0] | {"description": ""} == {
        "server": "lake",
        "type": "s3",
        "location": "s3://lake/california_housing/v1/snapshots/*/*.parquet",
        "format": "parquet",
        "description": "",
    }


def test_server_points_at_another_location_or_one_snapshot(tmp_path: Path) -> None:
    """dataset_uri, endpoint_url and snapshot_id move the server; a folder is a local server."""
    description = load_description("1.1.0")
    snapshot_id, _ = new_snapshot_id()
    s3 = odcs_document(
        description, dataset_uri="s3://other/x/v1", endpoint_url="http://127.0.0.1:9", snapshot_id=snapshot_id
    )["servers"][0]
    assert (s3["type"], s3["location"], s3["endpointUrl"]) == (
        "s3",
        f"s3://other/x/v1/snapshots/{snapshot_id}/*.parquet",
        "http://127.0.0.1:9",
    )
    local = odcs_document(description, dataset_uri=(tmp_path / "v1").as_uri())["servers"][0]
    assert (local["type"], local["path"]) == ("local", f"{tmp_path}/v1/snapshots/*/*.parquet")
    with pytest.raises(ValueError, match="endpoint URL applies to an s3:// dataset"):
        odcs_document(description, dataset_uri=str(tmp_path), endpoint_url="http://127.0.0.1:9")


def test_cli_export_all_writes_one_file_per_frozen_version(tmp_path: Path) -> None:
    """--all --output DIR writes <name>-<version>.odcs.yaml for each frozen version, and lists them."""
    result = runner.invoke(app, ["export", "--format", "odcs", "--all", "--output", str(tmp_path)])
    assert result.exit_code == 0, result.output
    names = [odcs_filename(load_description(v)) for v in frozen_versions()]
    assert result.stdout.split() == [str(tmp_path / name) for name in names]
    for version, name in zip(frozen_versions(), names, strict=True):
        assert yaml.safe_load((tmp_path / name).read_text()) == odcs_document(load_description(version))


def test_cli_export_prints_the_live_version_by_default() -> None:
    """Without --version or --output the live contract's document goes to stdout."""
    result = runner.invoke(app, ["export", "--format", "odcs"])
    assert result.exit_code == 0, result.output
    assert yaml.safe_load(result.stdout) == odcs_document(describe(contract=V2))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--all"], "--all writes one file per version: give --output DIR"),
        (["--all", "--version", "1.0.0", "--output", "x"], "drop --version and --dataset-uri"),
        (["--snapshot", "latest"], "--snapshot 'latest' is not a snapshot id"),
        (["--version", "9.9.9"], "cannot export 9.9.9: no contract description at"),
    ],
)
def test_cli_export_usage_errors_exit_2(args: list[str], message: str) -> None:
    """Conflicting or unknown options exit 2 and say what is wrong."""
    result = runner.invoke(app, ["export", "--format", "odcs", *args])
    assert result.exit_code == 2
    assert message in result.stderr


# --- datacontract-cli ----------------------------------------------------------------------------------


def _datacontract(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    assert DATACONTRACT.exists(), f"{DATACONTRACT} is missing: make .venvs/datacontract/.install-stamp"
    return subprocess.Popen(
        [str(DATACONTRACT), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={
            "PATH": os.environ["PATH"],
            "HOME": os.environ.get("HOME", "/tmp"),
            "COLUMNS": "200",
            **(env or {}),
        },
    )


def _results(process: subprocess.Popen[str], output: Path) -> tuple[int, dict[str, Any]]:
    """Wait for a run written with --output-format json --output OUTPUT: its exit code and results."""
    text, _ = process.communicate(timeout=300)
    assert output.exists(), text
    return process.returncode, json.loads(output.read_text())


def test_datacontract_lint_accepts_every_version(tmp_path: Path) -> None:
    """datacontract lint finds every exported version valid ODCS, with every rule runnable (no warning)."""
    assert (
        runner.invoke(app, ["export", "--format", "odcs", "--all", "--output", str(tmp_path)]).exit_code == 0
    )
    runs = {
        path: _datacontract("lint", str(path), "--output-format", "json", "--output", str(path) + ".json")
        for path in sorted(tmp_path.glob("*.odcs.yaml"))
    }
    assert len(runs) == len(frozen_versions())
    for path, process in runs.items():
        code, results = _results(process, Path(str(path) + ".json"))
        assert (code, results["result"]) == (0, "passed"), results["checks"]
        assert [c["name"] for c in results["checks"]] == ["Data contract is valid against ODCS v3.1.0"]


@pytest.fixture
def reader_env(ml_team_s3: Any) -> dict[str, str]:
    """The ML team's read-only keys, as datacontract-cli reads them."""
    env = ml_team_s3.env
    return {
        "DATACONTRACT_S3_ACCESS_KEY_ID": env["AWS_ACCESS_KEY_ID"],
        "DATACONTRACT_S3_SECRET_ACCESS_KEY": env["AWS_SECRET_ACCESS_KEY"],
        "DATACONTRACT_S3_REGION": env["AWS_DEFAULT_REGION"],
    }


def _export(tmp_path: Path, name: str, uri: str, endpoint_url: str, snapshot_id: str) -> Path:
    path = tmp_path / f"{name}.odcs.yaml"
    args = [
        "--version",
        "1.1.0",
        "--dataset-uri",
        uri,
        "--endpoint-url",
        endpoint_url,
        "--snapshot",
        snapshot_id,
    ]
    args += ["--output", "-"]
    result = runner.invoke(app, ["export", "--format", "odcs", *args])
    assert result.exit_code == 0, result.output
    path.write_text(result.stdout)
    return path


def _write_snapshot_files(frame: pd.DataFrame, uri: str, storage_options: dict[str, Any]) -> str:
    """Parquet files where a snapshot's lie, bypassing publish (which would refuse a broken frame)."""
    snapshot_id, _ = new_snapshot_id()
    frame.to_parquet(f"{uri}/snapshots/{snapshot_id}/part-00000.parquet", storage_options=storage_options)
    return snapshot_id


def _failed(results: dict[str, Any]) -> set[tuple[str | None, str]]:
    """(field, what) of each failed check: the rule's id for quality rules, else the check's type."""
    return {(c["field"], c["qualityId"] or c["type"]) for c in results["checks"] if c["result"] == "failed"}


def test_datacontract_test_passes_on_a_real_snapshot_and_fails_on_broken_files(
    cleaned_frame: pd.DataFrame,
    s3_server: Any,
    team_lake_uri: str,
    data_team_s3: Any,
    reader_env: dict[str, str],
    tmp_path: Path,
) -> None:
    """On SeaweedFS: the real published snapshot passes every rule; files that break rules fail, naming
    each broken rule (a value above HouseAge's cap, a negative MedInc, more bedrooms than rooms, an
    infinite Population), and a file without Latitude fails its presence check."""
    endpoint = s3_server.endpoint_url
    snapshot_id = publish(
        cleaned_frame, team_lake_uri, storage_options=data_team_s3.storage_options, contract=V1
    )
    snapshot_id = snapshot_id.manifest.snapshot_id
    broken = cleaned_frame.copy()
    broken.loc[0, "HouseAge"] = 80.0
    broken.loc[1, "MedInc"] = -1.0
    broken.loc[2, ["AveRooms", "AveBedrms"]] = [2.0, 3.0]
    broken.loc[3, "Population"] = np.inf
    broken_id = _write_snapshot_files(broken, team_lake_uri, data_team_s3.storage_options)
    missing_id = _write_snapshot_files(
        cleaned_frame.drop(columns="Latitude"), team_lake_uri, data_team_s3.storage_options
    )

    runs = {}
    for name, snapshot in [("real", snapshot_id), ("broken", broken_id), ("missing", missing_id)]:
        path = _export(tmp_path, name, team_lake_uri, endpoint, snapshot)
        output = tmp_path / f"{name}.json"
        runs[name] = (
            _datacontract(
                "test", str(path), "--output-format", "json", "--output", str(output), env=reader_env
            ),
            output,
        )
    (real_code, real), (broken_code, broken_results), (missing_code, missing) = (
        _results(process, output) for process, output in runs.values()
    )

    assert (real_code, real["result"]) == (0, "warning"), _failed(real)
    assert _failed(real) == set()
    # the only warnings: datacontract-cli does not check column types in Parquet files
    assert {c["type"] for c in real["checks"] if c["result"] == "warning"} == {"field_type"}
    executed = {c["qualityId"] for c in real["checks"] if c["result"] == "passed"}
    assert {"bedrooms_within_rooms", "min_row_count", "MedInc_finite"} <= executed

    assert broken_code == 1
    assert _failed(broken_results) == {
        ("HouseAge", "field_maximum"),
        ("MedInc", "field_minimum"),
        (None, "bedrooms_within_rooms"),
        ("Population", "Population_finite"),
        ("Population", "field_maximum"),
    }
    assert missing_code == 1
    assert ("Latitude", "field_is_present") in _failed(missing)
