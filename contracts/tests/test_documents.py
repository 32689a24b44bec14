"""Every JSON document in the lake is one record type: strict, written one way, read one way, and the
documents housing-contracts 2.0.0 wrote (``fixtures/lake-2.0.0/``) still read, as do the documents added
since (``fixtures/lake-next/``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import fsspec
import pytest

from housing_contracts.consumers.records import LatestReceipts, Receipt, Subscription
from housing_contracts.contract.errors import SnapshotIntegrityError
from housing_contracts.lake.confirmation import Confirmation
from housing_contracts.lake.documents import Record, read_document, write_document
from housing_contracts.lake.manifest import Manifest
from housing_contracts.lake.quarantine import Quarantine
from housing_contracts.lake.retirement import Retirement
from housing_contracts.lake.snapshots import Claim

FIXTURES = Path(__file__).parent / "fixtures" / "lake-2.0.0"
#: Documents 2.0.0 did not write, as this version writes them.
NEW_FIXTURES = Path(__file__).parent / "fixtures" / "lake-next"
#: Each lake document's record and its file as 2.0.0 wrote it.
DOCUMENTS: dict[str, type[Record]] = {
    "manifest": Manifest,
    "claim": Claim,
    "confirmation": Confirmation,
    "subscription": Subscription,
    "receipt": Receipt,
    "retirement": Retirement,
    "quarantine": Quarantine,
    "latest_receipts": LatestReceipts,
}
#: One time field of each record, to set naive.
TIMES = {
    "manifest": "created_at",
    "claim": "claimed_at",
    "confirmation": "confirmed_at",
    "subscription": "subscribed_at",
    "receipt": "started_at",
    "retirement": "retired_at",
    "quarantine": "quarantined_at",
    "latest_receipts": "last.finished_at",
}


def _fixture(name: str) -> Path:
    stored = FIXTURES / f"{name}.json"
    return stored if stored.exists() else NEW_FIXTURES / f"{name}.json"


def _stored(name: str) -> dict[str, Any]:
    return json.loads(_fixture(name).read_bytes())


def _with(document: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    """``document`` with the field at ``dotted`` (``a.b``: field b of the object in field a) set."""
    head, _, rest = dotted.partition(".")
    return document | {head: _with(document[head], rest, value) if rest else value}


def _error(kind: type[Record]) -> type[Exception]:
    return SnapshotIntegrityError if kind is Manifest else ValueError


def test_every_lake_document_is_a_record() -> None:
    """The seven documents in the lake share the one base."""
    assert all(issubclass(kind, Record) for kind in DOCUMENTS.values())


@pytest.mark.parametrize("name", DOCUMENTS)
def test_a_document_written_by_2_0_0_reads_and_writes_back(name: str) -> None:
    """Each stored 2.0.0 document parses, and writing it again gives the same document (the same bytes,
    but for the claim, which 2.0.0 wrote without indentation)."""
    stored = _fixture(name).read_bytes()
    record = DOCUMENTS[name].from_json(stored)
    assert json.loads(record.to_json()) == json.loads(stored)
    if name != "claim":
        assert record.to_json() == stored


@pytest.mark.parametrize("name", DOCUMENTS)
def test_an_unknown_key_is_refused_in_one_line(name: str) -> None:
    """A key the record does not know is refused, named, on one line."""
    kind = DOCUMENTS[name]
    with pytest.raises(_error(kind), match=r"field 'surprise': unknown field") as refused:
        kind.from_dict(_stored(name) | {"surprise": 1})
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize("name", DOCUMENTS)
def test_a_wrong_format_is_refused(name: str) -> None:
    """A document tagged with another format is someone else's; an untagged one (manifest, claim) refuses
    the tag as an unknown key."""
    kind = DOCUMENTS[name]
    expected = "field 'format': expected" if kind.FORMAT else "field 'format': unknown field"
    with pytest.raises(_error(kind), match=expected):
        kind.from_dict(_stored(name) | {"format": "someone-else/1"})


@pytest.mark.parametrize("name", DOCUMENTS)
def test_a_naive_time_is_refused(name: str) -> None:
    """A time without a timezone is refused, naming the field."""
    kind, time = DOCUMENTS[name], TIMES[name]
    with pytest.raises(_error(kind), match=rf"field '{time}': Input should have timezone info"):
        kind.from_dict(_with(_stored(name), time, "2026-12-07T11:22:39"))


def test_the_reader_names_the_file(tmp_path: Path) -> None:
    """A malformed document's error starts with its path; a missing one is None."""
    fs = fsspec.filesystem("file")
    path = f"{tmp_path}/_current.json"
    assert read_document(fs, path, Confirmation) is None
    fs.pipe_file(path, b'{"format": "housing-contracts/current/1"}')
    with pytest.raises(ValueError, match=rf"^{path}: confirmation: field 'snapshot_id': missing"):
        read_document(fs, path, Confirmation)


def test_the_writer_and_the_reader_round_trip(tmp_path: Path) -> None:
    """write_document then read_document gives the record back."""
    fs = fsspec.filesystem("file")
    record = Confirmation.from_json((FIXTURES / "confirmation.json").read_bytes())
    write_document(fs, f"{tmp_path}/_current.json", record)
    assert read_document(fs, f"{tmp_path}/_current.json", Confirmation) == record
