"""``housing-contract``: a command line over the Python API (validate, diff, describe, snapshots, quarantine,
consumers, retire, export).

Exit codes: 0 success, 1 the data (or snapshot) breaks the contract, 2 usage or I/O error.
S3 credentials and endpoint come from the standard AWS environment variables.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Annotated

import typer

from housing_contracts.contract.tables import format_table

if TYPE_CHECKING:
    from housing_contracts.contract.compatibility import Change
    from housing_contracts.contract.versions import Contract

NO_COERCION = (
    "No coercion, exactly as the Python API's validate(): every column must already be float64. A CSV is "
    "read with pandas' defaults, so a column of whole numbers written without a decimal point (41, not "
    "41.0) reads as int64 and fails the dtype check."
)
EXIT_VIOLATION = 1
EXIT_USAGE = 2

app = typer.Typer(
    name="housing-contract",
    help="The California-housing data contract: validate, diff, describe, snapshots, quarantine, consumers, "
    "retire, export."
    f"\n\n{NO_COERCION}",
    no_args_is_help=True,
    add_completion=False,
)


def _fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


@app.command(
    help=f"Validate a CSV or Parquet file, or a snapshot, against the contract; exit 1 naming every "
    f"failing column and check. A file is checked against --version, else against the live version whose "
    f"columns it shares most; a snapshot against the version its manifest names.\n\n{NO_COERCION}"
)
def validate(
    source: Annotated[str, typer.Argument(help="CSV or Parquet file, or a snapshot URI …/snapshots/<id>")],
    version: Annotated[str | None, typer.Option(help="a live version, e.g. 1.1.0 or 2.0.0")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    import pandas as pd

    import housing_contracts as api
    from housing_contracts.lake.catalog import split_snapshot_uri

    readers = {".csv": pd.read_csv, ".parquet": pd.read_parquet, ".pq": pd.read_parquet}
    snapshot = split_snapshot_uri(source)
    read = readers.get(PurePosixPath(source.split("?")[0]).suffix.lower())
    if snapshot is None and read is None:
        raise _fail(f"{source}: expected a .csv or .parquet file or a snapshot URI (…/snapshots/<id>)")
    if version is not None and version not in {c.version for c in api.CONTRACTS}:
        raise _fail(f"--version {version}: not a live version (one of {[c.version for c in api.CONTRACTS]})")
    try:
        if snapshot:
            loaded = api.read_snapshot(*snapshot)
            frame, contract = loaded.frame, loaded.contract
        else:
            frame = read(source)
            contract = _contract_of_frame(list(frame.columns), version)
            api.validate(frame, contract)
        report = api.ValidationReport(contract.name, contract.version, len(frame))
    except api.ContractViolation as violation:
        report = violation.report
    except (api.SnapshotIntegrityError, api.IncompatibleContractError) as exc:
        raise _fail(str(exc), EXIT_VIOLATION) from None
    except (api.SnapshotNotFoundError, OSError, ValueError) as exc:  # no such snapshot or file, unreadable
        raise _fail(f"cannot read {source}: {exc}") from None
    text = report.to_text() if not report.ok else f"OK: {report.summary()}"
    typer.echo(report.to_json(indent=2) if as_json else text)
    if not report.ok:
        raise typer.Exit(EXIT_VIOLATION)


def _contract_of_frame(columns: list[str], version: str | None) -> Contract:
    """The live contract named by ``version``, else the one sharing most columns (the newest on a tie)."""
    from housing_contracts.contract.versions import CONTRACTS

    if version is not None:
        return next(c for c in CONTRACTS if c.version == version)
    return max(reversed(CONTRACTS), key=lambda c: len(set(c.columns) & set(columns)))


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
    from housing_contracts.contract.compatibility import diff as diff_descriptions
    from housing_contracts.contract.description import load_description

    try:
        result = diff_descriptions(load_description(old), load_description(new))
    except (OSError, ValueError, KeyError) as exc:
        raise _fail(f"cannot compare {old} with {new}: {exc!s}") from None
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2, default=str))
    elif not result.changes:
        typer.echo(f"{result.old_version} -> {result.new_version}: no changes")
    else:
        classes = {True: "breaking", False: "compatible"}
        rows = [(c.kind, c.subject, classes[c.breaking], c.reason, _old_to_new(c)) for c in result.changes]
        typer.echo(format_table(("change", "subject", "class", "reason", "old -> new"), rows))
        typer.echo(
            f"{result.old_version} -> {result.new_version}: requires a {result.required_bump} version bump"
        )
    if fail_on_breaking and result.breaking:
        raise typer.Exit(EXIT_VIOLATION)


def _old_to_new(change: Change) -> str:
    return "" if change.old is None and change.new is None else f"{change.old} -> {change.new}"


@app.command()
def describe(
    version: Annotated[
        str | None, typer.Option(help="a live version, e.g. 1.1.0 or 2.0.0 (default: the newest)")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="the canonical description (what is frozen)")
    ] = False,
    json_schema: Annotated[bool, typer.Option("--json-schema", help="JSON Schema of one row")] = False,
) -> None:
    """Show a live contract version as a table (with its deprecation), as its canonical JSON description,
    or as a row JSON Schema."""
    from housing_contracts.contract.description import describe as describe_contract
    from housing_contracts.contract.description import described_bounds
    from housing_contracts.contract.json_schema import row_json_schema
    from housing_contracts.contract.model import BOUND_CHECKS
    from housing_contracts.contract.versions import CONTRACTS

    if as_json and json_schema:
        raise _fail("choose one of --json and --json-schema")
    contract = next((c for c in CONTRACTS if c.version == version), None) if version else CONTRACTS[-1]
    if contract is None:
        raise _fail(
            f"--version {version}: not a live version (expected one of {[c.version for c in CONTRACTS]})"
        )
    description = describe_contract(contract=contract)
    if as_json or json_schema:
        typer.echo(json.dumps(row_json_schema(description) if json_schema else description, indent=2))
        return
    rows = [
        (
            name,
            column["dtype"],
            "yes" if column["nullable"] else "no",
            ", ".join(
                [str(described_bounds(column)), *(c for c in column["checks"] if c not in BOUND_CHECKS)]
            ),
            column["description"],
        )
        for name, column in description["columns"].items()
    ]
    frame_rows = [(name, check["description"]) for name, check in description["dataframe_checks"].items()]
    typer.echo(f"{contract.label}  {description['dataset_uri']}")
    typer.echo(format_table(("column", "dtype", "nullable", "rule", "description"), rows))
    typer.echo(format_table(("frame check", "rule"), frame_rows))
    typer.echo(f"strict: {description['options']['strict']} (exactly these columns, any order)")
    if "freshness" in description:
        typer.echo(f"freshness: {description['freshness']['description']}")
    if contract.deprecation is not None:
        typer.echo(contract.deprecation.text())


@app.command()
def snapshots(
    uri: Annotated[str, typer.Argument(help="dataset URI, e.g. s3://lake/california_housing/v1")],
    as_json: Annotated[bool, typer.Option("--json", help="print the readable manifests as JSON")] = False,
) -> None:
    """List the readable committed snapshots under URI (oldest first) with row counts and times; first the
    version's lifecycle: deprecated (sunset, successor) and retired (when, by whom). Then each skipped
    snapshot (corrupt or foreign manifest) with its reason, and each quarantined one (when, by whom,
    why). With --json the readable manifests go to stdout and those lines to stderr."""
    from housing_contracts import ContractError
    from housing_contracts.contract.versions import contract_for
    from housing_contracts.lake.catalog import readable_snapshots
    from housing_contracts.lake.quarantine import QUARANTINE_DIR, list_quarantined
    from housing_contracts.lake.retirement import retirement
    from housing_contracts.lake.storage import resolve

    try:
        listing = readable_snapshots(uri)
        retired = retirement(uri)
        quarantined, bad_records = list_quarantined(*resolve(uri))
    except (ContractError, OSError, ValueError) as exc:
        raise _fail(f"cannot list snapshots under {uri}: {exc}") from None
    manifests = listing.manifests
    contract = contract_for(uri)
    lifecycle = [contract.deprecation.text()] if contract and contract.deprecation else []
    lifecycle += [retired.text()] if retired else []
    notes = [f"skipped {skip.text()}" for skip in listing.skipped]
    if quarantined or bad_records:
        notes.append(f"quarantined: {len(quarantined)} (kept in {uri.rstrip('/')}/{QUARANTINE_DIR}/)")
        notes += [f"  {record.text()}" for record in quarantined]
        notes += [f"  unreadable quarantine record {problem}" for problem in bad_records]
    if as_json:
        typer.echo(json.dumps([m.to_dict() for m in manifests], indent=2))
        for line in notes:
            typer.echo(line, err=True)
        return
    for line in lifecycle:
        typer.echo(f"{contract.label if contract else uri}: {line}")
    if not manifests:
        typer.echo(f"no {'readable ' if listing.skipped else ''}committed snapshots under {uri}")
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
    for line in notes:
        typer.echo(line)


@app.command()
def quarantine(
    target: Annotated[
        str, typer.Argument(help="a snapshot URI …/snapshots/<id>, or a dataset URI followed by SNAPSHOT_ID")
    ],
    snapshot_id: Annotated[
        str | None, typer.Argument(help="the snapshot id, when TARGET is a dataset URI")
    ] = None,
    reason: Annotated[str, typer.Option(help="why (recorded; required)")] = "",
    by: Annotated[str, typer.Option(help="who quarantines it (recorded; default: your user name)")] = "",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="show what would move; change nothing")] = False,
    force: Annotated[
        bool, typer.Option("--force", help="also quarantine a readable snapshot (consumers may read it)")
    ] = False,
) -> None:
    """Move one snapshot out of snapshots/ to <dataset>/_quarantine/<id>/, keeping its bytes, with a record
    <dataset>/_quarantine/<id>.json of who, when and why. Run by the dataset's owner (the data team's S3
    identity); a reader's identity is refused by the store before anything moves.

    Copies each file, verifies the copy's size and sha256, writes the record, then deletes the original
    (manifest first). A run stopped halfway loses nothing: run it again to finish it. A corrupt or foreign
    snapshot (readers already skip it) goes at once; a readable one is refused (exit 1, saying who read
    it and what the newest snapshot becomes) unless --force, and so is a folder without a manifest (a
    publish may still be writing it). --dry-run prints the plan and changes nothing. Exit 2 for a usage,
    storage or permission error.
    """
    import getpass

    from housing_contracts.consumers.lifecycle import QuarantineRefused, quarantine_snapshot
    from housing_contracts.contract.errors import ContractError
    from housing_contracts.lake.catalog import split_snapshot_uri

    named = split_snapshot_uri(target)
    if named is not None and snapshot_id is None:
        uri, snapshot_id = named
    elif named is None and snapshot_id is not None:
        uri = target
    else:
        raise _fail("give a snapshot URI (…/snapshots/<id>), or a dataset URI and a SNAPSHOT_ID")
    if not reason.strip():
        raise _fail("--reason is required: it is recorded for whoever inspects the snapshot")
    try:
        outcome = quarantine_snapshot(
            uri, snapshot_id, reason=reason, by=by or getpass.getuser(), force=force, dry_run=dry_run
        )
    except QuarantineRefused as refused:
        raise _fail(f"refused: {refused}", EXIT_VIOLATION) from None
    except PermissionError as exc:
        raise _fail(
            f"cannot quarantine {snapshot_id} of {uri}: permission denied ({exc}); quarantine is run with "
            "the dataset owner's S3 identity (the data team's); nothing was deleted"
        ) from None
    except (ContractError, OSError, ValueError) as exc:
        raise _fail(f"cannot quarantine {snapshot_id} of {uri}: {exc}") from None
    typer.echo(outcome.text())


@app.command()
def consumers(
    uri: Annotated[str, typer.Argument(help="dataset URI, e.g. s3://lake/california_housing/v1")],
    as_json: Annotated[bool, typer.Option("--json", help="print the rows as JSON")] = False,
    fail_on_broken: Annotated[
        bool, typer.Option(help="exit 1 if any consumer lags beyond its own promise")
    ] = False,
) -> None:
    """One row per subscribed consumer of URI: last snapshot and outcome, lag in snapshots and time, the
    lag it promises, and whether it breaks it. Unreadable or foreign records are listed under status."""
    from housing_contracts.consumers.lag import consumer_lag, format_consumers

    try:
        rows = consumer_lag(uri)
    except (OSError, ValueError) as exc:
        raise _fail(f"cannot list the consumers of {uri}: {exc}") from None
    if as_json:
        typer.echo(json.dumps([row.to_dict() for row in rows], indent=2))
    elif not rows:
        typer.echo(f"no consumer has subscribed to {uri}")
    else:
        typer.echo(format_consumers(rows))
    if fail_on_broken and any(row.breaks_promise for row in rows):
        raise typer.Exit(EXIT_VIOLATION)


@app.command()
def retire(
    uri: Annotated[str, typer.Argument(help="the deprecated dataset, e.g. s3://lake/california_housing/v1")],
    by: Annotated[str, typer.Option(help="who retires it (recorded)")] = "",
) -> None:
    """Retire a deprecated major: the producer stops publishing it; its snapshots stay readable.

    Refused (exit 1, naming each consumer) while a consumer's subscription to URI is live, i.e. its
    watcher still renews it, before the sunset date. Writes URI/_retired.json; running it again is a no-op.
    """
    import getpass

    from housing_contracts.consumers.lifecycle import RetirementRefused
    from housing_contracts.consumers.lifecycle import retire as retire_dataset
    from housing_contracts.contract.errors import ContractError

    try:
        record = retire_dataset(uri, by=by or getpass.getuser())
    except RetirementRefused as refused:
        raise _fail(f"refused: {refused}", EXIT_VIOLATION) from None
    except (ContractError, OSError, ValueError) as exc:
        raise _fail(f"cannot retire {uri}: {exc}") from None
    typer.echo(f"{uri}: {record.text()}")


class ExportFormat(StrEnum):
    odcs = "odcs"


@app.command()
def export(
    format_: Annotated[
        ExportFormat,
        typer.Option("--format", help="odcs: an Open Data Contract Standard v3.1.0 YAML document"),
    ],
    version: Annotated[
        str | None,
        typer.Option(help="'live' (default), a frozen version (e.g. 1.0.0) or a description JSON file"),
    ] = None,
    all_versions: Annotated[bool, typer.Option("--all", help="every frozen version, one file each")] = False,
    output: Annotated[
        str, typer.Option(help="folder to write <name>-<version>.odcs.yaml into, or - for stdout")
    ] = "-",
    dataset_uri: Annotated[
        str | None,
        typer.Option(help="where the data lies instead of the version's own URI: s3://… or a local folder"),
    ] = None,
    endpoint_url: Annotated[
        str | None, typer.Option(help="endpoint of an S3-compatible store, e.g. http://127.0.0.1:8333")
    ] = None,
    snapshot: Annotated[
        str | None, typer.Option(help="one snapshot's files (its id) instead of every snapshot's")
    ] = None,
) -> None:
    """Write a contract version (every frozen one with --all) as an Open Data Contract Standard v3.1.0
    document: columns with types and descriptions, quality rules from the checks, the S3 server, the
    freshness promise and the owner team.

    Its server is <dataset URI>/snapshots/*/*.parquet (or one --snapshot's): datacontract test checks them.
    """
    from housing_contracts.contract.description import frozen_versions, load_description
    from housing_contracts.contract.odcs import odcs_document, odcs_filename, odcs_yaml
    from housing_contracts.lake.layout import SNAPSHOT_ID_PATTERN

    if all_versions and (version is not None or dataset_uri is not None):
        raise _fail("--all exports every version at its own URI: drop --version and --dataset-uri")
    if all_versions and output == "-":
        raise _fail("--all writes one file per version: give --output DIR")
    if snapshot is not None and not SNAPSHOT_ID_PATTERN.match(snapshot):
        raise _fail(f"--snapshot {snapshot!r} is not a snapshot id (YYYYMMDDTHHMMSS.ffffffZ-<8 hex>)")
    sources = frozen_versions() if all_versions else [version or "live"]
    where = {"dataset_uri": dataset_uri, "endpoint_url": endpoint_url, "snapshot_id": snapshot}
    try:
        descriptions = [load_description(source) for source in sources]
        documents = [(odcs_filename(d), odcs_yaml(odcs_document(d, **where))) for d in descriptions]
        if output == "-":
            typer.echo(documents[0][1], nl=False)
            return
        folder = Path(output)
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in documents:
            (folder / name).write_text(text)
            typer.echo(folder / name)
    except (OSError, ValueError, KeyError) as exc:
        raise _fail(f"cannot export {', '.join(sources)}: {exc!s}") from None
