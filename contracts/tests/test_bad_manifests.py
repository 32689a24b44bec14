"""One bad manifest must not wedge the lake: on a real SeaweedFS, with the data team's and the ML team's
identities, every reader skips a corrupt or foreign manifest naming its reason, the producer publishes
past a junk newest manifest, and the owner quarantines a snapshot folder keeping its bytes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from typer.testing import CliRunner

import housing_contracts.consumers.lifecycle as lifecycle_module
from housing_contracts import (
    V1,
    V2,
    IncompatibleContractError,
    SnapshotIntegrityError,
    SnapshotNotFoundError,
    check_freshness,
    consumer_lag,
    latest_snapshot,
    list_snapshots,
    publish,
    publish_all,
    read_snapshot,
)
from housing_contracts.cli import app
from housing_contracts.consumers.lifecycle import QuarantineRefused, quarantine_snapshot
from housing_contracts.consumers.records import Receipt, Subscription, record_receipt, subscribe
from housing_contracts.lake.catalog import readable_snapshots
from housing_contracts.lake.layout import new_snapshot_id
from housing_contracts.lake.quarantine import list_quarantined, quarantine_folder, read_quarantine
from housing_contracts.lake.storage import resolve
from housing_contracts.testing import sample_frame
from housing_testkit.identities import S3Identity

runner = CliRunner()


def _cli(args: list[str], identity: S3Identity) -> Any:
    """The CLI as ``identity`` runs it: its own process would build its own S3 client from the AWS
    variables; in this process, drop the clients fsspec cached for another identity's variables."""
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()
    try:
        return runner.invoke(app, args, env=identity.env)
    finally:
        s3fs.S3FileSystem.clear_instance_cache()  # nor leave this identity's to the next test


@dataclass
class Lake:
    """A private v1 dataset inside both teams' grants, written with the data team's keys."""

    uri: str
    options: dict[str, Any]

    @property
    def fs(self) -> Any:
        fs, _ = resolve(self.uri, self.options)
        fs.invalidate_cache()
        return fs

    @property
    def root(self) -> str:
        return resolve(self.uri, self.options)[1]

    def publish(self, seed: int) -> str:
        return publish(
            sample_frame(seed=seed), self.uri, contract=V1, storage_options=self.options
        ).manifest.snapshot_id

    def junk(self, content: bytes | dict[str, Any], *, extra: dict[str, bytes] | None = None) -> str:
        """A snapshot folder after every listed one whose manifest is ``content`` (and other files)."""
        newest = max(self.listed(), default=None)
        snapshot_id, _ = new_snapshot_id(after=newest)
        if isinstance(content, dict):
            content = json.dumps(
                content | ({"snapshot_id": snapshot_id} if "files" in content else {})
            ).encode()
        folder = f"{self.root}/snapshots/{snapshot_id}"
        for name, data in (extra or {}).items():
            self.fs.pipe_file(f"{folder}/{name}", data)
        self.fs.pipe_file(f"{folder}/_manifest.json", content)
        return snapshot_id

    def listed(self) -> list[str]:
        from housing_contracts.lake.layout import committed_snapshot_ids

        return committed_snapshot_ids(self.fs, self.root)

    def files(self, folder: str) -> dict[str, bytes]:
        fs = self.fs
        try:
            found = fs.find(folder, detail=True)
        except FileNotFoundError:
            return {}
        # the store may keep an emptied folder as a directory entry
        files = [path for path, info in found.items() if info["type"] != "directory"]
        return {path[len(folder) + 1 :]: fs.cat_file(path) for path in files}


@pytest.fixture
def lake(team_lake_uri: str, data_team_s3: S3Identity) -> Lake:
    return Lake(team_lake_uri, data_team_s3.storage_options)


def _foreign(lake: Lake, good: str) -> dict[str, Any]:
    """A well-formed manifest of contract 2.0.0 (another major than this v1 dataset's)."""
    manifest = json.loads(lake.fs.cat_file(f"{lake.root}/snapshots/{good}/_manifest.json"))
    return manifest | {"contract": {"name": V2.name, "version": V2.version}}


