"""``housing-contract``: validate data, diff contract versions, describe the contract, list snapshots.

Exit codes: 0 success, 1 the data (or snapshot) breaks the contract, 2 usage or I/O error.
S3 credentials and endpoint come from the standard AWS environment variables.
"""

from __future__ import annotations

import json
from pathlib import PurePosixPath
from typing import Annotated, Any

import typer

from housing_contracts.tables import format_table

app = typer.Typer(
    name="housing-contract",
    help="The California-housing data contract: validate, diff, describe, snapshots.",
    no_args_is_help=True,
    add_completion=False,
)

EXIT_VIOLATION = 1
EXIT_USAGE = 2


def _fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _load_frame(source: str) -> Any:
    """Read a CSV or Parquet file (local path or fsspec URI) as a DataFrame."""
    import pandas as pd

    from housing_contracts.dataset import COLUMNS
    from housing_contracts.storage import resolve

    suffix = PurePosixPath(source.split("?")[0]).suffix.lower()
    fs, path = resolve(source)
    with fs.open(path, "rb") as handle:
        if suffix == ".csv":
            frame = pd.read_csv(handle)
            # CSV has no types: whole numbers (HouseAge "41") parse as int64; the contract's columns are float
            for column in COLUMNS:
                if column in frame and pd.api.types.is_integer_dtype(frame[column]):
                    frame[column] = frame[column].astype("float64")
            return frame
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(handle)
    raise _fail(f"{source}: expected a .csv or .parquet file or a snapshot URI (…/snapshots/<id>)")


@app.command()
def validate(
    source: Annotated[str, typer.Argument(help="CSV or Parquet file, or a snapshot URI …/snapshots/<id>")],
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """Validate a file or a snapshot against the contract; exit 1 naming every failing column and check."""
    from housing_contracts.errors import (
        ContractViolation,
        IncompatibleContractError,
        SnapshotIntegrityError,
        SnapshotNotFoundError,
    )
    from housing_contracts.report import ValidationReport
    from housing_contracts.schema import validate as validate_frame
    from housing_contracts.snapshots import read_snapshot, split_snapshot_uri

    try:
        snapshot = split_snapshot_uri(source)
        if snapshot is not None:
            frame = read_snapshot(snapshot[0], snapshot[1]).frame  # verifies files and validates
        else:
            frame = validate_frame(_load_frame(source))
    except ContractViolation as violation:
        typer.echo(violation.report.to_json(indent=2) if as_json else violation.report.to_text())
        raise typer.Exit(EXIT_VIOLATION) from None
    except (SnapshotIntegrityError, IncompatibleContractError) as exc:
        raise _fail(str(exc), EXIT_VIOLATION) from None
    except (SnapshotNotFoundError, FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        raise _fail(f"{source}: {exc}") from None
    except (OSError, ValueError) as exc:
        raise _fail(f"cannot read {source}: {exc}") from None
    from housing_contracts.dataset import CONTRACT_NAME, CONTRACT_VERSION

    report = ValidationReport(CONTRACT_NAME, CONTRACT_VERSION, len(frame))
    typer.echo(report.to_json(indent=2) if as_json else f"OK: {report.summary()}")


@app.command()
def diff(
    old: Annotated[
        str, typer.Argument(help="'live', a frozen version (e.g. 1.0.0) or a description JSON file")
    ],
    new: Annotated[str, typer.Argument(help="'live', a frozen version or a description JSON file")] = "live",
    as_json: Annotated[bool, typer.Option("--json", help="print the diff as JSON")] = False,
    fail_on_breaking: Annotated[bool, typer.Option(help="exit 1 if any change is breaking")] = False,
) -> None:
    """Classify every change from OLD to NEW as breaking or compatible."""
    from housing_contracts.compat import diff as diff_descriptions
    from housing_contracts.compat import load_description

    try:
        result = diff_descriptions(load_description(old), load_description(new))
    except (OSError, ValueError, KeyError) as exc:
        raise _fail(f"cannot compare {old} with {new}: {exc!s}") from None
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2, default=str))
    elif not result.changes:
        typer.echo(f"{result.old_version} -> {result.new_version}: no changes")
    else:
        rows = [
            (c.kind, c.subject, "breaking" if c.breaking else "compatible", c.reason) for c in result.changes
        ]
        typer.echo(format_table(("change", "subject", "class", "reason"), rows))
        typer.echo(
            f"{result.old_version} -> {result.new_version}: requires a {result.required_bump} version bump"
        )
    if fail_on_breaking and result.breaking:
        raise typer.Exit(EXIT_VIOLATION)


@app.command()
def describe(
    as_json: Annotated[
        bool, typer.Option("--json", help="the canonical description (what is frozen)")
    ] = False,
    json_schema: Annotated[bool, typer.Option("--json-schema", help="JSON Schema of one row")] = False,
) -> None:
    """Show the contract as a table, as its canonical JSON description, or as a row JSON Schema."""
    from housing_contracts.compat import describe as describe_contract
    from housing_contracts.compat import row_json_schema
    from housing_contracts.schema import column_bounds, contract_schema

    if as_json and json_schema:
        raise _fail("choose one of --json and --json-schema")
    if json_schema:
        typer.echo(json.dumps(row_json_schema(), indent=2))
        return
    description = describe_contract()
    if as_json:
        typer.echo(json.dumps(description, indent=2))
        return
    schema = contract_schema()
    bounds = column_bounds()
    rows = []
    for name, column in schema.columns.items():
        b = bounds[name]
        rule = (
            f"{b.low:g} {'<=' if b.low_inclusive else '<'} x {'<=' if b.high_inclusive else '<'} {b.high:g}"
        )
        extra = [c.name for c in column.checks if c.name not in _BOUND_NAMES]
        rows.append(
            (
                name,
                str(column.dtype),
                "yes" if column.nullable else "no",
                ", ".join([rule, *extra]),
                column.description,
            )
        )
    contract = description["contract"]
    typer.echo(f"{contract['name']} {contract['version']}  {description['dataset_uri']}")
    typer.echo(format_table(("column", "dtype", "nullable", "rule", "description"), rows))
    frame_rows = [(c.name, c.description) for c in schema.checks]
    typer.echo(format_table(("frame check", "rule"), frame_rows))
    typer.echo(f"strict: {schema.strict} (exactly these columns, any order)")


_BOUND_NAMES = {"greater_than", "greater_than_or_equal_to", "less_than", "less_than_or_equal_to", "in_range"}


@app.command()
def snapshots(
    uri: Annotated[str, typer.Argument(help="dataset URI, e.g. s3://lake/california_housing/v1")],
    as_json: Annotated[bool, typer.Option("--json", help="print the manifests as JSON")] = False,
) -> None:
    """List the committed snapshots under URI (oldest first) with row counts and times."""
    from housing_contracts.errors import ContractError
    from housing_contracts.snapshots import list_snapshots

    try:
        manifests = list_snapshots(uri)
    except (ContractError, OSError, ValueError) as exc:
        raise _fail(f"cannot list snapshots under {uri}: {exc}") from None
    if as_json:
        typer.echo(json.dumps([m.to_dict() for m in manifests], indent=2))
    elif not manifests:
        typer.echo(f"no committed snapshots under {uri}")
    else:
        rows = [
            (
                m.snapshot_id,
                m.row_count,
                m.created_at.isoformat(),
                m.contract.version,
                m.producer.get("run_id", ""),
            )
            for m in manifests
        ]
        typer.echo(format_table(("snapshot_id", "rows", "created_at", "contract", "run_id"), rows))


def main() -> None:
    """Console-script entry point."""
    app()
