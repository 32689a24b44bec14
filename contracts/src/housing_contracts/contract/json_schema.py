"""Exports of the contract's description to other formats: a JSON Schema of one row."""

from __future__ import annotations

import math
from typing import Any

from housing_contracts.contract.description import describe, described_bounds
from housing_contracts.contract.versions import LATEST, Contract


def row_json_schema(description: dict[str, Any] | None = None, contract: Contract = LATEST) -> dict[str, Any]:
    """JSON Schema (2020-12) of one row of the dataset (frame-level checks cannot be expressed per row)."""
    description = description or describe(contract=contract)
    properties = {}
    for name, column in description["columns"].items():
        prop: dict[str, Any] = {"type": ["number", "null"] if column["nullable"] else "number"}
        prop["description"] = column["description"]
        bounds = described_bounds(column)
        if bounds.low != -math.inf:
            prop["minimum" if bounds.low_inclusive else "exclusiveMinimum"] = bounds.low
        if bounds.high != math.inf:
            prop["maximum" if bounds.high_inclusive else "exclusiveMaximum"] = bounds.high
        properties[name] = prop
    contract = description["contract"]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{description['dataset_uri']}/row.schema.json",
        "title": f"{contract['name']} {contract['version']} row",
        "description": description["description"],
        "type": "object",
        "properties": properties,
        "required": [name for name, column in description["columns"].items() if column["required"]],
        "additionalProperties": not description["options"]["strict"],
    }