@pytest.fixture
def junk_lake(lake: Lake) -> tuple[Lake, dict[str, str]]:
    """good A, a manifest that is not JSON, good B, a 2.0.0 manifest, and newest a manifest failing the
    strict record (its row_count missing)."""
    ids = {"a": lake.publish(1)}
    ids["corrupt"] = lake.junk(b"{not json")
    ids["b"] = lake.publish(2)
    ids["foreign"] = lake.junk(_foreign(lake, ids["b"]))
    strict = json.loads(lake.fs.cat_file(f"{lake.root}/snapshots/{ids['b']}/_manifest.json"))
    del strict["row_count"]
    ids["strict"] = lake.junk(strict)
    return lake, ids


def test_every_reader_skips_a_corrupt_or_foreign_manifest_naming_it(junk_lake, reliability_row) -> None:
    """list_snapshots, readable_snapshots, latest_snapshot and read_snapshot() skip the three bad
    manifests, each named with its reason; the newest readable snapshot is read."""
    lake, ids = junk_lake
    listing = readable_snapshots(lake.uri, storage_options=lake.options)
    skipped = {skip.snapshot_id: skip.reason for skip in listing.skipped}
    latest = latest_snapshot(lake.uri, storage_options=lake.options)
    read = read_snapshot(lake.uri, storage_options=lake.options)
    reliability_row(
        "corrupt, strict-record and foreign manifests among good snapshots (newest is junk)",
        "every reader skips them, naming each reason; latest/read are the newest readable",
        f"listed {[m.snapshot_id for m in listing.manifests]}, skipped {skipped}, "
        f"latest {latest and latest.snapshot_id}, read {read.manifest.snapshot_id}",
    )
    assert [m.snapshot_id for m in list_snapshots(lake.uri, storage_options=lake.options)] == [
        ids["a"],
        ids["b"],
    ]
    assert [m.snapshot_id for m in listing.manifests] == [ids["a"], ids["b"]]
    assert skipped[ids["corrupt"]].startswith("corrupt manifest: not valid JSON")
    assert skipped[ids["strict"]] == "corrupt manifest: manifest: field 'row_count': missing"
    assert (
        skipped[ids["foreign"]]
        == "foreign: written under california_housing 2.0.0, in a dataset of " + V1.label
    )
    assert latest is not None and latest.snapshot_id == ids["b"]
    assert read.manifest.snapshot_id == ids["b"]


def test_a_named_bad_snapshot_still_raises_a_clear_error(junk_lake) -> None:
    """Reading a bad snapshot by its id is an error naming the file or the contract, never a skip."""
    lake, ids = junk_lake
    with pytest.raises(SnapshotIntegrityError, match=rf"{ids['corrupt']}/_manifest.json: not valid JSON"):
        read_snapshot(lake.uri, ids["corrupt"], storage_options=lake.options)
    with pytest.raises(IncompatibleContractError, match=r"written under contract california_housing 2\.0\.0"):
        read_snapshot(lake.uri, ids["foreign"], storage_options=lake.options)


def test_the_snapshots_command_lists_the_readable_and_names_the_skipped(
    junk_lake, data_team_s3: S3Identity, reliability_row
) -> None:
    """``housing-contract snapshots`` exits 0 with both good snapshots and one line per skipped one."""
    lake, ids = junk_lake
    result = _cli(["snapshots", lake.uri], data_team_s3)
    reliability_row(
        "housing-contract snapshots on a lake with junk manifests",
        "exit 0; good rows; one 'skipped <id>: <reason>' line each",
        f"exit {result.exit_code}; {result.stdout.count('skipped')} skipped lines",
    )
    assert result.exit_code == 0, result.output
    assert ids["a"] in result.stdout and ids["b"] in result.stdout
    for name in ("corrupt", "foreign", "strict"):
        assert f"skipped {ids[name]}: " in result.stdout


def test_lag_and_freshness_count_only_readable_snapshots(
    junk_lake, ml_team_s3: S3Identity, reliability_row
) -> None:
    """A consumer that consumed the newest readable snapshot lags 0 (junk is no lag); freshness measures
    the newest readable snapshot and names the junk newer than it."""
    lake, ids = junk_lake
    now = datetime.now(UTC)
    ml = ml_team_s3.storage_options
    subscribe(
        Subscription("ml-team", lake.uri, "http://ml", timedelta(hours=6), "earliest", None, now, "1.1.0"),
        storage_options=ml,
    )
    record_receipt(
        Receipt("ml-team", lake.uri, ids["b"], "housing_consumer", "r1", "success", None, now, now),
        storage_options=ml,
    )
    [row] = consumer_lag(lake.uri, storage_options=lake.options)
    fresh = check_freshness(lake.uri, storage_options=lake.options)
    reliability_row(
        "lag and freshness with junk manifests newer than the consumed snapshot",
        "lag 0, newest = newest readable; freshness on it, naming the junk",
        f"lag {row.lag_snapshots}, newest {row.newest_snapshot_id}; {fresh}",
    )
    assert (row.lag_snapshots, row.newest_snapshot_id, row.problems) == (0, ids["b"], ())
    assert f"newest snapshot {ids['b']} is" in fresh
    assert f"2 newer unreadable snapshot(s) skipped: {ids['strict']}: corrupt manifest" in fresh


