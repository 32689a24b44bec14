"""The check behind ``housing_consumer_lag``: every subscribed consumer's lag against its own promise."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

log = logging.getLogger(__name__)


def check_consumers(
    dataset_uri: str, *, storage_options: dict[str, Any] | None, now: datetime | None = None
) -> list[dict[str, Any]]:
    """The consumers of ``dataset_uri`` as ``ConsumerLag.to_dict()`` rows, after logging their table.

    Raises ``PromiseBroken`` when a consumer lags beyond its own promise: its message (the dataset, every
    lagging consumer with its lag, promise and last outcome) is the alert. Storage errors propagate, for
    the retry policy.
    """
    from housing_contracts.consumers import format_consumers
    from housing_contracts.freshness import check_consumer_lag

    rows = check_consumer_lag(dataset_uri, now=now, storage_options=storage_options)
    if rows:
        log.info("every consumer of %s keeps its promise:\n%s", dataset_uri, format_consumers(rows))
    else:
        log.info("no consumer subscribes to %s", dataset_uri)
    return [row.to_dict() for row in rows]
