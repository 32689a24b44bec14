"""Where this deployment's alerts go: the one list of failure callbacks every DAG uses.

An alert is a failed task in the Airflow UI. To also send it somewhere, add Airflow notifiers (e.g. a
``SlackNotifier`` or ``SmtpNotifier``) to :data:`ALERT_CALLBACKS`. Standard library only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: Called with the task's context when a task fails for good (after its last try). Empty: the failed task
#: is the alert, seen in the UI.
ALERT_CALLBACKS: list[Callable[[Any], None]] = []


def on_failure_callbacks(*first: Callable[[Any], None]) -> list[Callable[[Any], None]]:
    """A DAG's ``on_failure_callback`` list: its own callbacks ``first`` (e.g. a receipt), then the alerts."""
    return [*first, *ALERT_CALLBACKS]