def test_publish_after_a_junk_newest_manifest_is_idempotent_against_the_newest_readable(
    lake: Lake, reliability_row
) -> None:
    """The same content again commits nothing (the newest readable holds it); new content commits a
    snapshot whose id sorts after the junk; the next publish of it commits nothing."""
    first = lake.publish(1)
    junk = lake.junk(b"\x00 not a manifest")
    again = publish_all(
        sample_frame(seed=1), (V1,), source=V1, uris={V1: lake.uri}, storage_options=lake.options
    )
    new = publish_all(
        sample_frame(seed=5), (V1,), source=V1, uris={V1: lake.uri}, storage_options=lake.options
    )
    repeat = publish_all(
        sample_frame(seed=5), (V1,), source=V1, uris={V1: lake.uri}, storage_options=lake.options
    )
    outcomes = [(r.results[V1].created, r.results[V1].manifest.snapshot_id) for r in (again, new, repeat)]
    reliability_row(
        "publish_all after a junk newest manifest",
        "same content: no commit; new content: one snapshot after the junk id; again: no commit",
        f"{outcomes}; listed {len(lake.listed())}",
    )
    assert outcomes[0] == (False, first)
    assert outcomes[1][0] is True and outcomes[1][1] > junk
    assert outcomes[2] == (False, outcomes[1][1])
    assert lake.listed() == [first, junk, outcomes[1][1]]


# --- quarantine ----------------------------------------------------------------------------------------

PART = b"PAR1 half-written bytes of an old producer"


def test_quarantine_moves_the_bytes_keeps_them_and_writes_the_record(lake: Lake, reliability_row) -> None:
    """The folder leaves snapshots/, its files are byte for byte in _quarantine/<id>/, the record says
    who, when and why, and naming the snapshot says where it went."""
    good = lake.publish(1)
    junk = lake.junk(b"{not json", extra={"part-00000.parquet": PART})
    before = lake.files(f"{lake.root}/snapshots/{junk}")
    outcome = quarantine_snapshot(
        lake.uri, junk, reason="not JSON", by="data-team", storage_options=lake.options
    )
    kept = lake.files(quarantine_folder(lake.root, junk))
    record = read_quarantine(lake.fs, lake.root, junk)
    reliability_row(
        "quarantine a corrupt snapshot folder (data team)",
        "folder gone from snapshots/; same bytes kept; record who/when/why",
        f"{outcome.action}; left {sorted(lake.files(f'{lake.root}/snapshots/{junk}'))}; kept {sorted(kept)}; "
        f"record by {record and record.quarantined_by}: {record and record.reason}",
    )
    assert outcome.action == "quarantined"
    assert lake.files(f"{lake.root}/snapshots/{junk}") == {}
    assert kept == before
    assert record is not None and record.completed_at is not None
    assert (record.reason, record.quarantined_by) == ("not JSON", "data-team")
    assert record.manifest_problem is not None and record.manifest_problem.startswith("corrupt manifest")
    assert {f.path: f.size for f in record.files} == {name: len(data) for name, data in before.items()}
    assert lake.listed() == [good]
    with pytest.raises(SnapshotNotFoundError, match=r"quarantined at .* by data-team: not JSON"):
        read_snapshot(lake.uri, junk, storage_options=lake.options)
    again = quarantine_snapshot(lake.uri, junk, reason="other", by="x", storage_options=lake.options)
    assert again.action == "already quarantined" and again.record == record


