"""Snapshots on a real S3 server (SeaweedFS on 127.0.0.1) and on ``file://``: publish, list, read, verify."""

from __future__ import annotations

import json
import logging
import os
import posixpath
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest

from housing_contracts import (
    COLUMNS,
    CONTRACT_VERSION,
    V1,
    ContractViolation,
    IncompatibleContractError,
    PublishInProgressError,
    SnapshotIntegrityError,
    SnapshotNotFoundError,
    latest_snapshot,
    list_snapshots,
    publish,
    read_snapshot,
)
from housing_contracts.consumers.freshness import check_freshness
from housing_contracts.contract.fingerprint import content_fingerprint
from housing_contracts.lake import snapshots as snapshots_module
from housing_contracts.lake import storage as storage_module
from housing_contracts.lake.confirmation import CONFIRMATION_FORMAT, Confirmation, read_confirmation
from housing_contracts.lake.layout import claim_path, committed_snapshot_ids, new_snapshot_id, snapshot_time
from housing_contracts.lake.snapshots import split_snapshot_uri
from housing_contracts.lake.storage import resolve
from housing_contracts.testing import S3Requests, sample_frame


@dataclass(frozen=True)
class Location:
    """Where a test's dataset lives, and how to reach it."""

    uri: str
    storage_options: dict[str, Any] | None
    env: dict[str, str]

    def fs_path(self, *parts: str) -> tuple[Any, str]:
        fs, root = resolve(self.uri, self.storage_options)
        return fs, "/".join([root, *parts])

    def publish(self, df: pd.DataFrame, **kwargs: Any) -> snapshots_module.PublishResult:
        return publish(df, self.uri, storage_options=self.storage_options, **({"contract": V1} | kwargs))

    def read(self, snapshot_id: str | None = None) -> snapshots_module.Snapshot:
        return read_snapshot(self.uri, snapshot_id, storage_options=self.storage_options)

    def list(self) -> list[Any]:
        return list_snapshots(self.uri, storage_options=self.storage_options)

    def confirmation(self) -> Confirmation | None:
        return read_confirmation(*self.fs_path())

    def rewrite(self, snapshot_id: str, name: str, edit: Any) -> None:
        """Replace a stored file's bytes with ``edit(old_bytes)`` (a tampering producer or a bad disk)."""
        fs, path = self.fs_path("snapshots", snapshot_id, name)
        data = fs.cat_file(path)
        fs.pipe_file(path, edit(data))

    def edit_manifest(self, snapshot_id: str, edit: Any) -> None:
        def _edit(data: bytes) -> bytes:
            manifest = json.loads(data)
            edit(manifest)
            return json.dumps(manifest).encode()

        self.rewrite(snapshot_id, "_manifest.json", _edit)


@pytest.fixture(params=["file", "s3"])
def location(request: pytest.FixtureRequest, local_uri: str) -> Location:
    """The same tests on a local folder and on the real S3 server."""
    if request.param == "file":
        return Location(local_uri, None, {})
    s3 = request.getfixturevalue("s3_server")
    return Location(request.getfixturevalue("lake_uri"), s3.storage_options, s3.env)


def test_round_trip(location: Location, cleaned_frame: pd.DataFrame) -> None:
    """A published frame reads back equal, with the manifest that publish returned."""
    result = location.publish(cleaned_frame, producer={"dag_id": "housing_producer", "run_id": "r1"})
    assert result.created
    snapshot = location.read()
    pd.testing.assert_frame_equal(snapshot.frame, cleaned_frame.reset_index(drop=True))
    assert snapshot.manifest == result.manifest
    assert result.snapshot_uri == f"{location.uri}/snapshots/{result.manifest.snapshot_id}"


