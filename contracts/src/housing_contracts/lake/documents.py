"""The one record type of every JSON document in the lake: a strict pydantic dataclass tagged ``format``.

Standard library and pydantic only: the triggerer, the CLI and the producer's UI plugin import it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Annotated, Any, ClassVar, Self

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
    """``to_dict()`` / ``from_dict()`` of a record dataclass: its JSON document, tagged ``format``."""

    FORMAT: ClassVar[str]

    def to_dict(self) -> dict[str, Any]:
        """The JSON document: ``format`` first, durations in seconds, times in ISO 8601."""
        return {"format": self.FORMAT} | adapter(type(self)).dump_python(self, mode="json", by_alias=True)

    @classmethod
    def from_dict(cls, data: Any) -> Self:
        """Parse :meth:`to_dict`'s document; ValueError names the missing, unknown or bad field."""
        kind = cls.__name__.lower()
        if not isinstance(data, dict):
            raise ValueError(f"{kind} must be a JSON object, got {type(data).__name__}")
        if data.get("format") != cls.FORMAT:
            raise ValueError(f"{kind}: field 'format': expected {cls.FORMAT!r}, got {data.get('format')!r}")
        try:
            # validated as JSON: times are ISO 8601 strings there, durations numbers of seconds
            document = json.dumps(
                {name: value for name, value in data.items() if name != "format"}, allow_nan=False
            )
            return adapter(cls).validate_json(document, by_alias=True, by_name=False)
        except (TypeError, ValueError) as exc:
            raise ValueError(_message(kind, exc)) from None


@cache
def adapter(kind: type) -> TypeAdapter[Any]:
    return TypeAdapter(kind)


def _message(kind: str, exc: Exception) -> str:
    """One line naming each bad field (pydantic's own text spans lines and links to its docs)."""
    if not isinstance(exc, ValidationError):
        return f"{kind} is not a JSON document: {exc}"
    problems = []
    for error in exc.errors(include_url=False):
        where = f"field {error['loc'][0]!r}: " if error["loc"] else ""
        if error["type"] == "value_error":  # raised by a check here: its message names the value
            problems.append(f"{where}{error['ctx']['error']}")
        elif error["type"] == "unexpected_keyword_argument":
            problems.append(f"{where}unknown field")
        elif error["type"] == "missing":
            problems.append(f"{where}missing")
        else:
            problems.append(f"{where}{error['msg']}, got {error['input']!r}")
    return f"{kind}: {'; '.join(problems)}"
