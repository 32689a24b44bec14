"""Immutable snapshots of the dataset: publish (producer), list / latest / read (consumer).

``<uri>/snapshots/<snapshot_id>/`` holds the Parquet parts, then ``_manifest.json``, written last as the
commit marker; a claim in ``<uri>/_claims/`` makes concurrent publishes of the same content commit once;
``<uri>/_current.json`` records the producer's latest confirmation that the newest snapshot is current.
Each major of the contract has its own dataset; :func:`publish_all` publishes one frame to all of them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import posixpath
import queue
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Annotated, Any, ClassVar, NoReturn

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import Field, JsonValue
from pydantic.dataclasses import dataclass as pydantic_dataclass

from housing_contracts.contract.conversion import convert
from housing_contracts.contract.errors import (
    ContractError,
    IncompatibleContractError,
    PublishInProgressError,
    SnapshotIntegrityError,
    SnapshotNotFoundError,
)
from housing_contracts.contract.fingerprint import ContentHasher, content_fingerprint, schema_fingerprint
from housing_contracts.contract.validation import validate
from housing_contracts.contract.versions import CONTRACTS, LATEST, Contract, contract_for, contract_of

# re-exported: list_snapshots, latest_snapshot and split_snapshot_uri were defined here before catalog.py
from housing_contracts.lake.catalog import (  # noqa: F401
    latest_snapshot,
    list_snapshots,
    newest_readable_snapshot,
    newest_snapshot_id,
    read_named_manifest,
    recent_snapshot_ids,
    split_snapshot_uri,
)
from housing_contracts.lake.confirmation import Confirmation, confirm_current, current_path
from housing_contracts.lake.documents import (
    STRICT,
    Record,
    SnapshotId,
    UtcTime,
    parse_document,
    write_document,
)
from housing_contracts.lake.layout import (
    MANIFEST_NAME,
    SNAPSHOT_ID_PATTERN,
    SNAPSHOTS_DIR,
    claim_path,
    new_snapshot_id,
)
from housing_contracts.lake.manifest import ColumnStats, ContractRef, Manifest, ManifestFile, read_manifest
from housing_contracts.lake.retirement import Retirement, read_retirement
from housing_contracts.lake.storage import CHUNK_BYTES, copy_verified, create_exclusive, ensure_dir, resolve

#: Rows per Parquet row group: the unit of bounded-memory reads and writes (~9 MB of float64 per group).
ROW_GROUP_ROWS = 131_072
#: Rows per Parquet file; bigger frames are split into part-00000, part-00001, ...
FILE_ROWS = 32 * ROW_GROUP_ROWS
#: Bytes per multipart part an upload sends (S3's smallest is 5 MiB): s3fs's default write block, 50 MB,
#: is held and copied per part beside the frame.
UPLOAD_PART_BYTES = 8 * 1024 * 1024
#: How the parts are encoded (the bench's floor writes with the same options). zstd level 1 is Arrow's
#: default; full-precision floats rarely repeat, so dictionary encoding costs time and saves nothing.
PARQUET_OPTIONS: dict[str, Any] = {"compression": "zstd", "compression_level": 1, "use_dictionary": False}

#: How long a publisher waits for another one that claimed the same commit to finish it.
CLAIM_WAIT_SECONDS = 60.0
#: A claim this old whose snapshot never committed was abandoned (its publisher died): taken over.
STALE_CLAIM_SECONDS = 600.0

log = logging.getLogger(__name__)


class RetiredError(ContractError):
    """A publish to a retired dataset: its major is no longer published (see ``lifecycle.py``)."""


@cache
def _arrow_schema(columns: tuple[str, ...]) -> pa.Schema:
    return pa.schema([pa.field(column, pa.float64(), nullable=False) for column in columns])


@dataclass(frozen=True)
class PublishResult:
    """The outcome of :func:`publish`."""

    manifest: Manifest
    created: bool  # False: the newest snapshot already held this content; only the confirmation was written
    snapshot_uri: str


@dataclass(frozen=True)
class Snapshot:
    """A verified, validated snapshot read back into memory, in the columns of its contract."""

    frame: pd.DataFrame
    manifest: Manifest
    contract: Contract


@dataclass(frozen=True)
class PublishAll:
    """The outcome of :func:`publish_all`: a result per published major, the retired ones skipped."""

    results: dict[Contract, PublishResult] = field(default_factory=dict)
    retired: dict[Contract, Retirement] = field(default_factory=dict)

    @property
    def created(self) -> bool:
        """Whether any major got a new snapshot."""
        return any(result.created for result in self.results.values())


def publish(
    df: pd.DataFrame,
    uri: str | None = None,
    *,
    contract: Contract = LATEST,
    producer: dict[str, Any] | None = None,
    extras: dict[str, Any] | None = None,
    storage_options: dict[str, Any] | None = None,
) -> PublishResult:
    """Validate ``df`` against ``contract`` and publish it as a new immutable snapshot under ``uri``
    (default: the contract's own dataset), manifest last. :class:`RetiredError` if ``uri`` is retired.

    Idempotent: when the newest snapshot, or a concurrent publisher's that claimed the same content, has
    this content, its manifest comes back with ``created=False`` and no snapshot is written.

    Either way the producer confirms the data current (``<uri>/_current.json``, see
    :mod:`~housing_contracts.lake.confirmation`): at this time for unchanged content, as of its creation for a
    new snapshot. The freshness promise counts confirmations, so an unchanged source keeps it. A failed
    confirmation of unchanged content raises (it is the only evidence; a retry writes it); one after a
    commit is logged, not raised: the new snapshot is itself the freshest evidence, and the commit stands.
    """
    fingerprint, stats = _check_and_summarise(df, contract, validated=False)
    return _publish_checked(df, uri, contract, fingerprint, stats, producer, extras, storage_options)


def publish_all(
    df: pd.DataFrame,
    contracts: Sequence[Contract] = CONTRACTS,
    *,
    source: Contract = LATEST,
    uris: Mapping[Contract, str] | None = None,
    producer: dict[str, Any] | None = None,
    extras: dict[str, Any] | None = None,
    storage_options: dict[str, Any] | None = None,
    consume: bool = False,
) -> PublishAll:
    """Validate ``df`` against ``source`` once, then publish it to every major in ``contracts``, converted
    (``conversion.py``), each atomically under its own dataset (``uris``, default each
    ``Contract.dataset_uri()``). A retired major is skipped: it is in ``PublishAll.retired``.

    The :class:`ContractViolation` comes before anything is written. Converted frames are not validated
    again: the conversion keeps every valid frame valid (the tests hold both models to that).

    ``source``'s own major is written first, from ``df`` itself. With ``consume``, the last conversion
    takes ``df``'s columns as it goes (``convert(..., consume=True)``), so the peak is one frame plus a
    column rather than two frames; ``df`` is then left empty, and only once validation has passed.
    ``PublishAll.results`` keeps the order of ``contracts``.
    """
    uris = dict(uris or {})
    targets = {contract: uris.get(contract) or contract.dataset_uri() for contract in contracts}
    validate(df, source)
    order = sorted(targets, key=lambda contract: contract.major != source.major)  # stable: source first
    last = order[-1] if consume and order and order[-1].major != source.major else None  # takes df's columns
    outcome = PublishAll()
    results: dict[Contract, PublishResult] = {}
    for contract in order:
        uri = targets[contract]
        fs, root = resolve(uri, storage_options)
        retired = read_retirement(fs, root)
        if retired is not None:
            log.info("%s (%s) is retired: not published. %s", contract.label, uri, retired.text())
            outcome.retired[contract] = retired
            continue
        frame = convert(df, source, contract, consume=contract is last)
        fingerprint, stats = _check_and_summarise(frame, contract, validated=True)
        results[contract] = _publish_checked(
            frame, uri, contract, fingerprint, stats, producer, extras, storage_options
        )
        del frame  # a converted frame goes before the next one is built
    outcome.results.update((contract, results[contract]) for contract in targets if contract in results)
    return outcome


def _publish_checked(
    df: pd.DataFrame,
    uri: str | None,
    contract: Contract,
    fingerprint: str,
    stats: dict[str, ColumnStats],
    producer: dict[str, Any] | None,
    extras: dict[str, Any] | None,
    storage_options: dict[str, Any] | None,
) -> PublishResult:
    """Publish a frame that conforms to ``contract``, given its fingerprint and column statistics."""
    producer = dict(producer or {})
    extras = dict(extras or {})
    for name, value in (("producer", producer), ("extras", extras)):
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"publish(): {name} must be JSON-serialisable: {exc}") from None

    uri = str(uri or contract.uri).rstrip("/")
    fs, root = resolve(uri, storage_options)
    retired = read_retirement(fs, root)
    if retired is not None:
        raise RetiredError(
            f"{contract.label} at {uri} is retired, nothing is published there: {retired.text()}"
        )
    ids = recent_snapshot_ids(fs, root)
    newest_id = ids[-1] if ids else None
    # Compared with the newest readable snapshot: a corrupt or foreign newest manifest is skipped (and
    # logged), never a wedge. The new id still sorts after every listed one, junk included.
    newest = newest_readable_snapshot(fs, root, ids, contract=contract)[0]
    if newest is not None and newest.content_fingerprint == fingerprint:
        return _unchanged(fs, root, newest, producer)

    snapshot_id, created_at = new_snapshot_id(after=newest_id)
    claim = Claim(snapshot_id, producer, created_at)
    winner = _claim_commit(fs, root, claim_path(root, newest_id, fingerprint), claim)
    if winner is not None:
        return _unchanged(fs, root, winner, producer)
    folder = f"{root}/{SNAPSHOTS_DIR}/{snapshot_id}"
    ensure_dir(fs, folder)
    try:
        files = _write_parts(fs, folder, df, contract.columns)
    except BaseException:
        # No manifest yet, so the folder is invisible anyway; remove the debris where we still can.
        with contextlib.suppress(Exception):
            fs.rm(folder, recursive=True)
        raise
    manifest = Manifest(
        contract=ContractRef(contract.name, contract.version),
        schema_fingerprint=schema_fingerprint(contract=contract),
        dataset_uri=uri,
        snapshot_id=snapshot_id,
        created_at=created_at,
        producer=producer,
        row_count=len(df),
        files=files,
        content_fingerprint=fingerprint,
        stats=stats,
        extras=extras,
        deprecation=contract.deprecation.to_dict() if contract.deprecation else None,
    )
    # The commit. If this raises, the PUT may still have landed, so the data files must stay.
    _write_manifest(fs, folder, manifest)
    try:
        confirm_current(fs, root, Confirmation(snapshot_id, created_at, producer))
    except OSError as exc:
        # The commit stands; freshness counts the new snapshot's own creation time.
        log.warning(
            "snapshot %s committed, but its confirmation could not be written to %s: %s",
            snapshot_id,
            current_path(root),
            exc,
        )
    return PublishResult(manifest=manifest, created=True, snapshot_uri=manifest.snapshot_uri)


def _unchanged(fs: Any, root: str, current: Manifest, producer: dict[str, Any]) -> PublishResult:
    """Confirm that ``current`` still holds the data, now; storage errors propagate (a retry writes it)."""
    confirm_current(fs, root, Confirmation(current.snapshot_id, datetime.now(UTC), producer))
    return PublishResult(manifest=current, created=False, snapshot_uri=current.snapshot_uri)


@pydantic_dataclass(frozen=True, config=STRICT)
class Claim(Record):
    """Who claimed a commit (``<root>/_claims/…``): the snapshot it will be, its publisher, and when. A lake
    document, untagged as 2.0.0 wrote it (a 2.0.0 publisher reads a newer one)."""

    FORMAT: ClassVar[str | None] = None

    snapshot_id: Annotated[SnapshotId, Field(description="the snapshot the claimant will commit")]
    producer: Annotated[dict[str, JsonValue], Field(description="who claimed: as given to publish")]
    claimed_at: Annotated[UtcTime, Field(description="when (UTC)")]

    def age_seconds(self) -> float:
        return (datetime.now(UTC) - self.claimed_at).total_seconds()


def _claim_commit(fs: Any, root: str, path: str, ours: Claim) -> Manifest | None:
    """Claim the commit at ``path``: None if it is ours to make, else the manifest the other claimant
    committed. Raises PublishInProgressError if that one neither commits in time nor goes stale."""
    if create_exclusive(fs, path, ours.to_json()):
        return None
    deadline = time.monotonic() + CLAIM_WAIT_SECONDS
    while True:
        theirs = parse_document(Claim, fs.cat_file(path), path=path)
        # Our own claim (a retry after a crash; also two anonymous publishers) or an abandoned one.
        if theirs.producer == ours.producer or theirs.age_seconds() > STALE_CLAIM_SECONDS:
            write_document(fs, path, ours)
            return None
        with contextlib.suppress(SnapshotNotFoundError):
            return read_manifest(fs, root, theirs.snapshot_id)
        if time.monotonic() > deadline:
            raise PublishInProgressError(
                f"snapshot {theirs.snapshot_id} of the same content was claimed by {theirs.producer} at "
                f"{theirs.claimed_at.isoformat()} ({path}) and has not committed within "
                f"{CLAIM_WAIT_SECONDS:.0f} s; "
                f"retry later (a claim older than {STALE_CLAIM_SECONDS:.0f} s is taken over)"
            )
        time.sleep(0.5)


def _check_and_summarise(
    df: pd.DataFrame, contract: Contract, *, validated: bool
) -> tuple[str, dict[str, ColumnStats]]:
    """Validate ``df`` unless ``validated`` (its ContractViolation comes first, before anything is
    written) while two threads fingerprint and summarise its columns: hashlib and NumPy's reductions
    release the GIL."""
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="publish-summary") as pool:
        hashed = pool.submit(content_fingerprint, df, contract.columns)
        summarised = pool.submit(_column_stats, df, contract.columns)
        if not validated:
            validate(df, contract)  # on a violation, the workers' own errors (e.g. a missing column) are moot
        return hashed.result(), summarised.result()


def _write_parts(
    fs: Any, folder: str, df: pd.DataFrame, columns: tuple[str, ...]
) -> tuple[ManifestFile, ...]:
    """Encode the parts on a second thread while this one uploads, hashing the bytes as they pass.

    The encoder hands bounded chunks to the uploader through a small queue, so encoding (Arrow, without the
    GIL) overlaps the upload and the bytes in flight stay a few chunks, whatever the frame's size.
    """
    spans = [(start, min(start + FILE_ROWS, len(df))) for start in range(0, max(len(df), 1), FILE_ROWS)]
    chunks = _ChunkPipe()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="publish-encode") as pool:
        encoding = pool.submit(_encode_parts, df, spans, chunks, columns)
        try:
            files = [_upload_part(fs, f"{folder}/part-{n:05d}.parquet", chunks) for n in range(len(spans))]
        except BaseException:
            chunks.abandon()  # unblocks the encoder, which then stops
            raise
        finally:
            # an encoder failure surfaces here (the uploader saw it as the end of the stream)
            encoding.result()
    return tuple(files)


def _encode_parts(
    df: pd.DataFrame, spans: list[tuple[int, int]], chunks: _ChunkPipe, columns: tuple[str, ...]
) -> None:
    arrays = {column: df[column].to_numpy() for column in columns}
    schema = _arrow_schema(columns)
    try:
        for start, stop in spans:
            with pq.ParquetWriter(chunks, schema, **PARQUET_OPTIONS) as writer:
                for low in range(start, stop, ROW_GROUP_ROWS):
                    high = min(low + ROW_GROUP_ROWS, stop)
                    batch = pa.record_batch(
                        [pa.array(arrays[column][low:high]) for column in columns], schema=schema
                    )
                    writer.write_batch(batch, row_group_size=ROW_GROUP_ROWS)
            chunks.end_part()
    except _Abandoned:
        return
    except BaseException:
        chunks.fail()
        raise


def _upload_part(fs: Any, path: str, chunks: _ChunkPipe) -> ManifestFile:
    sha256, size = hashlib.sha256(), 0
    with fs.open(path, "wb", block_size=UPLOAD_PART_BYTES) as sink:
        for chunk in chunks.part():
            sha256.update(chunk)
            size += len(chunk)
            sink.write(chunk)
    return ManifestFile(path=posixpath.basename(path), size=size, sha256=sha256.hexdigest())


class _Abandoned(Exception):
    """The uploader gave up: the encoder stops."""


class _ChunkPipe:
    """A write-only file for the encoder (Arrow calls ``write``) whose bytes the uploader iterates, part by
    part, in chunks of ``CHUNK_BYTES``; at most ``_IN_FLIGHT`` chunks wait, so memory stays bounded."""

    _IN_FLIGHT = 4
    _END, _FAILED = object(), object()

    def __init__(self) -> None:
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=self._IN_FLIGHT)
        self._buffer = bytearray()
        self._abandoned = threading.Event()
        self._written = 0
        self.closed = False

    # -- the encoder's side (a file object for pyarrow) --
    def write(self, data: bytes | bytearray | memoryview) -> int:
        view = memoryview(data)
        self._buffer += view  # copied: Arrow may reuse its buffer once write returns
        self._written += view.nbytes
        if len(self._buffer) >= CHUNK_BYTES:
            self._put(bytes(self._buffer))
            self._buffer.clear()
        return view.nbytes

    def tell(self) -> int:
        return self._written

    def flush(self) -> None:
        pass

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readable(self) -> bool:
        return False

    def close(self) -> None:
        # pyarrow closes its sink with each file; the pipe lives on for the next part
        pass

    def end_part(self) -> None:
        """The current part is complete."""
        if self._buffer:
            self._put(bytes(self._buffer))
            self._buffer.clear()
        self._written = 0
        self._put(self._END)

    def fail(self) -> None:
        """The encoder failed: the uploader stops at once (the error is raised from the encoder's future)."""
        with contextlib.suppress(_Abandoned):
            self._put(self._FAILED)

    def _put(self, item: Any) -> None:
        while True:
            if self._abandoned.is_set():
                raise _Abandoned
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    # -- the uploader's side --
    def part(self) -> Iterator[bytes]:
        """The chunks of the next part; raises if the encoder failed."""
        while (item := self._queue.get()) is not self._END:
            if item is self._FAILED:
                raise _Abandoned("the encoder failed")
            yield item

    def abandon(self) -> None:
        self._abandoned.set()


def _write_manifest(fs: Any, folder: str, manifest: Manifest) -> None:
    write_document(fs, f"{folder}/{MANIFEST_NAME}", manifest)


def _column_stats(df: pd.DataFrame, columns: tuple[str, ...]) -> dict[str, ColumnStats]:
    stats = {}
    for column in columns:
        values = df[column].to_numpy()
        low, high = float(values.min()), float(values.max())
        if math.isnan(low):  # NaN propagates into min: only then pay for the NaN-aware (copying) passes
            low, high = float(np.nanmin(values)), float(np.nanmax(values))
            mean, nulls = float(np.nanmean(values)), int(np.isnan(values).sum())
        else:
            mean, nulls = float(values.mean()), 0
        stats[column] = ColumnStats(min=low, max=high, mean=mean, null_count=nulls)
    return stats


def read_snapshot(
    uri: str = LATEST.uri,
    snapshot_id: str | None = None,
    *,
    contract: Contract | None = None,
    storage_options: dict[str, Any] | None = None,
) -> Snapshot:
    """Read, verify and validate one committed snapshot (when ``snapshot_id`` is None, the newest readable
    one: newer corrupt or foreign manifests are skipped and logged, see
    :mod:`~housing_contracts.lake.catalog`; a named one that is bad raises).

    Each file's size and sha256, the row count and the content fingerprint are checked against the
    manifest: any mismatch is a :class:`SnapshotIntegrityError`, never a wrong frame. The frame is
    validated against the contract the manifest names; :class:`IncompatibleContractError` if that is no
    released major, or not ``contract``'s major when one is given. A deprecated snapshot logs a warning.
    """
    uri = str(uri).rstrip("/")
    fs, root = resolve(uri, storage_options)
    if snapshot_id is None:
        # readable as the dataset's own (another major than ``contract`` is refused below, by name)
        newest, skipped = newest_readable_snapshot(fs, root)
        if newest is None and skipped:
            why = "; ".join(skip.text() for skip in skipped)
            raise SnapshotNotFoundError(f"no readable committed snapshot under {uri}; skipped: {why}")
        if newest is None:
            raise SnapshotNotFoundError(f"no committed snapshot under {uri}")
        manifest, snapshot_id = newest, newest.snapshot_id
    elif not SNAPSHOT_ID_PATTERN.match(snapshot_id):
        raise SnapshotNotFoundError(f"{snapshot_id!r} is not a snapshot id (YYYYMMDDTHHMMSS.ffffffZ-<8 hex>)")
    else:
        manifest = read_named_manifest(fs, root, snapshot_id)
    written = contract_of(manifest.contract.name, manifest.contract.version)
    # a dataset of a known major (…/california_housing/v1) holds only that major: another is foreign
    wanted = contract or contract_for(uri)
    if written is None or (wanted is not None and written.major != wanted.major):
        expected = wanted.label if wanted else ", ".join(c.label for c in CONTRACTS)
        raise IncompatibleContractError(
            f"snapshot {snapshot_id} was written under contract {manifest.contract.name} "
            f"{manifest.contract.version}; this reader expects {expected} (the same major)"
        )
    if manifest.deprecation:
        log.warning(
            "snapshot %s of %s is deprecated: sunset %s, successor %s. Subscribe to the successor before "
            "the sunset; the producer stops publishing this version then",
            snapshot_id,
            written.label,
            manifest.deprecation.get("sunset"),
            manifest.deprecation.get("successor_uri"),
        )
    started = time.perf_counter()
    frame = _read_verified(fs, f"{root}/{SNAPSHOTS_DIR}/{snapshot_id}", manifest, written.columns)
    validate(frame, written)
    # one line per read: the bench counts reads per task from it
    log.info(
        "read snapshot %s: %d files, %d bytes, %d rows in %.2f s",
        snapshot_id,
        len(manifest.files),
        sum(entry.size for entry in manifest.files),
        manifest.row_count,
        time.perf_counter() - started,
    )
    return Snapshot(frame=frame, manifest=manifest, contract=written)


def _read_verified(fs: Any, folder: str, manifest: Manifest, columns: tuple[str, ...]) -> pd.DataFrame:
    """Download, verify and load the parts, overlapping three streams of work on their own threads: the
    next file downloads (and is hashed) while this one is decoded, and the content fingerprint follows the
    decoded row groups in order. Parquet is only parsed from a copy whose size and sha256 were verified."""
    sid = manifest.snapshot_id
    for entry in manifest.files:
        if "/" in entry.path or "\\" in entry.path or entry.path in ("", ".", ".."):
            raise SnapshotIntegrityError(
                f"snapshot {sid}: file path {entry.path!r} leaves the snapshot folder"
            )
    rows = manifest.row_count
    try:
        # np.empty only reserves address space: a doctored row_count fails the row check below, or here
        arrays = {column: np.empty(rows, dtype=np.float64) for column in columns}
    except (MemoryError, ValueError):
        raise SnapshotIntegrityError(f"snapshot {sid}: manifest row_count {rows} cannot be held") from None
    hasher = ContentHasher(columns)
    with (
        tempfile.TemporaryDirectory(prefix="housing-snapshot-") as scratch,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="snapshot-download") as downloader,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="snapshot-fingerprint") as fingerprinter,
    ):
        # one worker each: downloads run in file order, hash updates in row order
        downloads = [
            downloader.submit(
                _download_verified, fs, folder, entry, os.path.join(scratch, f"{n:05d}.parquet"), sid
            )
            for n, entry in enumerate(manifest.files)
        ]
        try:
            updates, offset = [], 0
            for entry, download in zip(manifest.files, downloads, strict=True):
                parquet = _open_parquet(download.result(), entry.path, sid, columns)
                if offset + parquet.metadata.num_rows > rows:
                    _raise_row_count(manifest, downloads)
                for group in range(parquet.num_row_groups):
                    table = parquet.read_row_group(group, columns=list(columns))
                    stop = offset + table.num_rows
                    for column in columns:
                        arrays[column][offset:stop] = table.column(column).to_numpy()
                    batch = {column: arrays[column][offset:stop] for column in columns}
                    updates.append(fingerprinter.submit(hasher.update, batch))
                    offset = stop
            if offset != rows:
                _raise_row_count(manifest, downloads)
            for update in updates:
                update.result()
        finally:
            for download in downloads:
                download.cancel()
    if hasher.hexdigest() != manifest.content_fingerprint:
        raise SnapshotIntegrityError(
            f"snapshot {sid}: content fingerprint of the data {hasher.hexdigest()} differs from the "
            f"manifest's {manifest.content_fingerprint}"
        )
    return pd.DataFrame(arrays, columns=list(columns), copy=False)


