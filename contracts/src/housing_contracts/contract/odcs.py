"""The contract as an Open Data Contract Standard (ODCS) v3.1.0 document, from its canonical description.

Every rule comes from the description (``describe()`` or a frozen version), never from a second copy:

- each column: ``physicalType: double`` (Parquet's type for float64), ``logicalType: number`` with
  ``format: f64`` and its interval as ``minimum`` / ``exclusiveMinimum`` / ``maximum`` /
  ``exclusiveMaximum``; ``required`` is "no nulls";
- each named check: an executable quality rule (SQL where ODCS has no built-in metric, in the DuckDB
  dialect that ``datacontract test`` uses for Parquet files); a check with no translation here becomes a
  ``text`` rule carrying its description, so the document never drops a rule silently;
- the server: the version's snapshots, ``<dataset uri>/snapshots/*/*.parquet`` on S3 (or a local folder);
- the freshness promise: an SLA property ``frequency``; the owner: ``team``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from housing_contracts.contract.description import described_bounds
from housing_contracts.contract.model import BOUND_CHECKS
from housing_contracts.contract.versions import SNAPSHOTS_DIR, contract_of

API_VERSION = "v3.1.0"
#: The team that produces the dataset and owns its contract (its S3 identity has the same name).
OWNER_TEAM = "data-team"
#: The name of the server entry (``datacontract test --server lake``).
SERVER_NAME = "lake"
#: The physical type of a described dtype in the snapshots' Parquet files, and its ODCS logical type.
PHYSICAL_TYPES: dict[str, tuple[str, str, dict[str, Any]]] = {
    "float64": ("double", "number", {"format": "f64"}),
    "float32": ("float", "number", {"format": "f32"}),
    "int64": ("int64", "integer", {"format": "i64"}),
    "int32": ("int32", "integer", {"format": "i32"}),
    "bool": ("boolean", "boolean", {}),
}


def _quote(name: str) -> str:
    """A column name as a quoted SQL identifier (column names are case-sensitive in the contract)."""
    return '"' + name.replace('"', '""') + '"'


def _finite(column: str, check: dict[str, Any]) -> dict[str, Any]:
    # isfinite is DuckDB's: datacontract test reads Parquet files with DuckDB (NULLs are `required`'s job)
    return {
        "type": "sql",
        "query": "SELECT COUNT(*) FROM {object} WHERE NOT isfinite({property})",
        "mustBe": 0,
        "dimension": "conformity",
    }


def _bedrooms_within_rooms(check: dict[str, Any]) -> dict[str, Any]:
    column, other = check["statistics"]["column"], check["statistics"]["other"]
    return {
        "type": "sql",
        "query": f"SELECT COUNT(*) FROM {{object}} WHERE {_quote(column)} > {_quote(other)}",
        "mustBe": 0,
        "dimension": "consistency",
    }


def _min_row_count(check: dict[str, Any]) -> dict[str, Any]:
    return {
        "metric": "rowCount",
        "mustBeGreaterOrEqualTo": int(check["statistics"]["min_rows"]),
        "dimension": "completeness",
    }


#: The model's named checks as executable ODCS quality rules (column checks take the column's name).
COLUMN_RULES: dict[str, Callable[[str, dict[str, Any]], dict[str, Any]]] = {"finite": _finite}
FRAME_RULES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "bedrooms_within_rooms": _bedrooms_within_rooms,
    "min_row_count": _min_row_count,
}


def _text_rule(name: str, check: dict[str, Any]) -> dict[str, Any]:
    """A check this module cannot translate: kept as text, so readers still see the rule."""
    return {"type": "text", "description": check.get("description") or name}


def _rule(rule_id: str, name: str, check: dict[str, Any], rule: dict[str, Any]) -> dict[str, Any]:
    described = {"id": rule_id, "name": name}
    if check.get("description"):
        described["description"] = check["description"]
    return described | rule


def _interval(column: dict[str, Any]) -> dict[str, float]:
    bounds = described_bounds(column)
    options: dict[str, float] = {}
    if bounds.low != -math.inf:
        options["minimum" if bounds.low_inclusive else "exclusiveMinimum"] = bounds.low
    if bounds.high != math.inf:
        options["maximum" if bounds.high_inclusive else "exclusiveMaximum"] = bounds.high
    return options


def _property(name: str, column: dict[str, Any]) -> dict[str, Any]:
    if column["dtype"] not in PHYSICAL_TYPES:
        known = ", ".join(PHYSICAL_TYPES)
        raise ValueError(f"column {name}: dtype {column['dtype']} has no ODCS type (known: {known})")
    physical, logical, options = PHYSICAL_TYPES[column["dtype"]]
    prop: dict[str, Any] = {
        "name": name,
        "physicalType": physical,
        "logicalType": logical,
        "logicalTypeOptions": options | _interval(column),  # dropped below when empty
        "required": not column["nullable"],
        "unique": bool(column["unique"]),
        "description": column["description"],
    }
    if not prop["logicalTypeOptions"]:
        del prop["logicalTypeOptions"]
    quality = [
        _rule(f"{name}_{check_name}", check_name, check, COLUMN_RULES[check_name](name, check))
        if check_name in COLUMN_RULES
        else _rule(f"{name}_{check_name}", check_name, check, _text_rule(check_name, check))
        for check_name, check in column["checks"].items()
        if check_name not in BOUND_CHECKS
    ]
    if quality:
        prop["quality"] = quality
    return prop


def untranslated_checks(document: dict[str, Any]) -> list[str]:
    """The ids of the document's rules that ``datacontract test`` cannot execute (kept as text)."""
    schema = document["schema"][0]
    rules = [*schema.get("quality", []), *(r for p in schema["properties"] for r in p.get("quality", []))]
    return [rule["id"] for rule in rules if rule.get("type") == "text"]


