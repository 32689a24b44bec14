"""The one record type of every JSON document in the lake: a strict pydantic dataclass tagged ``format``.

Standard library and pydantic only: the triggerer, the CLI and the producer's UI plugin import it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Annotated, Any, ClassVar, Self, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)

from housing_contracts.lake.layout import SNAPSHOT_ID_PATTERN
from housing_contracts.lake.storage import write_atomic


def _from_seconds(value: Any) -> Any:
    """JSON carries a duration as a number of seconds (a bool is no number here)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return value
    try:
        return timedelta(seconds=value)
    except OverflowError:
        raise ValueError(f"{value} seconds is out of range") from None


SnapshotId = Annotated[str, StringConstraints(pattern=SNAPSHOT_ID_PATTERN.pattern)]
#: A timezone-aware time, kept in UTC; ``datetime.isoformat()`` in JSON.
UtcTime = Annotated[
    AwareDatetime,
    AfterValidator(lambda time: time.astimezone(UTC)),
    PlainSerializer(datetime.isoformat, when_used="json"),
]
#: A duration; a number of seconds in JSON.
Duration = Annotated[timedelta, PlainSerializer(timedelta.total_seconds, when_used="json")]
Promise = Annotated[Duration, BeforeValidator(_from_seconds), Field(gt=timedelta(0))]

# Strict: a JSON string is no number, nor a number a time; unknown fields are refused. Durations travel
# under their JSON name (max_lag_seconds) but keep their Python name in the constructor.
STRICT = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False, validate_by_name=True)


class Record:
    """A JSON document of the lake as a strict pydantic dataclass: :meth:`to_json` is the one way it is
    written, :meth:`from_dict` / :meth:`from_json` the one way it is read (:func:`read_document` names
    the file it came from).

    ``FORMAT`` tags the document (``"format"``, first key), so a reader refuses someone else's file;
    None for the manifest and the claim, which housing-contracts 2.0.0 wrote untagged and still writes
    so (2.0.0 readers take them as they are).
    """

    FORMAT: ClassVar[str | None]
    #: What a malformed document raises (a :class:`ValueError` unless a record says otherwise).
    ERROR: ClassVar[type[Exception]] = ValueError

    def to_dict(self) -> dict[str, Any]:
        """The JSON document: ``format`` first, durations in seconds, times in ISO 8601."""
        body = adapter(type(self)).dump_python(self, mode="json", by_alias=True)
        return body if self.FORMAT is None else {"format": self.FORMAT} | body

    def to_json(self) -> bytes:
        """The document's bytes as the lake holds them: indented JSON, one trailing newline."""
        return (json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n").encode()

    @classmethod
    def from_dict(cls, data: Any) -> Self:
        """Parse :meth:`to_dict`'s document; :attr:`ERROR` names the missing, unknown or bad field."""
        kind = cls.__name__.lower()
        if not isinstance(data, dict):
            raise cls.ERROR(f"{kind} must be a JSON object, got {type(data).__name__}")
        if cls.FORMAT is not None and data.get("format") != cls.FORMAT:
            raise cls.ERROR(f"{kind}: field 'format': expected {cls.FORMAT!r}, got {data.get('format')!r}")
        try:
            # validated as JSON: times are ISO 8601 strings there, durations numbers of seconds
            fields = {name: value for name, value in data.items() if name != "format" or cls.FORMAT is None}
            document = json.dumps(fields, allow_nan=False)
            return adapter(cls).validate_json(document, by_alias=True, by_name=False)
        except (TypeError, ValueError) as exc:
            raise cls.ERROR(_message(kind, exc)) from None

    @classmethod
    def from_json(cls, content: str | bytes) -> Self:
        """Parse a document's bytes (:meth:`to_json`'s, or 2.0.0's); :attr:`ERROR` says what is wrong."""
        try:
            data = json.loads(content)
        except ValueError as exc:
            raise cls.ERROR(f"not valid JSON: {exc}") from None
        return cls.from_dict(data)


R = TypeVar("R", bound=Record)


def parse_document(kind: type[R], content: str | bytes, *, path: str) -> R:
    """``content`` (the bytes of the file at ``path``) as a ``kind``; its :attr:`~Record.ERROR` starts with
    the file's path."""
    try:
        return kind.from_json(content)
    except kind.ERROR as exc:
        raise kind.ERROR(f"{path}: {exc}") from None


def read_document(fs: Any, path: str, kind: type[R]) -> R | None:
    """The ``kind`` document at ``path`` on ``fs``, or None if there is no such file. A malformed one raises
    ``kind.ERROR`` naming the file; other storage errors propagate."""
    try:
        content = fs.cat_file(path)
    except FileNotFoundError:
        return None
    return parse_document(kind, content, path=path)


def write_document(fs: Any, path: str, record: Record) -> None:
    """Write ``record`` to ``path`` atomically: a reader sees the old document or the new one, whole."""
    write_atomic(fs, path, record.to_json())


@cache
def adapter(kind: type) -> TypeAdapter[Any]:
    return TypeAdapter(kind)


def _message(kind: str, exc: Exception) -> str:
    """One line naming each bad field (pydantic's own text spans lines and links to its docs)."""
    if not isinstance(exc, ValidationError):
        return f"{kind} is not a JSON document: {exc}"
    problems = []
    for error in exc.errors(include_url=False):
        where = f"field {'.'.join(map(str, error['loc']))!r}: " if error["loc"] else ""
        if error["type"] == "value_error":  # raised by a check here: its message names the value
            problems.append(f"{where}{error['ctx']['error']}")
        elif error["type"] == "unexpected_keyword_argument":
            problems.append(f"{where}unknown field")
        elif error["type"] == "missing":
            problems.append(f"{where}missing")
        else:
            problems.append(f"{where}{error['msg']}, got {error['input']!r}")
    return f"{kind}: {'; '.join(problems)}"