def _raise_row_count(manifest: Manifest, downloads: list[Future[str]]) -> NoReturn:
    held = sum(pq.ParquetFile(download.result()).metadata.num_rows for download in downloads)
    raise SnapshotIntegrityError(
        f"snapshot {manifest.snapshot_id}: manifest row_count {manifest.row_count}, files hold {held} rows"
    )


def _download_verified(fs: Any, folder: str, entry: ManifestFile, local_path: str, sid: str) -> str:
    """Copy one part to ``local_path`` and check its size and sha256 against the manifest."""
    with open(local_path, "wb") as local:
        try:
            size, sha256 = copy_verified(fs, f"{folder}/{entry.path}", local)
        except FileNotFoundError:
            raise SnapshotIntegrityError(f"snapshot {sid}: file {entry.path} is missing") from None
    if (size, sha256) != (entry.size, entry.sha256):
        raise SnapshotIntegrityError(
            f"snapshot {sid}: file {entry.path} expected size {entry.size} sha256 {entry.sha256}, "
            f"found size {size} sha256 {sha256}"
        )
    return local_path


def _open_parquet(path: str, name: str, sid: str, columns: tuple[str, ...]) -> pq.ParquetFile:
    """Open a verified local Parquet file and check it has the contract's float64 columns."""
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise SnapshotIntegrityError(f"snapshot {sid}: file {name} is not readable Parquet: {exc}") from None
    found = parquet.schema_arrow
    if set(found.names) != set(columns) or any(found.field(c).type != pa.float64() for c in columns):
        raise SnapshotIntegrityError(
            f"snapshot {sid}: file {name} has columns {found.names} of types {found.types}, "
            f"expected float64 columns {list(columns)}"
        )
    return parquet