def test_a_quarantine_stopped_halfway_loses_nothing_and_a_rerun_completes_it(
    lake: Lake, monkeypatch: pytest.MonkeyPatch, reliability_row
) -> None:
    """Stopped during the copy: nothing deleted. Stopped after the manifest's delete: the rest stays in
    snapshots/ and in the quarantine; running it again finishes it with the first run's record."""
    junk = lake.junk(b"{not json", extra={"part-00000.parquet": PART, "part-00001.parquet": PART * 2})
    before = lake.files(f"{lake.root}/snapshots/{junk}")
    real_copy = lifecycle_module.copy_verified
    copies = []

    def copy_then_stop(fs: Any, path: str, target: Any) -> Any:
        copies.append(path)
        if len(copies) == 3:
            raise OSError("stopped during the copy")
        return real_copy(fs, path, target)

    monkeypatch.setattr(lifecycle_module, "copy_verified", copy_then_stop)
    with pytest.raises(OSError, match="stopped during the copy"):
        quarantine_snapshot(lake.uri, junk, reason="first run", by="alice", storage_options=lake.options)
    after_copy_stop = lake.files(f"{lake.root}/snapshots/{junk}")
    monkeypatch.setattr(lifecycle_module, "copy_verified", real_copy)

    fs = lake.fs  # the instance quarantine_snapshot resolves too (fsspec caches it by its options)
    real_rm = fs.rm
    removed: list[str] = []

    def rm_then_stop(path: Any, *args: Any, **kwargs: Any) -> Any:
        if removed:
            raise OSError("stopped during the delete")
        removed.append(path)
        return real_rm(path, *args, **kwargs)

    monkeypatch.setattr(fs, "rm", rm_then_stop)
    with pytest.raises(OSError, match="stopped during the delete"):
        quarantine_snapshot(lake.uri, junk, reason="first run", by="alice", storage_options=lake.options)
    monkeypatch.setattr(fs, "rm", real_rm)
    half = lake.files(f"{lake.root}/snapshots/{junk}")
    half_record = read_quarantine(lake.fs, lake.root, junk)

    outcome = quarantine_snapshot(lake.uri, junk, reason="second run", by="bob", storage_options=lake.options)
    kept = lake.files(quarantine_folder(lake.root, junk))
    reliability_row(
        "quarantine stopped during the copy, then during the delete, then run again",
        "nothing lost at either stop; the re-run completes with the first run's record",
        f"after copy stop {sorted(after_copy_stop)}; half {sorted(half)} (record complete: "
        f"{half_record and half_record.completed_at is not None}); {outcome.action}, kept {sorted(kept)}",
    )
    assert after_copy_stop == before
    assert (
        removed
        and removed[0].endswith("/_manifest.json")
        and sorted(half) == ["part-00000.parquet", "part-00001.parquet"]
    )
    assert half_record is not None and half_record.completed_at is None
    assert outcome.action == "resumed" and (outcome.record.reason, outcome.record.quarantined_by) == (
        "first run",
        "alice",
    )
    assert outcome.record.completed_at is not None
    assert lake.files(f"{lake.root}/snapshots/{junk}") == {}
    assert kept == before


def test_a_copy_that_does_not_match_stops_the_quarantine_before_any_delete(
    lake: Lake, monkeypatch: pytest.MonkeyPatch, reliability_row
) -> None:
    """A copy that lands short (its bytes differ from what was read) is found by the verification: an
    error naming the copy, nothing deleted, no record."""
    junk = lake.junk(b"{not json", extra={"part-00000.parquet": PART})
    before = lake.files(f"{lake.root}/snapshots/{junk}")
    real_copy = lifecycle_module.copy_verified

    def short_copy(fs: Any, path: str, target: Any) -> Any:
        if "/snapshots/" in path and path.endswith(".parquet"):
            measured = real_copy(fs, path, _Sink())
            target.write(PART[:-1])  # one byte lost on the way
            return measured
        return real_copy(fs, path, target)

    monkeypatch.setattr(lifecycle_module, "copy_verified", short_copy)
    with pytest.raises(OSError, match=r"part-00000\.parquet: the copy does not match") as stopped:
        quarantine_snapshot(lake.uri, junk, reason="x", by="data-team", storage_options=lake.options)
    reliability_row(
        "quarantine whose copy of a part lands one byte short",
        "verification stops it before any delete; no record",
        f"{str(stopped.value)[:90]}…; left {sorted(lake.files(f'{lake.root}/snapshots/{junk}'))}",
    )
    assert lake.files(f"{lake.root}/snapshots/{junk}") == before
    assert read_quarantine(lake.fs, lake.root, junk) is None


