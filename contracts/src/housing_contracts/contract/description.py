"""The contract as canonical JSON (:func:`describe`), and the frozen descriptions of released versions.

It is frozen, diffed and fingerprinted into every manifest: byte-identical for an unchanged model.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import pandera.pandas as pa

from housing_contracts.contract.model import Bounds, bounds_from_checks, contract_schema
from housing_contracts.contract.versions import CONTRACT_NAME, CONTRACTS, LATEST, Contract

#: The source name of the live (unreleased) contract in :func:`load_description`: the newest major's.
LIVE = "live"


def describe(schema: pa.DataFrameSchema | None = None, contract: Contract = LATEST) -> dict[str, Any]:
    """The live ``contract`` (or ``schema`` under its name) as a JSON-ready dict: the canonical description.

    ``freshness`` (from the model's ``Config.metadata``) is the producer's promise to confirm the data
    current at least every ``max_snapshot_interval_hours``: a new snapshot, or a confirmation that the
    newest one is still current.
    """
    schema = schema or contract_schema(contract)
    return {
        "contract": {"name": contract.name, "version": contract.version},
        "dataset_uri": contract.uri,
        "description": schema.description,
        "options": {
            "strict": bool(schema.strict),
            "ordered": bool(schema.ordered),
            "coerce": bool(schema.coerce),
            "unique_column_names": bool(schema.unique_column_names),
        },
        "columns": {
            name: {
                "dtype": str(column.dtype),
                "nullable": bool(column.nullable),
                "required": bool(column.required),
                "unique": bool(column.unique),
                "description": column.description,
                "checks": _checks(column.checks),
            }
            for name, column in schema.columns.items()
        },
        "dataframe_checks": _checks(schema.checks),
    } | _promises(schema)


def _promises(schema: pa.DataFrameSchema) -> dict[str, Any]:
    """The producer's promises beside the data rules (a schema without them describes none)."""
    freshness = (schema.metadata or {}).get("freshness")
    return {"freshness": dict(freshness)} if freshness is not None else {}


def _checks(checks: list[pa.Check]) -> dict[str, Any]:
    return {
        check.name: {
            "statistics": json.loads(json.dumps(check.statistics, default=str)),
            "description": check.description,
        }
        for check in checks
    }


def described_bounds(column: dict[str, Any]) -> Bounds:
    """The interval a described column allows (read the same way as the live model's)."""
    return bounds_from_checks(
        (name, c.get("statistics") or {}) for name, c in column.get("checks", {}).items()
    )


def frozen_dir() -> Path:
    """The folder of frozen descriptions shipped with the package."""
    return Path(str(resources.files("housing_contracts.contract") / "frozen"))


def frozen_path(version: str) -> Path:
    """Where the frozen description of ``version`` lives."""
    return frozen_dir() / f"{CONTRACT_NAME}-{version}.json"


def frozen_versions() -> list[str]:
    """Every released (frozen) version, oldest first."""
    prefix = f"{CONTRACT_NAME}-"
    found = [p.name[len(prefix) : -len(".json")] for p in frozen_dir().glob(f"{prefix}*.json")]
    return sorted(found, key=parse_version)


def load_description(source: str) -> dict[str, Any]:
    """``live`` (the newest major), a frozen version (``1.0.0``) or the path of a description JSON file."""
    if source == LIVE:
        return describe(contract=CONTRACTS[-1])
    path = frozen_path(source) if source in frozen_versions() else Path(source)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(
            f"no contract description at {path} (expected '{LIVE}', a frozen version "
            f"{frozen_versions()} or a JSON file)"
        ) from None


def parse_version(version: str) -> tuple[int, int, int]:
    """``"1.2.3"`` -> ``(1, 2, 3)``; ValueError names the bad version."""
    parts = version.split(".")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise ValueError(f"contract version {version!r} is not MAJOR.MINOR.PATCH")
    major, minor, patch = (int(p) for p in parts)
    return major, minor, patch