def test_manifest_describes_the_snapshot(location: Location, frame: pd.DataFrame) -> None:
    """The manifest records contract, rows, files, fingerprint, stats, producer and extras."""
    manifest = location.publish(
        frame, producer={"dag_id": "d", "run_id": "r"}, extras={"cleaning": {"rows": 3}}
    ).manifest
    assert (manifest.contract.name, manifest.contract.version) == ("california_housing", CONTRACT_VERSION)
    assert manifest.row_count == len(frame)
    assert [f.path for f in manifest.files] == ["part-00000.parquet"]
    assert manifest.content_fingerprint == content_fingerprint(frame)
    assert manifest.stats["Latitude"].min == frame["Latitude"].min()
    assert manifest.stats["MedInc"].null_count == 0
    assert manifest.producer == {"dag_id": "d", "run_id": "r"}
    assert manifest.extras == {"cleaning": {"rows": 3}}
    assert snapshot_time(manifest.snapshot_id) == manifest.created_at


def test_republishing_the_same_content_writes_nothing(location: Location, frame: pd.DataFrame) -> None:
    """Idempotent: same content as the newest snapshot returns that manifest with created=False."""
    first = location.publish(frame)
    again = location.publish(frame.copy(), producer={"dag_id": "retry"})
    assert not again.created
    assert again.manifest == first.manifest
    assert [m.snapshot_id for m in location.list()] == [first.manifest.snapshot_id]


def test_a_new_snapshot_confirms_itself_current(location: Location, frame: pd.DataFrame) -> None:
    """Each commit writes _current.json naming the new snapshot, confirmed at its creation, by its
    producer."""
    producer = {"dag_id": "housing_producer", "run_id": "r1"}
    first = location.publish(frame, producer=producer).manifest
    assert location.confirmation() == Confirmation(first.snapshot_id, first.created_at, producer)
    second = location.publish(sample_frame(seed=3)).manifest
    assert location.confirmation() == Confirmation(second.snapshot_id, second.created_at, {})
    fs, path = location.fs_path("_current.json")
    document = json.loads(fs.cat_file(path))
    assert document == {
        "format": CONFIRMATION_FORMAT,
        "snapshot_id": second.snapshot_id,
        "confirmed_at": second.created_at.isoformat(),
        "producer": {},
    }


def test_republishing_unchanged_content_confirms_the_newest_current(
    location: Location, frame: pd.DataFrame
) -> None:
    """created=False still records the producer's confirmation, later each time; nothing under snapshots/
    changes, so readers and the watcher (which lists committed snapshots only) see no new snapshot."""
    first = location.publish(frame, producer={"dag_id": "housing_producer", "run_id": "day1"}).manifest
    fs, root = location.fs_path()
    keys = fs.find(f"{root}/snapshots")
    again = location.publish(frame.copy(), producer={"dag_id": "housing_producer", "run_id": "day2"})
    assert not again.created
    confirmed = location.confirmation()
    assert (confirmed.snapshot_id, confirmed.producer) == (
        first.snapshot_id,
        {"dag_id": "housing_producer", "run_id": "day2"},
    )
    assert confirmed.confirmed_at > first.created_at
    location.publish(frame, producer={"dag_id": "housing_producer", "run_id": "day3"})
    assert location.confirmation().confirmed_at > confirmed.confirmed_at
    assert location.confirmation().producer["run_id"] == "day3"
    assert fs.find(f"{root}/snapshots") == keys
    assert committed_snapshot_ids(fs, root) == [first.snapshot_id]
    assert [m.snapshot_id for m in location.list()] == [first.snapshot_id]


def test_a_failed_confirmation_of_unchanged_content_raises_and_the_retry_confirms(
    local_uri: str, frame: pd.DataFrame
) -> None:
    """Unchanged content whose confirmation cannot be written raises the OSError (it is the only evidence
    of freshness); once the fault is gone, the retry writes it."""
    location = Location(local_uri, None, {})
    first = location.publish(frame).manifest
    _, path = location.fs_path("_current.json")
    os.remove(path)
    os.mkdir(path)  # an obstacle: the atomic rename onto it fails
    with pytest.raises(OSError):
        location.publish(frame, producer={"run_id": "retry"})
    os.rmdir(path)
    retried = location.publish(frame, producer={"run_id": "retry"})
    assert not retried.created
    assert location.confirmation().snapshot_id == first.snapshot_id
    assert location.confirmation().producer == {"run_id": "retry"}