class _Sink:
    def write(self, data: bytes) -> int:
        return len(data)


def test_the_ml_identity_cannot_quarantine(lake: Lake, ml_team_s3: S3Identity, reliability_row) -> None:
    """The ML team's read-only keys are refused by S3 before anything moves; the CLI says who may."""
    junk = lake.junk(b"{not json", extra={"part-00000.parquet": PART})
    before = lake.files(f"{lake.root}/snapshots/{junk}")
    with pytest.raises(PermissionError):
        quarantine_snapshot(
            lake.uri, junk, reason="x", by="ml-team", storage_options=ml_team_s3.storage_options
        )
    result = _cli(["quarantine", lake.uri, junk, "--reason", "x"], ml_team_s3)
    reliability_row(
        "quarantine with the ML team's identity",
        "refused by S3; exit 2; nothing moved, no record",
        f"exit {result.exit_code}: {result.output.strip()[:120]}; "
        f"files left {sorted(lake.files(f'{lake.root}/snapshots/{junk}'))}",
    )
    assert result.exit_code == 2
    assert "permission denied" in result.output and "owner's S3 identity" in result.output
    assert lake.files(f"{lake.root}/snapshots/{junk}") == before
    assert read_quarantine(lake.fs, lake.root, junk) is None


def test_a_readable_snapshot_is_quarantined_only_with_force(
    lake: Lake, data_team_s3: S3Identity, reliability_row
) -> None:
    """Without --force the command refuses (exit 1) saying readers of the newest lose it; --dry-run
    changes nothing; with --force it goes and the previous snapshot is the newest again."""
    first, second = lake.publish(1), lake.publish(2)
    refused = _cli(["quarantine", f"{lake.uri}/snapshots/{second}", "--reason", "bad values"], data_team_s3)
    dry = _cli(
        ["quarantine", lake.uri, second, "--reason", "bad values", "--force", "--dry-run"], data_team_s3
    )
    listed_after_dry = lake.listed()
    forced = _cli(
        ["quarantine", lake.uri, second, "--reason", "bad values", "--force", "--by", "data-team"],
        data_team_s3,
    )
    latest = latest_snapshot(lake.uri, storage_options=lake.options)
    shown = _cli(["snapshots", lake.uri], data_team_s3)
    reliability_row(
        "quarantine a readable (newest) snapshot",
        "refused without --force; dry run changes nothing; --force moves it and warns",
        f"exits {refused.exit_code}/{dry.exit_code}/{forced.exit_code}; "
        f"latest after: {latest and latest.snapshot_id}",
    )
    assert refused.exit_code == 1 and f"readers of the newest get {first} instead" in refused.output
    assert dry.exit_code == 0 and "planned (dry run: nothing changed)" in dry.stdout
    assert listed_after_dry == [first, second]
    assert forced.exit_code == 0 and "WARNING: it is the newest readable snapshot" in forced.stdout
    assert latest is not None and latest.snapshot_id == first
    assert "quarantined: 1" in shown.stdout and f"{second}: quarantined at" in shown.stdout
    records, problems = list_quarantined(lake.fs, lake.root)
    assert (
        [r.snapshot_id for r in records] == [second]
        and records[0].manifest_problem is None
        and problems == []
    )


def test_a_folder_without_manifest_is_quarantined_only_with_force(lake: Lake) -> None:
    """A folder with parts but no manifest may be a publish still writing: refused unless force."""
    folder_id, _ = new_snapshot_id()
    folder = f"{lake.root}/snapshots/{folder_id}"
    lake.fs.pipe_file(f"{folder}/part-00000.parquet", PART)
    with pytest.raises(QuarantineRefused, match="a publish may still be writing it"):
        quarantine_snapshot(
            lake.uri, folder_id, reason="debris", by="data-team", storage_options=lake.options
        )
    assert lake.files(folder) == {"part-00000.parquet": PART}
    outcome = quarantine_snapshot(
        lake.uri, folder_id, reason="debris", by="data-team", force=True, storage_options=lake.options
    )
    assert outcome.record.manifest_problem == "no _manifest.json: an uncommitted folder"
    assert lake.files(quarantine_folder(lake.root, folder_id)) == {"part-00000.parquet": PART}
