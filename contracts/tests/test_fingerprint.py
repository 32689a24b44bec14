"""Fingerprints: content depends on values only; schema on the canonical description."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa

from housing_contracts import COLUMNS, CONTRACT_VERSION, V1
from housing_contracts.contract.description import describe, frozen_path
from housing_contracts.contract.fingerprint import (
    ContentHasher,
    canonical_json,
    content_fingerprint,
    schema_fingerprint,
)
from housing_contracts.testing import sample_frame


def test_content_fingerprint_ignores_batching() -> None:
    """Hashing in batches of any size gives the fingerprint of the whole frame."""
    df = sample_frame(2500, seed=2)
    hasher = ContentHasher()
    for start in range(0, len(df), 777):
        hasher.update(df.iloc[start : start + 777])
    assert hasher.rows == 2500
    assert hasher.hexdigest() == content_fingerprint(df)


def test_content_fingerprint_ignores_index_and_column_order() -> None:
    """Only values matter: not the frame's index labels nor its column order."""
    df = sample_frame(seed=2)
    shuffled = df[list(reversed(COLUMNS))].set_axis([f"r{i}" for i in range(len(df))])
    assert content_fingerprint(shuffled) == content_fingerprint(df)


def test_content_fingerprint_reads_arrow_batches() -> None:
    """An Arrow record batch (what Parquet reads give) hashes like the frame it came from."""
    df = sample_frame(seed=2)
    batch = pa.RecordBatch.from_pandas(df, preserve_index=False)
    assert content_fingerprint(batch) == content_fingerprint(df)


def test_content_fingerprint_sees_one_changed_value() -> None:
    """A single value changed by one ulp changes the fingerprint."""
    df = sample_frame(seed=2)
    changed = df.copy()
    changed.loc[500, "MedInc"] = np.nextafter(changed.loc[500, "MedInc"], np.inf)
    assert content_fingerprint(changed) != content_fingerprint(df)


def test_content_fingerprint_sees_row_order() -> None:
    """Row order is part of the content."""
    df = sample_frame(seed=2)
    assert content_fingerprint(df.iloc[::-1]) != content_fingerprint(df)


def test_schema_fingerprint_is_the_hash_of_the_frozen_description() -> None:
    """The live schema fingerprint equals the fingerprint of the frozen description of CONTRACT_VERSION."""
    frozen = json.loads(frozen_path(CONTRACT_VERSION).read_text())
    assert schema_fingerprint(contract=V1) == schema_fingerprint(frozen, contract=V1)
    assert schema_fingerprint(contract=V1).startswith("sha256:")


def test_canonical_json_is_independent_of_key_order() -> None:
    """The canonical text sorts keys, so equal descriptions hash equally."""
    description = describe(contract=V1)
    reordered = dict(reversed(list(description.items())))
    assert canonical_json(reordered) == canonical_json(description)