def test_a_confirmation_the_identity_may_not_write_fails_the_unchanged_publish(
    s3_server: Any, team_lake_uri: str, data_team_s3: Any, ml_team_s3: Any, frame: pd.DataFrame
) -> None:
    """On S3 the data team's identity writes _current.json in its dataset prefix; a denied write (the
    ml-team identity reads there, no more) raises instead of passing for a confirmation."""
    data = Location(team_lake_uri, data_team_s3.storage_options, data_team_s3.env)
    first = data.publish(frame, producer={"run_id": "day1"}).manifest
    data.publish(frame, producer={"run_id": "day2"})
    assert data.confirmation().producer == {"run_id": "day2"}
    with pytest.raises(PermissionError):
        publish(
            frame,
            team_lake_uri,
            producer={"run_id": "ml"},
            storage_options=ml_team_s3.storage_options,
            contract=V1,
        )
    assert data.confirmation().producer == {"run_id": "day2"}
    assert data.confirmation().snapshot_id == first.snapshot_id


def test_a_commit_stands_when_its_confirmation_cannot_be_written(
    local_uri: str, frame: pd.DataFrame, caplog: pytest.LogCaptureFixture
) -> None:
    """A new snapshot whose confirmation fails is still committed and reported created (a warning says
    so); freshness counts the snapshot's own creation, and the next unchanged publish confirms it."""
    location = Location(local_uri, None, {})
    location.publish(frame)
    _, path = location.fs_path("_current.json")
    os.remove(path)
    os.mkdir(path)
    with caplog.at_level(logging.WARNING, logger=snapshots_module.__name__):
        published = location.publish(sample_frame(seed=4), producer={"run_id": "r2"})
    assert published.created
    sid = published.manifest.snapshot_id
    assert f"snapshot {sid} committed, but its confirmation could not be written" in caplog.text
    assert [m.snapshot_id for m in location.list()][-1] == sid
    pd.testing.assert_frame_equal(location.read().frame, sample_frame(seed=4))
    now = published.manifest.created_at + timedelta(seconds=1)
    assert check_freshness(local_uri, max_age=timedelta(seconds=2), now=now).startswith("OK: ")
    os.rmdir(path)
    assert not location.publish(sample_frame(seed=4), producer={"run_id": "r3"}).created
    assert location.confirmation().snapshot_id == sid


def test_new_content_becomes_the_newest_snapshot(location: Location) -> None:
    """Snapshots list oldest first; latest and read() default to the newest; old ones stay readable."""
    old, new = sample_frame(seed=1), sample_frame(seed=2)
    first = location.publish(old).manifest
    second = location.publish(new).manifest
    assert [m.snapshot_id for m in location.list()] == [first.snapshot_id, second.snapshot_id]
    assert latest_snapshot(location.uri, storage_options=location.storage_options) == second
    pd.testing.assert_frame_equal(location.read().frame, new)
    pd.testing.assert_frame_equal(location.read(first.snapshot_id).frame, old)


def test_invalid_frame_is_refused_and_nothing_is_written(location: Location, frame: pd.DataFrame) -> None:
    """publish validates first: a violation raises with the report and leaves storage untouched."""
    frame.loc[0, "Longitude"] = -100.0
    with pytest.raises(ContractViolation, match="Longitude/less_than_or_equal_to"):
        location.publish(frame)
    fs, root = location.fs_path()
    assert not fs.exists(f"{root}/snapshots")
    assert location.list() == []


