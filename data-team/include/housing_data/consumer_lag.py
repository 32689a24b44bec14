"""The check behind ``housing_consumer_lag``: every subscribed consumer's lag against its own promise, in
every published version of the dataset."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

log = logging.getLogger(__name__)


def check_consumers(
    dataset_uris: Sequence[str], *, storage_options: dict[str, Any] | None, now: datetime | None = None
) -> dict[str, list[dict[str, Any]]]:
    """The consumers of each of ``dataset_uris`` as ``ConsumerLag.to_dict()`` rows, by URI, after logging
    each dataset's table.

    Every dataset is checked before anything is raised, so one alert names every broken promise: a
    ``PromiseBroken`` whose message joins each dataset's (the dataset, every lagging consumer with its lag,
    promise and last outcome). Storage errors propagate, for the retry policy.
    """
    from housing_contracts.consumers.freshness import check_consumer_lag
    from housing_contracts.consumers.lag import format_consumers
    from housing_contracts.contract.errors import PromiseBroken

    found: dict[str, list[dict[str, Any]]] = {}
    broken: list[str] = []
    for uri in dataset_uris:
        try:
            rows = check_consumer_lag(uri, now=now, storage_options=storage_options)
        except PromiseBroken as err:
            broken.append(str(err))
            continue
        found[uri] = [row.to_dict() for row in rows]
        if rows:
            log.info("every consumer of %s keeps its promise:\n%s", uri, format_consumers(rows))
        else:
            log.info("no consumer subscribes to %s", uri)
    if broken:
        raise PromiseBroken(" | ".join(broken))
    return found
