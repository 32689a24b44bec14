"""Fingerprints: of the contract (its canonical description) and of a snapshot's content (its values).

The content fingerprint hashes each column's little-endian float64 values as a stream, so it does not
depend on the Parquet encoding, row groups, file split, the frame's index or its column order.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from housing_contracts.contract.versions import COLUMNS, LATEST, Contract

_CONTENT_DOMAIN = b"housing-contracts content v1\n"


def canonical_json(data: Any) -> str:
    """Sorted keys, no whitespace, no NaN: the same data always gives the same text."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def schema_fingerprint(description: dict[str, Any] | None = None, contract: Contract = LATEST) -> str:
    """``sha256:<hex>`` of a canonical contract description (by default the live one of ``contract``)."""
    if description is None:
        from housing_contracts.contract.description import describe  # imports pandera: only when needed

        description = describe(contract=contract)
    return "sha256:" + hashlib.sha256(canonical_json(description).encode()).hexdigest()


class ContentHasher:
    """Streaming content fingerprint: :meth:`update` with consecutive row batches, then :meth:`hexdigest`."""

    def __init__(self, columns: Sequence[str] = COLUMNS) -> None:
        self.columns = tuple(columns)
        self.rows = 0
        self._hashes = {column: hashlib.sha256() for column in self.columns}

    def update(self, batch: Any) -> None:
        """Add the next rows; ``batch`` maps each column name to an array (DataFrame, RecordBatch, dict)."""
        lengths = set()
        for column in self.columns:
            values = np.ascontiguousarray(np.asarray(batch[column]), dtype="<f8")
            lengths.add(len(values))
            self._hashes[column].update(memoryview(values).cast("B"))
        if len(lengths) > 1:
            raise ValueError(f"batch columns have different lengths: {sorted(lengths)}")
        self.rows += lengths.pop() if lengths else 0

    def hexdigest(self) -> str:
        """``sha256:<hex>`` over the row count and each column's digest, in contract order."""
        outer = hashlib.sha256(_CONTENT_DOMAIN)
        outer.update(f"rows={self.rows}\n".encode())
        for column in self.columns:
            outer.update(f"{column}={self._hashes[column].hexdigest()}\n".encode())
        return "sha256:" + outer.hexdigest()


def content_fingerprint(frame: Any, columns: Sequence[str] = COLUMNS) -> str:
    """The content fingerprint of a whole in-memory frame (its columns are hashed without copies)."""
    hasher = ContentHasher(columns)
    hasher.update(frame)
    return hasher.hexdigest()