_CRASH_BEFORE_MANIFEST = """
import json, os, signal, sys
from housing_contracts.lake import snapshots
from housing_contracts import V1
from housing_contracts.testing import sample_frame

def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)  # like a killed worker: no cleanup, no exception handlers

snapshots._write_manifest = die
snapshots.publish(
    sample_frame(seed=11), sys.argv[1], contract=V1, storage_options=json.loads(sys.argv[2])
)
"""


def test_publish_killed_before_the_manifest_leaves_no_snapshot(location: Location) -> None:
    """Manifest-last: a publisher killed after writing data but before the manifest commits nothing."""
    import os

    crashed = subprocess.run(
        [sys.executable, "-c", _CRASH_BEFORE_MANIFEST, location.uri, json.dumps(location.storage_options)],
        env={**os.environ, **location.env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert crashed.returncode == -9, crashed.stderr
    fs, root = location.fs_path()
    assert fs.glob(f"{root}/snapshots/*/part-00000.parquet"), "the data should have been written"
    assert location.list() == []
    assert latest_snapshot(location.uri, storage_options=location.storage_options) is None
    with pytest.raises(SnapshotNotFoundError):
        location.read()
    published = location.publish(sample_frame(seed=11))
    assert published.created
    assert [m.snapshot_id for m in location.list()] == [published.manifest.snapshot_id]


def _plant_claim(location: Location, frame: pd.DataFrame, producer: dict, age: timedelta) -> str:
    """A claim to commit ``frame`` first, by ``producer``, made ``age`` ago; its snapshot is never written."""
    fs, root = location.fs_path()
    snapshot_id, claimed_at = new_snapshot_id(datetime.now(UTC) - age)
    claim = {"snapshot_id": snapshot_id, "producer": producer, "claimed_at": claimed_at.isoformat()}
    path = claim_path(root, None, content_fingerprint(frame))
    fs.makedirs(posixpath.dirname(path), exist_ok=True)
    fs.pipe_file(path, json.dumps(claim).encode())
    return snapshot_id


def test_a_claim_that_never_commits_makes_publish_wait_then_refuse(
    location: Location, frame: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another producer's fresh claim on the same content: publish waits, then PublishInProgressError."""
    monkeypatch.setattr(snapshots_module, "CLAIM_WAIT_SECONDS", 1.0)
    claimed = _plant_claim(location, frame, {"run_id": "other"}, timedelta(seconds=5))
    with pytest.raises(PublishInProgressError, match=f"snapshot {claimed} of the same content was claimed"):
        location.publish(frame, producer={"run_id": "mine"})
    assert location.list() == []


def test_a_stale_claim_is_taken_over(location: Location, frame: pd.DataFrame) -> None:
    """A claim older than STALE_CLAIM_SECONDS whose snapshot never committed does not block publishing."""
    _plant_claim(
        location, frame, {"run_id": "dead"}, timedelta(seconds=snapshots_module.STALE_CLAIM_SECONDS + 60)
    )
    published = location.publish(frame, producer={"run_id": "mine"})
    assert published.created
    assert [m.snapshot_id for m in location.list()] == [published.manifest.snapshot_id]


def test_a_retry_takes_over_its_own_claim(location: Location, frame: pd.DataFrame) -> None:
    """A fresh claim by the same producer (its crashed try) is taken over at once by the retry."""
    _plant_claim(location, frame, {"run_id": "r"}, timedelta(seconds=5))
    assert location.publish(frame, producer={"run_id": "r"}).created


def test_tampered_data_file_is_detected(location: Location, frame: pd.DataFrame) -> None:
    """One flipped byte in a Parquet file fails the sha256 check, naming the file."""
    sid = location.publish(frame).manifest.snapshot_id
    location.rewrite(sid, "part-00000.parquet", lambda b: b[:100] + bytes([b[100] ^ 0xFF]) + b[101:])
    with pytest.raises(SnapshotIntegrityError, match=r"part-00000\.parquet expected size \d+ sha256"):
        location.read()


def test_truncated_data_file_is_detected(location: Location, frame: pd.DataFrame) -> None:
    """A truncated Parquet file fails the size check."""
    manifest = location.publish(frame).manifest
    location.rewrite(manifest.snapshot_id, "part-00000.parquet", lambda b: b[: len(b) // 2])
    with pytest.raises(SnapshotIntegrityError, match=f"expected size {manifest.files[0].size}"):
        location.read()


def test_missing_data_file_is_detected(location: Location, frame: pd.DataFrame) -> None:
    """A manifest whose file is gone is an integrity error naming the file."""
    sid = location.publish(frame).manifest.snapshot_id
    fs, path = location.fs_path("snapshots", sid, "part-00000.parquet")
    fs.rm(path)
    with pytest.raises(SnapshotIntegrityError, match=r"part-00000\.parquet is missing"):
        location.read()


def test_tampered_manifest_row_count_is_detected(location: Location, frame: pd.DataFrame) -> None:
    """An edited row_count no longer matches the rows the files hold."""
    sid = location.publish(frame).manifest.snapshot_id
    location.edit_manifest(sid, lambda m: m.update(row_count=m["row_count"] - 1))
    with pytest.raises(SnapshotIntegrityError, match="row_count 999, files hold 1000 rows"):
        location.read()


def test_tampered_manifest_checksum_is_detected(location: Location, frame: pd.DataFrame) -> None:
    """An edited sha256 no longer matches the file."""
    sid = location.publish(frame).manifest.snapshot_id
    location.edit_manifest(sid, lambda m: m["files"][0].update(sha256="0" * 64))
    with pytest.raises(SnapshotIntegrityError, match=r"expected size .* sha256 0{64}"):
        location.read()


def test_replaced_data_with_matching_checksums_is_detected(location: Location, frame: pd.DataFrame) -> None:
    """Other valid data under a doctored manifest (sizes and sha256 updated) fails the content fingerprint."""
    sid = location.publish(frame).manifest.snapshot_id
    other = location.publish(sample_frame(seed=99)).manifest
    fs, other_path = location.fs_path("snapshots", other.snapshot_id, "part-00000.parquet")
    location.rewrite(sid, "part-00000.parquet", lambda _: fs.cat_file(other_path))
    location.edit_manifest(sid, lambda m: m.update(files=[other.to_dict()["files"][0]]))
    with pytest.raises(SnapshotIntegrityError, match="content fingerprint"):
        location.read(sid)


def test_snapshot_of_another_major_version_is_refused(location: Location, frame: pd.DataFrame) -> None:
    """A snapshot written under a major this package does not know (3.x) is not read: named, it is an
    IncompatibleContractError; as the newest, it is skipped (naming why) and nothing else is readable."""
    sid = location.publish(frame).manifest.snapshot_id
    location.edit_manifest(sid, lambda m: m["contract"].update(version="3.0.0"))
    with pytest.raises(IncompatibleContractError, match=r"3\.0\.0"):
        location.read(sid)
    with pytest.raises(SnapshotNotFoundError, match=rf"no readable .*{sid}: foreign: .* 3\.0\.0"):
        location.read()


def test_unknown_snapshot_id_is_not_found(location: Location, frame: pd.DataFrame) -> None:
    """Asking for a snapshot that was never committed raises SnapshotNotFoundError."""
    location.publish(frame)
    with pytest.raises(SnapshotNotFoundError):
        location.read("20000101T000000.000000Z-00000000")


def test_empty_dataset_has_no_snapshots(location: Location) -> None:
    """Before the first publish: empty list, no latest, read raises SnapshotNotFoundError."""
    assert location.list() == []
    assert latest_snapshot(location.uri, storage_options=location.storage_options) is None
    with pytest.raises(SnapshotNotFoundError, match="no committed snapshot"):
        location.read()


def test_s3_credentials_from_aws_environment(
    s3_server: Any, lake_uri: str, frame: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without storage_options, s3fs reads AWS_* variables, AWS_ENDPOINT_URL included."""
    for name, value in s3_server.env.items():
        monkeypatch.setenv(name, value)
    published = publish(frame, lake_uri, contract=V1)
    assert [m.snapshot_id for m in list_snapshots(lake_uri)] == [published.manifest.snapshot_id]
    pd.testing.assert_frame_equal(read_snapshot(lake_uri).frame, frame)


def test_a_part_downloads_one_chunk_at_a_time(
    s3_server: Any, lake_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each part streams in CHUNK_BYTES ranged GETs, no read-ahead block beside the chunk (s3fs's default
    would fetch and hold 50 MB ahead of each read): the same frame, one GET more per chunk."""
    options = s3_server.storage_options
    frame = sample_frame(20_000, seed=5)
    manifest = publish(frame, lake_uri, storage_options=options, contract=V1).manifest
    fs, _ = resolve(lake_uri, options)
    with S3Requests(fs) as whole:
        pd.testing.assert_frame_equal(read_snapshot(lake_uri, storage_options=options).frame, frame)
    chunk = 64 * 1024
    monkeypatch.setattr(storage_module, "CHUNK_BYTES", chunk)
    with S3Requests(fs) as chunked:
        pd.testing.assert_frame_equal(read_snapshot(lake_uri, storage_options=options).frame, frame)
    chunks = sum(-(-entry.size // chunk) for entry in manifest.files)
    assert chunks > len(manifest.files)  # the test needs parts larger than a chunk
    extra = chunked.by_operation["GetObject"] - whole.by_operation["GetObject"]
    assert extra == chunks - len(manifest.files)


def test_large_frames_are_split_into_bounded_parts_and_row_groups(
    local_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Frames are written in row groups of ROW_GROUP_ROWS, in files of FILE_ROWS, and read back whole."""
    monkeypatch.setattr(snapshots_module, "ROW_GROUP_ROWS", 512)
    monkeypatch.setattr(snapshots_module, "FILE_ROWS", 2048)
    df = sample_frame(5000, seed=5)
    manifest = publish(df, local_uri, contract=V1).manifest
    assert [f.path for f in manifest.files] == [
        "part-00000.parquet",
        "part-00001.parquet",
        "part-00002.parquet",
    ]
    fs, root = resolve(local_uri)
    with fs.open(f"{root}/snapshots/{manifest.snapshot_id}/part-00000.parquet", "rb") as handle:
        metadata = pq.ParquetFile(handle).metadata
        assert metadata.num_row_groups == 4
        assert metadata.row_group(0).column(0).compression == "ZSTD"
    pd.testing.assert_frame_equal(read_snapshot(local_uri).frame, df)


def test_plain_paths_work_like_file_uris(tmp_path: Any, frame: pd.DataFrame) -> None:
    """A plain folder path is the same dataset as its file:// URI."""
    folder = tmp_path / "california_housing" / "v1"
    published = publish(frame, str(folder), contract=V1)
    assert [m.snapshot_id for m in list_snapshots(folder.as_uri())] == [published.manifest.snapshot_id]


def test_snapshot_ids_sort_by_time_even_when_the_clock_goes_back() -> None:
    """A new id is always later than the newest existing one, and ids sort like their times."""
    first, created = new_snapshot_id()
    second, _ = new_snapshot_id(created - timedelta(seconds=5), after=first)
    assert first < second
    assert snapshot_time(first) == created
    assert snapshot_time(second) > snapshot_time(first)


def test_split_snapshot_uri_finds_dataset_and_id() -> None:
    """…/snapshots/<id> splits into dataset URI and id; other URIs are not snapshot URIs."""
    sid = "20261123T201208.123456Z-1a2b3c4d"
    assert split_snapshot_uri(f"s3://lake/california_housing/v1/snapshots/{sid}/") == (
        "s3://lake/california_housing/v1",
        sid,
    )
    assert split_snapshot_uri("s3://lake/california_housing/v1") is None


def test_each_read_logs_one_info_line(location: Location, frame: pd.DataFrame, caplog: Any) -> None:
    """read_snapshot logs exactly one INFO line per call, "read snapshot <id>: ...", on its module's logger
    (the bench counts reads per Airflow task from it)."""
    sid = location.publish(frame).manifest.snapshot_id
    with caplog.at_level(logging.INFO, logger=snapshots_module.__name__):
        location.read(sid)
        location.read()
    lines = [
        r
        for r in caplog.records
        if r.name == "housing_contracts.lake.snapshots" and r.levelno == logging.INFO
    ]
    assert [r.getMessage().split(":")[0] for r in lines] == [f"read snapshot {sid}"] * 2
    assert "1 files" in lines[0].getMessage()


def test_parts_stream_through_many_small_chunks(local_uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """With chunks far smaller than a part, the encoder waits on the uploader again and again; the parts,
    their sizes and sha256 still come out whole (read_snapshot verifies them)."""
    monkeypatch.setattr(snapshots_module, "CHUNK_BYTES", 1024)
    monkeypatch.setattr(snapshots_module, "ROW_GROUP_ROWS", 512)
    monkeypatch.setattr(snapshots_module, "FILE_ROWS", 2048)
    df = sample_frame(5000, seed=6)
    manifest = publish(df, local_uri, contract=V1).manifest
    fs, root = resolve(local_uri)
    for entry in manifest.files:
        assert fs.size(f"{root}/snapshots/{manifest.snapshot_id}/{entry.path}") == entry.size
    pd.testing.assert_frame_equal(read_snapshot(local_uri).frame, df)


class _FailingFile:
    """A sink whose storage fails after a few writes, like a connection lost mid-upload."""

    def __init__(self) -> None:
        self.writes = 0

    def write(self, data: bytes) -> int:
        self.writes += 1
        if self.writes > 3:
            raise OSError("connection lost mid-upload")
        return len(data)

    def __enter__(self) -> _FailingFile:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


class _FailingStore:
    def open(self, path: str, mode: str, **options: object) -> _FailingFile:
        return _FailingFile()


def test_a_failed_upload_stops_the_encoder_and_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    """An upload that fails mid-part raises its own error, and the encoder blocked on the full queue
    stops instead of hanging the publish."""
    import threading

    monkeypatch.setattr(snapshots_module, "CHUNK_BYTES", 1024)
    monkeypatch.setattr(snapshots_module, "ROW_GROUP_ROWS", 512)
    with pytest.raises(OSError, match="connection lost mid-upload"):
        snapshots_module._write_parts(_FailingStore(), "nowhere", sample_frame(20_000, seed=2), COLUMNS)
    assert not [t for t in threading.enumerate() if t.name.startswith("publish-encode")]


def test_a_large_part_is_uploaded_in_parts_of_the_upload_size(s3_server: Any, lake_uri: str) -> None:
    """A part file larger than UPLOAD_PART_BYTES goes up as a multipart upload of parts that size (not in
    s3fs's 50 MB default blocks, held and copied beside the frame), and reads back verified."""
    rows = 200_000  # full-precision random values: ~14 MB of Parquet in one part
    frame = sample_frame(rows, seed=5)
    fs, _ = resolve(lake_uri, s3_server.storage_options)
    with S3Requests(fs) as counted:
        result = publish(frame, lake_uri, storage_options=s3_server.storage_options, contract=V1)
    (part,) = result.manifest.files
    expected_parts = -(-part.size // snapshots_module.UPLOAD_PART_BYTES)
    assert part.size > snapshots_module.UPLOAD_PART_BYTES
    assert counted.by_operation["UploadPart"] == expected_parts
    assert len(read_snapshot(lake_uri, storage_options=s3_server.storage_options).frame) == rows
