"""Where this deployment's alerts go: the one list of failure callbacks every alerting DAG uses.

An alert is a failed task in the Airflow UI (``housing_consumer_lag.check_consumer_lag``). To also send
it somewhere, add Airflow notifiers to :data:`ALERT_CALLBACKS` (data-team/README.md, "Alerts", shows
Slack and e-mail); the DAG files pick the list up when they are parsed. Standard library only, so that
DAG files import it at parse time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: Called with the task's context when a task of an alerting DAG fails for good (after its last try).
#: Empty: the failed task is the alert, seen in the UI. Add e.g. a ``SlackNotifier`` or ``SmtpNotifier``.
ALERT_CALLBACKS: list[Callable[[Any], None]] = []


def on_failure_callbacks(*first: Callable[[Any], None]) -> list[Callable[[Any], None]]:
    """A DAG's ``on_failure_callback`` list: its own callbacks ``first``, then the alerts."""
    return [*first, *ALERT_CALLBACKS]