def server(
    dataset_uri: str, *, endpoint_url: str | None = None, snapshot_id: str | None = None
) -> dict[str, Any]:
    """Where the version's data lies: its snapshots' Parquet files (one snapshot's, with ``snapshot_id``).

    An ``s3://`` URI gives an ``s3`` server (``endpoint_url`` for S3-compatible stores such as SeaweedFS);
    a ``file://`` URI or a path gives a ``local`` one. The glob also matches a snapshot still being
    written (its folder has no ``_manifest.json`` yet): pin ``snapshot_id`` to test one committed snapshot.
    """
    files = f"{dataset_uri.rstrip('/')}/{SNAPSHOTS_DIR}/{snapshot_id or '*'}/*.parquet"
    description = (
        f"Snapshot {snapshot_id} of the dataset" if snapshot_id else "Every snapshot of the dataset"
    ) + " (Parquet, zstd; committed snapshots have a _manifest.json beside their files)."
    if files.startswith("s3://"):
        entry = {"server": SERVER_NAME, "type": "s3", "location": files, "format": "parquet"}
        if endpoint_url:
            entry["endpointUrl"] = endpoint_url
    else:
        if endpoint_url:
            raise ValueError(f"an endpoint URL applies to an s3:// dataset, not to {dataset_uri}")
        path = files.removeprefix("file://")
        entry = {"server": SERVER_NAME, "type": "local", "path": path, "format": "parquet"}
    return entry | {"description": description}


def odcs_document(
    description: dict[str, Any],
    *,
    dataset_uri: str | None = None,
    endpoint_url: str | None = None,
    snapshot_id: str | None = None,
) -> dict[str, Any]:
    """The ODCS v3.1.0 document of one described contract version, as a YAML-ready dict.

    ``dataset_uri`` replaces the version's own URI (another lake, a local copy), ``endpoint_url`` is the
    S3 endpoint, ``snapshot_id`` pins the server to one snapshot's files.
    """
    contract = description["contract"]
    # a deprecated major says so, with its sunset and successor, in the standard's own status field
    released = contract_of(contract["name"], contract["version"])
    deprecation = released.deprecation if released else None
    properties = [_property(name, column) for name, column in description["columns"].items()]
    frame_rules = [
        _rule(name, name, check, FRAME_RULES[name](check) if name in FRAME_RULES else _text_rule(name, check))
        for name, check in description["dataframe_checks"].items()
    ]
    schema: dict[str, Any] = {
        "name": contract["name"],
        "logicalType": "object",
        "description": description["description"],
        "properties": properties,
    }
    if frame_rules:
        schema["quality"] = frame_rules
    uri = dataset_uri or description["dataset_uri"]
    document: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": "DataContract",
        "id": contract["name"],
        "name": contract["name"],
        "version": contract["version"],
        "status": "deprecated" if deprecation else "active",
        "description": {
            "purpose": description["description"],
            "usage": f"Read committed snapshots of {description['dataset_uri']} (a snapshot folder with a "
            "_manifest.json) with housing_contracts.read_snapshot, which verifies them.",
            "limitations": _limitations(description),
        },
        "team": {"name": OWNER_TEAM, "description": "Produces the dataset and owns this contract."},
        "servers": [server(uri, endpoint_url=endpoint_url, snapshot_id=snapshot_id)],
        "schema": [schema],
    }
    if "freshness" in description:
        freshness = description["freshness"]
        document["slaProperties"] = [
            {
                "id": "freshness",
                "property": "frequency",
                "value": freshness["max_snapshot_interval_hours"],
                "unit": "h",
                "driver": "operational",
                "description": freshness["description"],
            }
        ]
    document["customProperties"] = [
        {
            "property": "datasetUri",
            "value": description["dataset_uri"],
            "description": "One URI per major version.",
        },
        {
            "property": "strict",
            "value": bool(description["options"]["strict"]),
            "description": "Exactly these columns (no extra, no missing), in any order.",
        },
    ]
    if deprecation is not None:
        document["customProperties"] += [
            {
                "property": "sunset",
                "value": deprecation.sunset.isoformat(),
                "description": "The producer publishes this major until this date; retired after it.",
            },
            {
                "property": "successorUri",
                "value": deprecation.successor_uri,
                "description": "The major that replaces this one: subscribe to it before the sunset.",
            },
        ]
    return document


def _limitations(description: dict[str, Any]) -> str:
    text = "No coercion: every column has exactly its physical type."
    if description["options"]["strict"]:
        text += " No column beyond these."
    if "freshness" in description:
        text += (
            " The freshness promise is about when the producer last committed or confirmed a snapshot "
            "(its manifest, _current.json), not a column: housing_contracts.check_freshness checks it."
        )
    return text


def odcs_yaml(document: dict[str, Any]) -> str:
    """The document as YAML, keys in the order ODCS documents them."""
    import yaml

    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=110)


def odcs_filename(description: dict[str, Any]) -> str:
    """``california_housing-1.1.0.odcs.yaml``."""
    contract = description["contract"]
    return f"{contract['name']}-{contract['version']}.odcs.yaml"
